"""HealthRecord: what other services' events say about a cooperative's health, kept as
membership's own events so that the health projection is rebuilt from membership's store.

Stream id = the cooperative's id (stream type "HealthRecord"). Pure: standard library only.
Each command turns one foreign event into one event here (or none); the policy passes a
command id derived from the foreign event, so a redelivery stores nothing.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from shared.aggregate import Aggregate

NORMAL_DEBIT = frozenset({"asset", "expense"})
CASH_ACCOUNTS = frozenset({"1101", "1102"})  # Kas, Bank: the cash of the liquidity ratio
SOCIAL_FUND = "2102"                         # dana sosial (kebajikan)
# An account the record has not seen in a chart event (e.g. the chart's event is still being
# retried) is typed by its code's first digit, as the default chart numbers them.
TYPE_BY_PREFIX = {"1": "asset", "2": "liability", "3": "equity", "4": "income", "5": "expense"}
KEEP_BUSINESS_DAYS = 400  # business entries older than this before the newest are forgotten


def prune_business(business: dict[str, str]) -> dict[str, str]:
    """Keeps the entries within KEEP_BUSINESS_DAYS of the newest: only the last 12 months decide
    `active`, and a reversal of an older entry no longer changes it."""
    if len(business) < 64:
        return business
    newest = date.fromisoformat(max(business.values()))
    horizon = (newest - timedelta(days=KEEP_BUSINESS_DAYS)).isoformat()
    return {entry: day for entry, day in business.items() if day >= horizon}


def _first_int(payload: Mapping[str, Any], *keys: str) -> int:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _entry_debits(payload: Mapping[str, Any]) -> int:
    entry = payload.get("entry")
    lines = entry.get("lines", []) if isinstance(entry, Mapping) else []
    return sum(line["debit"] for line in lines
               if isinstance(line, Mapping) and isinstance(line.get("debit"), int))


class HealthRecord(Aggregate):
    snapshot_every = 50
    # Its apply methods build new containers (tests/unit/test_health_record.py checks it): one command
    # per foreign event on one stream per cooperative, so a copy of `business` per command added up
    shares_state = True

    def __init__(self, id: str):
        super().__init__(id)
        self.chart: dict[str, str] = {}
        self.business: dict[str, str] = {}
        self.contracts: dict[str, dict[str, int]] = {}

    # -- commands ---------------------------------------------------------------------------
    def record_chart(self, accounts: Mapping[str, str], source: tuple[str, str]) -> None:
        new = {code: kind for code, kind in accounts.items() if self.chart.get(code) != kind}
        if new:
            self.trigger("HealthChartRecorded", **self._source(source), accounts=new)

    def record_posting(self, payload: Mapping[str, Any], source: tuple[str, str]) -> None:
        amounts = {"asset": 0, "liability": 0, "equity": 0, "income": 0, "expense": 0, "cash": 0,
                   "social_fund": 0}
        for line in payload["lines"]:
            kind = self.chart.get(line["account"]) or TYPE_BY_PREFIX.get(line["account"][:1])
            net = line["debit"] - line["credit"]
            if kind is not None:
                amounts[kind] += net if kind in NORMAL_DEBIT else -net
            if line["account"] in CASH_ACCOUNTS:
                amounts["cash"] += net
            elif line["account"] == SOCIAL_FUND:
                amounts["social_fund"] -= net
        # A reversal's member_business is already negative (computed from the reversed lines).
        member = sum(share["amount"] for share in payload.get("member_business") or [])
        cancels = None
        if payload.get("reverses"):
            original = payload["reverses"]
            if original in self.business:
                cancels = {"entry_id": original, "date": self.business[original]}
        amounts["member_income"] = member
        self.trigger("HealthPostingRecorded", **self._source(source), entry_id=payload["entry_id"],
                     date=payload["date"], closing=payload.get("kind") == "closing",
                     business=payload.get("business_activity") is True, cancels=cancels, amounts=amounts)

    def record_report(self, on: str, fiscal_year: int | None, source: tuple[str, str]) -> None:
        self.trigger("HealthReportRecorded", **self._source(source), on=on, fiscal_year=fiscal_year)

    def record_financing(self, change: str, payload: Mapping[str, Any], on: str,
                         source: tuple[str, str]) -> None:
        """Tolerant of the financing service's payloads: a stated `outstanding` wins, otherwise
        the contract's outstanding follows the amounts disbursed, paid and fallen due."""
        contract_id = str(payload.get("contract_id") or payload.get("id") or "")
        if not contract_id:
            return
        state = dict(self.contracts.get(contract_id, {"outstanding": 0, "overdue": 0}))
        amount = _first_int(payload, "amount", "paid", "instalment", "due_amount")
        disbursed = 0
        if change == "disbursed":
            # financing's ContractDisbursed carries its journal entry: what it debits is what the
            # member owes (a murabahah's price, a qardh's principal)
            disbursed = _first_int(payload, "outstanding", "price", "amount", "principal", "capital",
                                   "coop_capital", "asset_cost") or _entry_debits(payload)
            state = {"outstanding": disbursed, "overdue": 0}
        elif change == "late":
            # non-performing financing (NPF): the whole outstanding of a contract in arrears counts
            state["overdue"] = state["outstanding"]
        elif change == "paid":
            state["outstanding"] = max(0, state["outstanding"] - amount)
            state["overdue"] = state["outstanding"] if payload.get("status") == "late" else 0
        else:  # settled, written_off: nothing outstanding any more
            state = {"outstanding": 0, "overdue": 0}
        if "outstanding" in payload and change != "disbursed":
            state["outstanding"] = _first_int(payload, "outstanding")
            state["overdue"] = min(state["overdue"], state["outstanding"])
        self.trigger("HealthFinancingRecorded", **self._source(source), contract_id=contract_id,
                     change=change, on=on, disbursed=disbursed, **state)

    def record_catalog(self, change: str, on: str, amount: int, source: tuple[str, str]) -> None:
        self.trigger("HealthCatalogRecorded", **self._source(source), change=change, on=on, amount=amount)

    def _source(self, source: tuple[str, str]) -> dict[str, str]:
        return {"cooperative_id": self.id, "source_event_id": source[0], "source_event_type": source[1]}

    # -- events -----------------------------------------------------------------------------
    def apply_HealthChartRecorded(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]
        self.chart = {**self.chart, **data["accounts"]}

    def apply_HealthPostingRecorded(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]
        if not data["business"] and not data["cancels"]:
            return  # most postings (savings movements) change nothing kept here: no copy of `business`
        business = dict(self.business)
        if data["business"]:
            business[data["entry_id"]] = data["date"]
        if data["cancels"]:
            business.pop(data["cancels"]["entry_id"], None)
        self.business = prune_business(business)

    def apply_HealthReportRecorded(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]

    def apply_HealthFinancingRecorded(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]
        contracts = dict(self.contracts)
        if data["outstanding"] or data["overdue"]:
            contracts[data["contract_id"]] = {"outstanding": data["outstanding"], "overdue": data["overdue"]}
        else:
            contracts.pop(data["contract_id"], None)
        self.contracts = contracts

    def apply_HealthCatalogRecorded(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]
