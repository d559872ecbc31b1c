"""The journal as a treasurer reads it (pure: read-model documents in, a page out).

Voucher numbers are sequential per cooperative and fiscal year in posting order (the store's
position of the event that posted the entry): the n-th entry posted into year Y is `Y/n`. They
are derived when read, from the documents of the journal read model, so they are the same live
and after a rebuild, and need no counter that concurrent postings into different streams (the
books, each member's savings) would have to share. Entries are listed by date, then voucher.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ENTRY_FIELDS = ("id", "cooperative_id", "date", "memo", "kind", "lines", "business_activity", "source",
                "reverses", "reversed_by")


def with_vouchers(docs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every entry with `voucher` ("YYYY/000123") and `voucher_number`, listed by date then number."""
    by_position = sorted(docs, key=lambda d: (d.get("position") or 0, d["id"]))
    counters: dict[str, int] = {}
    numbered = []
    for doc in by_position:
        year = doc["date"][:4]
        counters[year] = counters.get(year, 0) + 1
        numbered.append({**{key: doc.get(key) for key in ENTRY_FIELDS}, "actor": doc.get("actor"),
                         "voucher_number": counters[year], "voucher": f"{year}/{counters[year]:06d}"})
    return sorted(numbered, key=lambda e: (e["date"], e["voucher_number"]))


def journal_page(docs: Iterable[Mapping[str, Any]], query: Mapping[str, Any]) -> dict[str, Any]:
    """Filters (`from_`, `to`, `account`, `member_id`) and a page of `limit` after `cursor`
    ("date|voucher_number" of the last entry of the previous page)."""
    entries = [entry for entry in with_vouchers(docs) if _wanted(entry, query)]
    if query.get("cursor"):
        day, number = query["cursor"].split("|")
        entries = [e for e in entries if (e["date"], e["voucher_number"]) > (day, int(number))]
    page = entries[:query["limit"]]
    more = len(entries) > len(page)
    return {"items": page, "next": f"{page[-1]['date']}|{page[-1]['voucher_number']}" if more else None}


def _wanted(entry: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    if query.get("from_") and entry["date"] < query["from_"]:
        return False
    if query.get("to") and entry["date"] > query["to"]:
        return False
    if query.get("account") and all(line["account"] != query["account"] for line in entry["lines"]):
        return False
    return not (query.get("member_id") and all(line.get("member_id") != query["member_id"]
                                               for line in entry["lines"]))
