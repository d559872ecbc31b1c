"""Catalog search over 10,000 products (issue 12): p50 and p95 of `GET /catalog`'s use case.

The read model is built the way a rebuild builds it — networking's own Catalog projection applied
to ProductListed events, its documents then inserted in bulk — not through HTTP, so it takes
seconds. The search then runs through CatalogUseCases.search (what the RPC answers), on whichever
store MONGODB_URI names: the word index on FerretDB, `$text` on MongoDB. The raw baseline, on the
same collection in the same run, is one find by `_id` of a product document: a search reads a few
term documents and one product per item of the page, so its cost is a small multiple of it
whatever the catalog's size.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from services.networking.catalog import CatalogUseCases
from services.networking.projections import CATALOG, Catalog
from services.networking.search import STOPWORDS
from shared.envelope import Envelope, derived_id
from shared.eventstore import connect
from shared.read_models import read_model
from shared.view import View, apply_events

PRODUCTS = 10_000
COOPERATIVES = 200
SEARCHES = 300
PAGE = 20
REGENCIES = ["kabupaten-bandung", "kabupaten-garut", "kota-tasikmalaya", "kabupaten-cianjur", "kota-bogor",
             "kabupaten-sumedang", "kota-depok", "kabupaten-kuningan", "kota-cirebon", "kabupaten-subang"]
# (category, name words, description words): Indonesian product text
KINDS = [
    ("coffee", ["kopi", "arabika", "robusta", "preanger", "luwak", "bubuk", "sangrai"],
     ["biji", "pilihan", "petik", "merah", "gunung", "manglayang", "papandayan"]),
    ("food_drink", ["keripik", "singkong", "dodol", "rengginang", "sambal", "teh", "madu", "gula", "aren"],
     ["renyah", "pedas", "manis", "legit", "tanpa", "pengawet", "asli"]),
    ("fashion", ["batik", "tulis", "cap", "kemeja", "kerudung", "sarung", "kain"],
     ["katun", "motif", "garutan", "mega", "mendung", "halus"]),
    ("crafts", ["anyaman", "bambu", "tas", "pandan", "sabun", "santri", "ukiran", "kayu"],
     ["buatan", "tangan", "pesantren", "awet", "ramah", "lingkungan"]),
    ("agriculture", ["beras", "pandan", "wangi", "jagung", "cabai", "bawang", "pupuk", "organik"],
     ["panen", "baru", "petani", "lokal", "segar"]),
    ("accessories", ["gelang", "kalung", "cincin", "dompet", "kulit", "domba"], ["asli", "garut", "jahit"]),
    ("services", ["jasa", "angkut", "servis", "cuci", "sablon"], ["cepat", "murah", "bergaransi"]),
    ("other", ["paket", "hampers", "parsel", "lebaran"], ["isi", "lengkap", "hadiah"]),
]
# What buyers type (and filter by), in the proportions a catalog sees: words, words in a place,
# a category to browse, certified-halal food.
QUERIES: list[dict[str, Any]] = [
    {"q": "kopi arabika"}, {"q": "keripik pedas"}, {"q": "batik tulis", "regency": "kabupaten-garut"},
    {"q": "sabun santri", "opop": True}, {"q": "madu"}, {"category": "coffee"},
    {"category": "food_drink", "halal": True}, {"q": "beras organik", "category": "agriculture"},
    {"regency": "kota-bogor", "category": "crafts"}, {"q": "tas anyaman bambu"},
]


def _listed(n: int, rng: random.Random) -> Envelope:
    category, names, descriptions = KINDS[n % len(KINDS)]
    seller = n // 3 % COOPERATIVES  # not in step with the category (n % 8)
    cooperative = f"bench-coop-{seller}"
    name = " ".join(rng.sample(names, 3)).title()
    description = " ".join(rng.sample(descriptions, 3)) + " " + rng.choice(sorted(STOPWORDS))
    product_id = derived_id("bench-product", str(n))
    payload = {"product_id": product_id, "cooperative_id": cooperative, "name": name, "category": category,
               "unit": "pcs", "price": 1000 + n, "stock": 10, "description": description,
               "halal_certificate": f"ID32{n:06d}" if category == "food_drink" and n % 3 else None,
               "opop": seller < 20 and category == "crafts", "seller_name": f"Koperasi {cooperative}",
               "seller_regency": REGENCIES[seller % len(REGENCIES)], "listed_at": "2024-05-01T00:00:00Z"}
    return Envelope(event_id=derived_id("bench-event", str(n)), event_type="networking.ProductListed",
                    schema_version=1, stream_type="Product", stream_id=product_id, stream_version=1,
                    position=n + 1, occurred_at="2024-05-01T00:00:00Z", cooperative_id=cooperative,
                    correlation_id="bench", causation_id=None, payload=payload)


def build_catalog(database: Any, count: int = PRODUCTS) -> list[str]:
    """The Catalog read model of `count` listed products (as shared.rebuild writes one); their ids."""
    rng = random.Random(12)
    events = [_listed(n, rng) for n in range(count)]
    view = View(lambda collection, doc_id: None)
    apply_events(Catalog(), events, view)
    by_collection: dict[str, list[dict[str, Any]]] = {}
    for collection, document in view.documents():
        by_collection.setdefault(collection, []).append(document)
    for collection, documents in by_collection.items():
        target = read_model(database, CATALOG, collection)
        for start in range(0, len(documents), 1000):
            target.insert_many(documents[start:start + 1000], ordered=False)
    return [event.stream_id for event in events]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def catalog_search(amqp_uri: str, mongodb_uri: str, run_id: str) -> dict:
    database = connect(mongodb_uri, f"bench_catalog_{run_id}")
    try:
        started = time.perf_counter()
        product_ids = build_catalog(database)
        built_s = time.perf_counter() - started
        catalog = CatalogUseCases(None, database, None)  # search reads the read model only
        products = read_model(database, CATALOG, "products")
        rng = random.Random(7)
        for query in QUERIES:  # warm-up (and, on MongoDB, the text index is created here)
            catalog.search({**query, "limit": PAGE})
        searches, hits = [], 0
        for n in range(SEARCHES):
            query = {**QUERIES[n % len(QUERIES)], "limit": PAGE}
            started = time.perf_counter()
            hits += len(catalog.search(query)["items"])
            searches.append((time.perf_counter() - started) * 1000)
        finds = []
        for _ in range(SEARCHES):
            product_id = rng.choice(product_ids)
            started = time.perf_counter()
            products.find_one({"_id": product_id})
            finds.append((time.perf_counter() - started) * 1000)
    finally:
        database.client.drop_database(database.name)
    p50, p95 = _percentiles(searches)
    find_p50, find_p95 = _percentiles(finds)
    detail = (f"{PRODUCTS:,} products, {len(QUERIES)} query shapes, page of {PAGE}, "
              f"{hits / SEARCHES:.1f} items per page; raw find by _id p50 {find_p50:.2f} ms, "
              f"p95 {find_p95:.2f} ms; read model built in {built_s:.1f} s")
    return {
        "catalog_search_p95_ms": {"value": p95, "aim": "<= 50", "detail": detail},
        "catalog_search_p50_ms": {"value": p50, "detail": f"p50 of the same {SEARCHES} searches"},
        "catalog_search_vs_find": {"value": p95 / find_p95,
                                   "detail": "p95 of a search over p95 of one find by _id (the baseline)"},
    }


FIGURES: list[tuple[str, Callable[[str, str, str], dict]]] = [
    ("catalog_search", catalog_search),
]
