"""Read models: the catalog (products and the search index of search.py), orders, partnerships.

Each document's new state depends only on the event and that document's own state (the
kernel's rule): a product event rewrites the product's document and, when the product is
listed or delisted, the term documents it is in.
"""
from __future__ import annotations

from typing import Any

from mongoengine import BooleanField, DictField, IntField, ListField, StringField

from shared.envelope import Envelope
from shared.projection import Projection, ReadModel, View

from .search import decode_postings, encode_postings, product_terms, product_words

CATALOG, ORDERS, PARTNERSHIPS = "catalog", "order_list", "partnership_list"
DISSOLVED = "dissolved"  # the catalog_terms document listing dissolved sellers
_STOCK = {"networking.StockReserved": -1, "networking.StockReleased": 1, "networking.StockSold": 0}


class ProductRow(ReadModel):
    """A listed product as ProductListed had it (without `stock`), its stock and whether delisted."""

    meta = {"collection": "products"}
    cooperative_id = StringField()
    seller_name = StringField()
    seller_regency = StringField()
    name = StringField()
    category = StringField()
    unit = StringField()
    price = IntField()
    description = StringField()
    halal_certificate = StringField(null=True)
    opop = BooleanField()
    on_hand = IntField()
    available = IntField()
    delisted = BooleanField()


class CatalogTerm(ReadModel):
    """A search term (or DISSOLVED): product id (or seller id) -> weight."""

    meta = {"collection": "catalog_terms"}
    ids = DictField()


class OrderRow(ReadModel):
    meta = {"collection": "orders",
            "indexes": ["seller_cooperative_id", ("buyer_cooperative_id", "buyer_member_id")]}
    buyer = DictField()
    seller_cooperative_id = StringField()
    buyer_cooperative_id = StringField()
    buyer_member_id = StringField(null=True)
    lines = ListField(DictField())
    total = IntField()
    payment = StringField()
    status = StringField()
    history = ListField(DictField())
    failure = DictField(null=True)


class PartnershipRow(ReadModel):
    meta = {"collection": "partnerships", "indexes": ["party_keys"]}
    title = StringField()
    parties = ListField(DictField())
    signed = ListField(DictField())
    party_keys = ListField(StringField())  # "cooperative_id:<id>" / "partner_id:<id>" of each party
    feed_entitled = BooleanField()
    starts_on = StringField()
    ends_on = StringField(null=True)
    status = StringField()
    activated_on = StringField(null=True)
    ended_on = StringField(null=True)


class Catalog(Projection):
    name = CATALOG
    collections = ("products", "catalog_terms")
    documents = (ProductRow, CatalogTerm)
    handles = frozenset({"networking.ProductListed", "networking.ProductPriceChanged",
                         "networking.ProductStockAdded", "networking.ProductDelisted",
                         "networking.CooperativeDissolutionRecorded", *_STOCK})

    def handle(self, event: Envelope, view: View) -> None:
        data, kind = event.payload, event.event_type
        if kind == "networking.CooperativeDissolutionRecorded":
            doc = view.get("catalog_terms", DISSOLVED) or {"ids": {}}
            view.put("catalog_terms", DISSOLVED, {"ids": {**doc["ids"], event.stream_id: 1}})
            return
        if kind == "networking.ProductListed":
            product = {key: value for key, value in data.items() if key != "stock"}
            product.update(id=data["product_id"], on_hand=data["stock"], available=data["stock"],
                           delisted=False, words=product_words(data))  # for MongoDB's $text search
            view.create("products", data["product_id"], product)
            self._index(view, product, add=True)
            return
        stored = view.get("products", data["product_id"])
        if stored is None:
            return
        product = stored
        if kind == "networking.ProductPriceChanged":
            product["price"] = data["price"]
        elif kind == "networking.ProductStockAdded":
            product["on_hand"] += data["quantity"]
            product["available"] += data["quantity"]
        elif kind == "networking.ProductDelisted":
            product["delisted"] = True
            self._index(view, product, add=False)
        elif kind == "networking.StockSold":
            product["on_hand"] -= data["quantity"]
        else:
            product["available"] += _STOCK[kind] * data["quantity"]
        view.put("products", data["product_id"], product)

    @staticmethod
    def _index(view: View, product: dict[str, Any], add: bool) -> None:
        for term, weight in product_terms(product).items():
            ids = decode_postings((view.get("catalog_terms", term) or {}).get("ids"))
            if add:
                ids[product["id"]] = weight
            else:
                ids.pop(product["id"], None)
            view.put("catalog_terms", term, {"ids": encode_postings(ids)})


class OrderList(Projection):
    """Orders with their parties, for the parties' lists."""

    name = ORDERS
    collections = ("orders",)
    documents = (OrderRow,)
    handles = frozenset({f"networking.Order{step}" for step in (
        "Placed", "Confirmed", "Shipped", "Delivered", "Cancelled", "Settled", "Failed")})

    def handle(self, event: Envelope, view: View) -> None:
        if event.stream_type != "Order":
            return  # the buyer's copy of a settlement (Purchase) is no order of its own
        data = event.payload
        status = event.event_type.split(".Order", 1)[1].lower()
        if status == "placed":
            buyer = data["buyer"]
            view.create("orders", data["order_id"], {
                "id": data["order_id"], "buyer": buyer,
                "seller_cooperative_id": data["seller_cooperative_id"],
                "buyer_cooperative_id": buyer["cooperative_id"], "buyer_member_id": buyer.get("member_id"),
                "lines": data["lines"], "total": data["total"], "payment": data["payment"],
                "status": "placed", "history": [{"status": "placed", "at": data["at"]}], "failure": None})
            return
        order = view.get("orders", data["order_id"])
        if order is None:
            return
        order["status"] = status
        order["history"] = [*order["history"], {"status": status, "at": data["at"]}]
        if status == "failed":
            order["failure"] = {"code": data["code"], "reason": data["reason"]}
        view.put("orders", data["order_id"], order)


class PartnershipList(Projection):
    name = PARTNERSHIPS
    collections = ("partnerships",)
    documents = (PartnershipRow,)
    handles = frozenset({f"networking.Partnership{step}"
                         for step in ("Proposed", "Signed", "Activated", "Ended")})

    def handle(self, event: Envelope, view: View) -> None:
        data = event.payload
        if event.event_type == "networking.PartnershipProposed":
            view.create("partnerships", data["partnership_id"], {
                "id": data["partnership_id"], "title": data["title"], "parties": data["parties"],
                "signed": [],
                "party_keys": [f"{k}:{v}" for party in data["parties"] for k, v in party.items()],
                "feed_entitled": data["feed_entitled"], "starts_on": data["starts_on"],
                "ends_on": data["ends_on"],
                "status": "proposed", "activated_on": None, "ended_on": None})
            return
        doc = view.get("partnerships", data["partnership_id"])
        if doc is None:
            return
        if event.event_type == "networking.PartnershipSigned":
            doc["signed"] = [*doc["signed"], data["party"]]
        elif event.event_type == "networking.PartnershipActivated":
            doc.update(status="active", activated_on=data["activated_on"])
        else:
            doc.update(status="ended", ended_on=data["ended_on"])
        view.put("partnerships", data["partnership_id"], doc)


PROJECTIONS = [Catalog, OrderList, PartnershipList]
