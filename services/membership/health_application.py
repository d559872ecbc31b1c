"""Health use cases: the policy that records other services' events on a HealthRecord, and the
queries that read the health projection (a cooperative's flags, evidence and score; the
regulator's dashboard). Flags and scores age with the calendar, so they are computed when read
from the projection's documents — never from the books.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from shared.aggregate import not_found
from shared.application import CommandContext
from shared.consumer import Subscription
from shared.envelope import Envelope
from shared.kernel import Kernel
from shared.projection import documents

from .health import FLAGS, flags, one_year_before
from .health_record import HealthRecord
from .health_score import CATEGORIES, score
from .health_view import HEALTH, CooperativeHealth, HealthMonth, HealthNetwork
from .schemas import local_today

log = logging.getLogger(__name__)

FINANCING = {"financing.ContractDisbursed": "disbursed", "financing.InstalmentLate": "late",
             "financing.PaymentReceived": "paid", "financing.ContractSettled": "settled",
             "financing.ContractWrittenOff": "written_off"}
CATALOG = {"networking.ProductListed": "product_listed", "networking.OrderSettled": "order_settled"}
LEDGER = ("ledger.BooksOpened", "ledger.AccountAdded", "ledger.JournalEntryPosted", "ledger.FiscalYearClosed",
          "ledger.ReportPublished")
BINDINGS = sorted({*LEDGER, *FINANCING, *CATALOG})
BEST = 10
# The health records wait up to this long to be stored together: a dashboard figure a fifth of a
# second later, for a request per batch instead of one per ledger posting (at 50 deposits/s
# membership's CPU per deposit 4.5-4.6 -> 1.9-2.1 ms, its store operations 1.9 -> 0.6).
GATHER_SECONDS = 0.2


def event_date(event: Envelope) -> str:
    """payload["date"] (or "on") when it is a date or an instant, else the day the event occurred."""
    for key in ("date", "on", "paid_on", "disbursed_on"):
        text = event.payload.get(key)
        if isinstance(text, str):
            try:
                return date.fromisoformat(text[:10]).isoformat()
            except ValueError:
                pass
    return event.occurred_at[:10]


def command_for(event: Envelope) -> Callable[[HealthRecord], None] | None:
    """The HealthRecord command one foreign event asks for (None: nothing to record)."""
    data, source = event.payload, (event.event_id, event.event_type)
    kind = event.event_type
    if kind == "ledger.BooksOpened":
        accounts = {a["code"]: a["type"] for a in data["accounts"]}
        return lambda record: record.record_chart(accounts, source)
    if kind == "ledger.AccountAdded":
        return lambda record: record.record_chart({data["code"]: data["type"]}, source)
    if kind == "ledger.JournalEntryPosted":
        return lambda record: record.record_posting(data, source)
    if kind in ("ledger.FiscalYearClosed", "ledger.ReportPublished"):
        year = data.get("fiscal_year") if kind == "ledger.FiscalYearClosed" else None
        return lambda record: record.record_report(event.occurred_at[:10], year, source)
    if kind in FINANCING:
        return lambda record: record.record_financing(FINANCING[kind], data, event_date(event), source)
    if kind in CATALOG:
        total = data.get("total")
        amount = total if isinstance(total, int) else 0
        # the buyer's copy of a settlement (stream Purchase): business of the buyer, not a second order
        change = "order_bought" if event.stream_type == "Purchase" else CATALOG[kind]
        return lambda record: record.record_catalog(change, event_date(event), amount, source)
    return None


def health_record_policy(kernel: Kernel) -> Subscription:
    """Each foreign event once (the context's command id is derived from the event id). The events
    delivered within GATHER_SECONDS of each other are recorded together: a commit each, stored in
    one request (Application.execute_all); what that does not store goes one by one."""

    def handle(event: Envelope, context: CommandContext) -> None:
        command = command_for(event)
        if command is not None and event.cooperative_id:
            kernel.application.execute(HealthRecord, event.cooperative_id, command, context)

    def handle_all(items: list[tuple[Envelope, CommandContext]]) -> list[bool]:
        done = [True] * len(items)  # an event with nothing to record is done
        recorded = []
        for number, (event, context) in enumerate(items):
            command = command_for(event)
            if command is not None and event.cooperative_id:
                recorded.append((number, (event.cooperative_id, command, context)))
        outcomes = kernel.application.execute_all(HealthRecord, [item for _number, item in recorded])
        for (number, _item), outcome in zip(recorded, outcomes, strict=True):
            done[number] = outcome
        return done

    return Subscription("health-record", BINDINGS, handle, remember=False, batch_handler=handle_all,
                        gather_seconds=GATHER_SECONDS)


def assess(doc: dict[str, Any], today: date) -> dict[str, Any]:
    """A cooperative's flags, evidence and score from its health document."""
    judged = flags(doc, today)
    return {"cooperative_id": doc["id"], "name": doc.get("name", ""), "kind": doc.get("kind", ""),
            "regency": doc.get("regency", ""), "status": doc.get("status", "active"),
            "as_of": today.isoformat(), **judged, "score": score(doc, judged["flags"], today)}


def follow_up_reasons(assessed: dict[str, Any]) -> list[str]:
    values, reasons = assessed["flags"], []
    if not values["active"]:
        reasons.append("inactive")
    if not values["rat_compliant"]:
        reasons.append("no RAT")
    if assessed["score"]["score"] < 51 or not values["healthy"]:
        reasons.append("unhealthy")
    return reasons


def _row(assessed: dict[str, Any]) -> dict[str, Any]:
    return {key: assessed[key] for key in ("cooperative_id", "name", "regency", "kind", "flags")} | {
        "score": assessed["score"]["score"], "category": assessed["score"]["category"],
        "reasons": follow_up_reasons(assessed)}


def dashboard(docs: Iterable[dict[str, Any]], months: Iterable[dict[str, Any]], totals: dict[str, Any],
              regencies: Iterable[str], today: date, target_percent: int) -> dict[str, Any]:
    """The regulator's dashboard from the projection's documents (pure: tested without I/O)."""
    def zero(**named: str) -> dict[str, Any]:
        return {**named, **dict.fromkeys(("registered", *FLAGS), 0)}

    counts = zero()
    per_regency = {regency: zero(regency=regency) for regency in regencies}
    categories = {name: 0 for _, name in CATEGORIES}
    rows = []
    for doc in docs:
        if doc.get("status") != "active" or "name" not in doc:
            continue  # dissolved cooperatives have left the network the regulator watches
        assessed = assess(doc, today)
        rows.append(_row(assessed))
        for row in (counts, per_regency.setdefault(doc["regency"], zero(regency=doc["regency"]))):
            row["registered"] += 1
            for flag in FLAGS:
                row[flag] += assessed["flags"][flag]
        categories[assessed["score"]["category"]] += 1
    wanted = (counts["registered"] * target_percent + 99) // 100
    progress = min(100, counts["reporting_online"] * 100 // wanted) if wanted else 100
    first, last = one_year_before(today).strftime("%Y-%m"), today.strftime("%Y-%m")
    trend = [{"month": m["month"], "business_entries": m.get("business_entries", 0),
              "active_cooperatives": len(m.get("cooperatives", {})), "rats": m.get("rats", 0),
              "reports": m.get("reports", 0), "orders_settled": m.get("orders_settled", 0),
              "financing_disbursed": m.get("financing_disbursed", 0)}
             for m in sorted(months, key=lambda m: m["month"]) if first < m["month"] <= last]
    catalog = {"products_listed": 0, "orders_settled": 0, "order_value": 0, **totals.get("catalog", {})}
    financing = {"contracts_disbursed": 0, "disbursed_amount": 0, "late_instalments": 0, "payments": 0,
                 "contracts_settled": 0, "contracts_written_off": 0, **totals.get("financing", {})}
    return {"as_of": today.isoformat(), "province": counts,
            "target": {"percent": target_percent, "cooperatives": wanted,
                       "reporting_online": counts["reporting_online"],
                       "progress_percent": progress},
            "categories": categories, "regencies": [per_regency[r] for r in sorted(per_regency)],
            "months": trend,
            "follow_up": sorted((r for r in rows if r["reasons"]), key=lambda r: (r["score"], r["name"])),
            "best": sorted(rows, key=lambda r: (-r["score"], r["name"]))[:BEST],
            "catalog": catalog, "financing": financing}


class HealthQueries:
    def __init__(self, kernel: Kernel, today: Callable[[], date] = local_today):
        self.kernel, self.today = kernel, today

    def _documents(self, declared: type) -> Any:
        return documents(self.kernel.database, declared, HEALTH).as_pymongo()

    def document(self, cooperative_id: str) -> dict[str, Any] | None:
        return self._documents(CooperativeHealth).filter(pk=cooperative_id).first()

    def flags_of(self, cooperative_id: str, status: str) -> dict[str, bool]:
        """The four flags for a profile (a cooperative the projection has not seen yet: none)."""
        doc = self.document(cooperative_id) or {"id": cooperative_id}
        return flags({**doc, "status": status}, self.today())["flags"]

    def network_health(self, today: date) -> dict[str, Any]:
        """Per regency and kind; dissolved cooperatives are no longer part of the watched network."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for doc in self._documents(CooperativeHealth).filter(status="active"):
            if "name" not in doc:
                continue
            row = rows.setdefault((doc["regency"], doc["kind"]), {
                "regency": doc["regency"], "kind": doc["kind"], "registered": 0,
                **dict.fromkeys(FLAGS, 0)})
            row["registered"] += 1
            for flag, value in flags(doc, today)["flags"].items():
                row[flag] += value
        return {"items": [rows[key] for key in sorted(rows)]}

    def cooperative_health(self, cooperative_id: str, today: date | None = None) -> dict[str, Any]:
        doc = self.document(cooperative_id)
        if doc is None or "name" not in doc:
            raise not_found("cooperative", cooperative_id)
        return assess(doc, today or self.today())

    def network_dashboard(self, regencies: Iterable[str], target_percent: int,
                          today: date | None = None) -> dict[str, Any]:
        totals = self._documents(HealthNetwork).filter(pk="totals").first() or {}
        return dashboard(self._documents(CooperativeHealth), self._documents(HealthMonth),
                         totals, regencies, today or self.today(), target_percent)
