"""The MongoDB catalog query (search.text_query) selects what the word index selects.

FerretDB v1 has no text index, so the `$text` path cannot run against the local store: these
tests hold the query-building logic without I/O. A small evaluator applies the built filter to
product documents (the projection's own documents) with `$text` read as "any of the words" —
MongoDB's meaning — and the result is compared with `search()` over the word index built by the
same projection functions, on a small Indonesian product set.
"""
from __future__ import annotations

from typing import Any

import pytest

from services.networking.search import (
    TEXT_INDEX_OPTIONS,
    decode_postings,
    encode_postings,
    product_terms,
    product_words,
    search,
    text_query,
    words,
)

PRODUCTS = [
    {"id": "p1", "name": "Kopi Arabika Preanger", "category": "coffee", "description": "biji kopi dari Garut",
     "cooperative_id": "garut", "seller_regency": "kab-garut", "halal_certificate": None, "opop": False},
    {"id": "p2", "name": "Kopi Luwak", "category": "coffee", "description": "sangrai sedang",
     "cooperative_id": "bdg", "seller_regency": "kab-bandung", "halal_certificate": "ID1", "opop": False},
    {"id": "p3", "name": "Dodol Garut", "category": "food_drink", "description": "manis legit",
     "cooperative_id": "garut", "seller_regency": "kab-garut", "halal_certificate": "ID2", "opop": False},
    {"id": "p4", "name": "Batik Tulis", "category": "fashion", "description": "motif kopi",
     "cooperative_id": "bdg", "seller_regency": "kab-bandung", "halal_certificate": "", "opop": False},
    {"id": "p5", "name": "Sabun Santri", "category": "crafts", "description": "buatan pesantren",
     "cooperative_id": "pst", "seller_regency": "kab-garut", "halal_certificate": None, "opop": True},
    {"id": "p6", "name": "Kopiah Rajut", "category": "fashion", "description": "",
     "cooperative_id": "pst", "seller_regency": "kab-garut", "halal_certificate": None, "opop": True},
]
QUERIES = [{"q": "KOPI"}, {"q": "kopi garut"}, {"q": "garut", "category": "food_drink"},
           {"category": "coffee"},
           {"halal": True}, {"halal": False}, {"opop": True}, {"opop": False, "regency": "kab-garut"},
           {"cooperative": "bdg", "q": "kopi"}, {"cooperative": "pst"}, {"q": "rendang"}, {"q": "dan"}, {}]


def _documents(delisted: set[str] = frozenset()) -> list[dict[str, Any]]:
    return [{**p, "_id": p["id"], "delisted": p["id"] in delisted, "words": product_words(p)}
            for p in PRODUCTS]


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    for field, condition in query.items():
        if field == "$text":  # MongoDB: a document with any of the words
            if not set(condition["$search"].split()) & set(words(doc["name"] + " " + doc["description"])):
                return False
            continue
        value = doc.get(field)
        if not isinstance(condition, dict):
            if value != condition:
                return False
        elif "$all" in condition:
            if not set(condition["$all"]) <= set(value):
                return False
        elif "$nin" in condition:
            if value in condition["$nin"]:
                return False
        elif "$in" in condition:
            if value not in condition["$in"]:
                return False
        elif "$ne" in condition:
            if value == condition["$ne"]:
                return False
        else:
            raise AssertionError(f"operator not evaluated here: {condition}")
    return True


def _word_index(delisted: set[str]) -> dict[str, dict[str, int]]:
    index: dict[str, dict[str, int]] = {}
    for product in PRODUCTS:
        if product["id"] not in delisted:
            for term, weight in product_terms(product).items():
                index.setdefault(term, {})[product["id"]] = weight
    return index


@pytest.mark.parametrize("filters", QUERIES)
def test_text_query_selects_what_the_word_index_selects(filters):
    delisted, dissolved = {"p2"}, {"pst"} if filters.get("cooperative") != "pst" else set()
    index = _word_index(delisted)
    expected = search(filters, lambda term: index.get(term, {}), dissolved)
    built = text_query(filters, dissolved)
    selected = [] if built is None else [d["id"] for d in _documents(delisted) if _matches(d, built[0])]
    assert sorted(selected) == sorted(expected)


def test_text_query_sorts_by_score_only_with_words_and_skips_hopeless_queries():
    query, sort = text_query({"q": "Kopi  ARABIKA kopi"}, set())
    assert query["$text"] == {"$search": "kopi arabika"} and query["words"] == {"$all": ["kopi", "arabika"]}
    assert sort == [("score", {"$meta": "textScore"}), ("_id", 1)]
    assert text_query({"category": "coffee"}, {"x"}) == (
        {"delisted": False, "category": "coffee", "cooperative_id": {"$nin": ["x"]}}, [("_id", 1)])
    assert text_query({"q": "dan yang"}, set()) is None  # stopwords only: nothing matches
    assert text_query({"cooperative": "x"}, {"x"}) is None  # a dissolved seller's products are gone
    assert TEXT_INDEX_OPTIONS["default_language"] == "none"  # no English stemming of Indonesian words


def test_postings_round_trip_and_old_mapping_documents_still_read():
    ids = {"a-1": 3, "b:2": 1}
    assert decode_postings(encode_postings(ids)) == ids
    assert decode_postings({"a-1": 3}) == {"a-1": 3}  # written before postings were strings
    assert decode_postings(None) == {} and decode_postings("") == {}
