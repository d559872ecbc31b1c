"""Catalog use cases: list and change products, search the network's catalog."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import eventlet

from shared.aggregate import DomainError
from shared.application import CommandContext
from shared.envelope import derived_id, utc_now
from shared.projection import documents, read_model
from shared.store_connection import is_ferretdb
from shared.validation import validated

from .domain import Cooperative, Product
from .projections import CATALOG, DISSOLVED, CatalogTerm, ProductRow
from .schemas import CatalogQuerySchema, ChangeProductSchema, ListProductSchema
from .search import FILTER_INDEXES, TEXT_INDEX_KEYS, TEXT_INDEX_OPTIONS, decode_postings, search, text_query

PARALLEL_LOOKUPS = 10
ITEM_FIELDS = ("id", "cooperative_id", "seller_name", "seller_regency", "name", "category", "unit", "price",
               "description", "halal_certificate", "opop")


class CatalogUseCases:
    def __init__(self, app: Any, database: Any, cooperative: Callable[[str, str], Cooperative]):
        self.app, self.database, self.cooperative = app, database, cooperative

    def list_product(self, cooperative_id: str, data: Any, context: dict | None) -> dict[str, Any]:
        fields = validated(ListProductSchema, data)
        command = CommandContext.from_wire(context)
        seller = self.cooperative(cooperative_id, "cooperative_id")
        product_id = derived_id("networking-product", command.command_id)
        outcome = self.app.execute(Product, product_id,
                                   lambda p: p.list(seller=seller, now=utc_now(), **fields), command)
        return outcome.aggregate.to_dict()

    def change_product(self, cooperative_id: str, product_id: str, data: Any, context: dict | None
                       ) -> dict[str, Any]:
        fields = validated(ChangeProductSchema, data)
        product = self.product(cooperative_id, product_id)
        if product.delisted:
            raise DomainError("product_delisted", f"product {product_id} is delisted")
        outcome = self.app.execute(Product, product_id, lambda p: p.change(
            price=fields.get("price"), stock_added=fields.get("stock_added"),
            delisted=fields.get("delisted")),
            CommandContext.from_wire(context))
        return outcome.aggregate.to_dict()

    def get_product(self, cooperative_id: str, product_id: str) -> dict[str, Any]:
        return self.product(cooperative_id, product_id).to_dict()

    def product(self, cooperative_id: str, product_id: str) -> Product:
        product = self.app.load(Product, product_id, fresh=True)
        if not product.exists or product.cooperative_id != cooperative_id:
            raise DomainError("not_found", f"product {product_id} does not exist")
        return product

    def search(self, query: Any) -> dict[str, Any]:
        """One page of hits; `next` is the offset of the following page (opaque to clients)."""
        filters = validated(CatalogQuerySchema, query)
        start, limit = _offset(filters["cursor"]), filters["limit"]
        terms = documents(self.database, CatalogTerm, CATALOG).as_pymongo()
        dissolved = set((terms.filter(pk=DISSOLVED).first() or {}).get("ids", {}))
        if _has_text_index(self.database):  # $text: a query of pymongo's own
            collection = read_model(self.database, CATALOG, "products")
            return _text_page(collection, filters, dissolved, start, limit)
        products = documents(self.database, ProductRow, CATALOG).as_pymongo()
        cache: dict[str, dict[str, int]] = {}

        def postings(term: str) -> dict[str, int]:
            if term not in cache:
                cache[term] = decode_postings((terms.filter(pk=term).first() or {}).get("ids"))
            return cache[term]

        hits = search(filters, postings, dissolved)
        page = hits[start:start + limit]
        # one lookup by _id per item, side by side: `$in` would scan the catalog on FerretDB v1
        pool = eventlet.GreenPool(PARALLEL_LOOKUPS)
        lookups = pool.imap(lambda pid: products.filter(pk=pid).first(), page)
        found = {doc["_id"]: doc for doc in lookups if doc}
        items = [_item(found[pid]) for pid in page if pid in found]
        more = start + limit < len(hits)
        return {"items": items, "next": _encode(start + limit) if more else None}


def _item(doc: dict[str, Any]) -> dict[str, Any]:
    return {**{key: doc.get(key) for key in ITEM_FIELDS}, "stock_available": doc["available"]}


_text_store: dict[int, tuple[Any, bool]] = {}  # id(client) -> (client, answers $text)
_indexed: set[str] = set()  # products collections (one per generation) given their indexes


def _has_text_index(database: Any) -> bool:
    """True on MongoDB; FerretDB v1 has no text index (asked once per client: one buildInfo)."""
    client = database.client
    known = _text_store.get(id(client))
    if known is None or known[0] is not client:
        known = _text_store[id(client)] = (client, not is_ferretdb(database))
    return known[1]


def _text_page(products: Any, filters: dict[str, Any], dissolved: set[str], start: int, limit: int
               ) -> dict[str, Any]:
    """One page from MongoDB's text index (search.text_query builds the query)."""
    if products.full_name not in _indexed:  # a rebuild's new generation needs them too
        products.create_index(TEXT_INDEX_KEYS, **TEXT_INDEX_OPTIONS)
        for field in FILTER_INDEXES:
            products.create_index(field)
        _indexed.add(products.full_name)
    built = text_query(filters, dissolved)
    if built is None:
        return {"items": [], "next": None}
    query, sort = built
    projection = {"score": {"$meta": "textScore"}} if "$text" in query else None
    docs = list(products.find(query, projection).sort(sort).skip(start).limit(limit + 1))
    more = len(docs) > limit
    return {"items": [_item(doc) for doc in docs[:limit]], "next": _encode(start + limit) if more else None}


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith("o:") and text[2:].isdigit():
            return int(text[2:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise DomainError("validation_error", "invalid cursor", {"cursor": ["invalid cursor"]})
