"""Reports computed at query time from the read models (pure: documents in, report out)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .accounting import NORMAL_BALANCE, SAVINGS_KINDS

Totals = dict[str, list[int]]  # account -> [debit, credit]
Chart = Mapping[str, Mapping[str, str]]


def sum_days(days: Iterable[Mapping[str, Any]], start: str | None, end: str, closing: bool = True,
             buckets: tuple[str, ...] | None = None) -> Totals:
    """Debit and credit per account over the days in [start, end] (start None: from the beginning),
    from the day documents' `buckets` (default: totals, and closing when `closing`)."""
    totals: Totals = {}
    names = buckets or (("totals", "closing") if closing else ("totals",))
    for day in days:
        if day["date"] > end or (start is not None and day["date"] < start):
            continue
        for bucket in (day.get(name) or {} for name in names):
            for account, (debit, credit) in bucket.items():
                current = totals.setdefault(account, [0, 0])
                current[0] += debit
                current[1] += credit
    return totals


def balance(account_type: str, debit: int, credit: int) -> int:
    """Positive on the account's normal side."""
    return debit - credit if NORMAL_BALANCE[account_type] == "debit" else credit - debit


def _rows(chart: Chart, totals: Totals, types: Iterable[str]) -> list[dict[str, Any]]:
    wanted = set(types)
    rows = []
    for code in sorted(chart):
        if chart[code]["type"] in wanted:
            debit, credit = totals.get(code, [0, 0])
            kind = chart[code]["type"]
            rows.append({"code": code, "name": chart[code]["name"], "type": kind, "debit": debit,
                         "credit": credit, "balance": balance(kind, debit, credit)})
    return rows


def trial_balance(chart: Chart, totals: Totals, opening: Totals | None = None) -> dict[str, Any]:
    """Per account: `opening` balance (before the period; 0 for an as-of report, which covers
    everything up to its date), the period's `debit` and `credit`, and the `closing` balance
    (= `balance`), each balance on the account's normal side."""
    rows = _rows(chart, totals, NORMAL_BALANCE)
    for row in rows:
        before = (opening or {}).get(row["code"], [0, 0])
        row["opening"] = balance(row["type"], *before)
        row["closing"] = row["balance"] = row["opening"] + row["balance"]
    debit, credit = sum(r["debit"] for r in rows), sum(r["credit"] for r in rows)
    return {"accounts": rows, "total_debit": debit, "total_credit": credit, "balanced": debit == credit}


def balance_sheet(chart: Chart, totals: Totals) -> dict[str, Any]:
    """Assets = liabilities + equity, where equity includes the result not yet closed."""
    assets, liabilities, equity = (_rows(chart, totals, [kind]) for kind in ("asset", "liability", "equity"))
    result = sum(r["balance"] for r in _rows(chart, totals, ["income"])) - sum(
        r["balance"] for r in _rows(chart, totals, ["expense"]))
    total_assets = sum(r["balance"] for r in assets)
    total_liabilities = sum(r["balance"] for r in liabilities)
    total_equity = sum(r["balance"] for r in equity) + result
    return {"assets": assets, "liabilities": liabilities, "equity": equity, "current_result": result,
            "total_assets": total_assets, "total_liabilities": total_liabilities,
            "total_equity": total_equity,
            "total_liabilities_and_equity": total_liabilities + total_equity,
            "balanced": total_assets == total_liabilities + total_equity}


def income_statement(chart: Chart, totals: Totals, members: Totals | None = None) -> dict[str, Any]:
    """Perhitungan hasil usaha: give it totals without closing entries. `members`: the part of the
    totals on lines naming a member; each income row splits into `member` (partisipasi anggota,
    the members' business with their cooperative) and `non_member`, and so do the totals."""
    income, expenses = _rows(chart, totals, ["income"]), _rows(chart, totals, ["expense"])
    for row in income:
        row["member"] = balance("income", *(members or {}).get(row["code"], [0, 0]))
        row["non_member"] = row["balance"] - row["member"]
    total_income, total_expenses = sum(r["balance"] for r in income), sum(r["balance"] for r in expenses)
    member_income = sum(r["member"] for r in income)
    return {"income": income, "expenses": expenses, "total_income": total_income,
            "member_income": member_income, "non_member_income": total_income - member_income,
            "total_expenses": total_expenses, "shu": total_income - total_expenses}


def member_statement(movements: Iterable[Mapping[str, Any]], start: str, end: str) -> dict[str, Any]:
    opening = {kind: 0 for kind in SAVINGS_KINDS}
    closing = dict(opening)
    listed, business = [], []
    for doc in sorted(movements, key=lambda d: (d["date"], d["position"], d["kind"])):
        if doc["date"] > end:
            continue
        if doc["kind"] == "jasa_usaha":
            if doc["date"] >= start:
                business.append({"date": doc["date"], "amount": doc["amount"], "entry_id": doc["entry_id"]})
            continue
        closing[doc["kind"]] += doc["amount"]
        if doc["date"] < start:
            opening[doc["kind"]] += doc["amount"]
        else:
            listed.append({key: doc[key] for key in ("date", "kind", "movement", "amount", "entry_id")})
    return {"from": start, "to": end, "opening": opening, "movements": listed, "closing": closing,
            "business": business, "jasa_usaha": sum(b["amount"] for b in business)}
