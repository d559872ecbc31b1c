"""Catalog search over an inverted index (pure: the index documents are passed in).

The read model keeps one document per term (`catalog_terms`, `_id` = the term): a word of a
product's name or description (`w:kopi`), its category (`c:coffee`), the seller's regency
(`r:kota-bandung`), seller (`s:<id>`), `halal`, `opop`, and `*` (every listed product). Each maps
product ids to a weight (3 for a word of the name, 1 of the description only), kept as one string
("<id>:<weight> <id>:<weight> ...", `encode_postings`): FerretDB v1 turns a document with a
thousand keys into BSON some ten times slower than one string of the same length, and a search
reads whole term documents (bench/catalog_bench.py measures it). A search reads
one document per term it names, by `_id` — on FerretDB v1 the only lookup served by an index —
so its cost grows with the matches, never with the size of the catalog.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

# Words too common in Indonesian product text to tell products apart.
STOPWORDS = frozenset({"dan", "yang", "di", "ke", "dari", "untuk", "dengan", "atau", "ini", "itu",
                       "the", "and", "of"})
NAME_WEIGHT, DESCRIPTION_WEIGHT = 3, 1
_WORD = re.compile(r"[0-9a-z]+")


def words(text: str) -> list[str]:
    """Lower-cased words without accents ("Kopi Arabika JAVA preanger" → kopi, arabika, java, ...)."""
    plain = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return [word for word in _WORD.findall(plain) if word not in STOPWORDS and len(word) > 1]


def product_terms(product: Mapping[str, Any]) -> dict[str, int]:
    """Every term of a listed product with its weight."""
    terms = {f"w:{word}": DESCRIPTION_WEIGHT for word in words(product.get("description", ""))}
    terms.update({f"w:{word}": NAME_WEIGHT for word in words(product["name"])})
    terms.update({"*": 1, f"c:{product['category']}": 1, f"r:{product['seller_regency']}": 1,
                  f"s:{product['cooperative_id']}": 1})
    if product.get("halal_certificate"):
        terms["halal"] = 1
    if product.get("opop"):
        terms["opop"] = 1
    return terms


def encode_postings(ids: Mapping[str, int]) -> str:
    return " ".join(f"{product}:{weight}" for product, weight in ids.items())


def decode_postings(stored: str | Mapping[str, int] | None) -> dict[str, int]:
    """A term document's `ids`; a document written before postings were strings is a mapping."""
    if not stored:
        return {}
    if not isinstance(stored, str):
        return dict(stored)
    pairs = (entry.rpartition(":") for entry in stored.split(" "))
    return {product: int(weight) for product, _colon, weight in pairs}


def query_terms(filters: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(terms every hit has, terms every hit lacks, word terms that score) for a catalog query."""
    scored = [f"w:{word}" for word in dict.fromkeys(words(filters.get("q") or ""))]
    required = list(scored)
    for key, prefix in (("category", "c:"), ("regency", "r:"), ("cooperative", "s:")):
        if filters.get(key):
            required.append(prefix + filters[key])
    excluded = []
    for flag in ("halal", "opop"):
        if filters.get(flag) is True:
            required.append(flag)
        elif filters.get(flag) is False:
            excluded.append(flag)
    if filters.get("q") and not scored:  # only stopwords or punctuation: nothing matches
        required.append("w:")
    return required or ["*"], excluded, scored


def search(filters: Mapping[str, Any], postings: Callable[[str], dict[str, int]],
           dissolved: set[str]) -> list[str]:
    """Product ids matching every filter, best first (name hits over description hits), then by id."""
    required, excluded, scored = query_terms(filters)
    lists = sorted((postings(term) for term in required), key=len)
    hits = set(lists[0])
    for other in lists[1:]:
        hits &= other.keys()
        if not hits:
            return []
    for term in excluded:
        hits -= postings(term).keys()
    for cooperative in dissolved:  # a dissolved cooperative's products leave the catalog
        hits -= postings(f"s:{cooperative}").keys()
    scores = {product: sum(postings(term).get(product, 0) for term in scored) for product in hits}
    return sorted(hits, key=lambda product: (-scores[product], product))


# -- MongoDB: a text index over the products read model ------------------------------------------
# On MongoDB (not FerretDB v1, which has no text index and serves nothing but `_id` lookups from an
# index) the catalog is searched with `$text`. Its language is "none": MongoDB has no Indonesian
# stemmer, and an English one would cut Indonesian words wrongly; case and accents are folded by
# the text index itself. `$text` alone ORs the words, so `words: {$all: ...}` (each product's own
# words, as `words()` splits them) keeps the word index's rule: a hit has every word of the query.
TEXT_INDEX_KEYS = [("name", "text"), ("description", "text")]
TEXT_INDEX_OPTIONS = {"name": "catalog_text",
                      "weights": {"name": NAME_WEIGHT, "description": DESCRIPTION_WEIGHT},
                      "default_language": "none", "language_override": "_text_language"}
FILTER_INDEXES = ("category", "seller_regency", "cooperative_id")


def product_words(product: Mapping[str, Any]) -> list[str]:
    """The words a product is found by (its name's and its description's), for `$all`."""
    return sorted(set(words(product["name"])) | set(words(product.get("description") or "")))


def text_query(filters: Mapping[str, Any], dissolved: set[str]) -> tuple[dict[str, Any], list] | None:
    """(MongoDB filter, sort) selecting what `search` selects from the word index, best first
    (text score: the name weighs 3, the description 1), then by id; None when nothing can match."""
    scored = list(dict.fromkeys(words(filters.get("q") or "")))
    if filters.get("q") and not scored:  # only stopwords or punctuation
        return None
    if filters.get("cooperative") in dissolved:
        return None
    query: dict[str, Any] = {"delisted": False}
    if scored:
        query["$text"] = {"$search": " ".join(scored)}
        query["words"] = {"$all": scored}
    for key, field in (("category", "category"), ("regency", "seller_regency"),
                       ("cooperative", "cooperative_id")):
        if filters.get(key):
            query[field] = filters[key]
    if dissolved and not filters.get("cooperative"):
        query["cooperative_id"] = {"$nin": sorted(dissolved)}
    if filters.get("halal") is True:
        query["halal_certificate"] = {"$nin": [None, ""]}
    elif filters.get("halal") is False:
        query["halal_certificate"] = {"$in": [None, ""]}
    if filters.get("opop") is True:
        query["opop"] = True
    elif filters.get("opop") is False:
        query["opop"] = {"$ne": True}
    sort = [("score", {"$meta": "textScore"}), ("_id", 1)] if scored else [("_id", 1)]
    return query, sort
