"""HealthRecord (pure) and the health projection fed its events: a reversal cancels its entry's
activity and amounts; balances and monthly flows follow the postings."""
from __future__ import annotations

import copy
from datetime import date

from services.membership.health import flags
from services.membership.health_application import assess, command_for, dashboard
from services.membership.health_record import HealthRecord
from services.membership.health_view import CooperativeHealthView
from shared.envelope import Envelope
from shared.projection import View

CHART = [{"code": "1101", "name": "Kas", "type": "asset"}, {"code": "3101", "name": "Pokok", "type": "equity"},
         {"code": "4101", "name": "Penjualan", "type": "income"},
         {"code": "5102", "name": "Beban", "type": "expense"}]


def envelope(event_type: str, payload: dict, position: int, coop: str = "c1", stream_type: str = "X"
             ) -> Envelope:
    return Envelope(event_id=f"ev{position}", event_type=event_type, schema_version=1, stream_type=stream_type,
                    stream_id=coop, stream_version=position, position=position,
                    occurred_at="2026-06-01T03:00:00Z", cooperative_id=coop, correlation_id="c",
                    causation_id=None, payload=payload)


def posting(entry: str, day: str, lines: list, kind: str = "manual", reverses: str | None = None,
            member: int = 0) -> dict:
    return {"cooperative_id": "c1", "entry_id": entry, "date": day, "memo": "", "kind": kind, "lines": lines,
            "business_activity": kind == "manual" and any(x["account"].startswith("4") for x in lines),
            "member_business": [{"member_id": "m1", "amount": member}] if member else [],
            "source": None, "reverses": reverses}


def line(account: str, debit: int = 0, credit: int = 0) -> dict:
    return {"account": account, "debit": debit, "credit": credit, "member_id": None}


SALE = [line("1101", debit=1000), line("4101", credit=1000)]
REVERSED = [line("1101", credit=1000), line("4101", debit=1000)]


def feed(foreign: list[tuple[str, dict]]) -> tuple[HealthRecord, dict, View]:
    """Runs each foreign event's command on one HealthRecord, then projects what it triggered."""
    record, view, position = HealthRecord("c1"), View(lambda collection, doc_id: None), 0
    registered = {"cooperative_id": "c1", "name": "Koperasi Maju", "registration_number": "1234567890",
                  "kind": "ksp", "regency": "kota-bandung", "is_pesantren": False, "founded_on": "2001-02-03"}
    projection = CooperativeHealthView()
    position += 1
    view.position = position
    projection.handle(envelope("membership.CooperativeRegistered", registered, position), view)
    for event_type, payload in foreign:
        command = command_for(envelope(event_type, payload, 0))
        assert command is not None
        command(record)
        for event in record.pending_events:
            if f"membership.{event.name}" not in projection.handles:
                continue  # as shared.projection.apply_events does
            position += 1
            view.position = position
            projection.handle(envelope(f"membership.{event.name}", event.data, position), view)
        record.mark_saved()
    doc = view.get("health", "c1")
    assert doc is not None
    return record, doc, view


def test_a_reversal_cancels_its_entrys_activity_and_amounts():
    _, doc, view = feed([("ledger.BooksOpened", {"cooperative_id": "c1", "name": "x", "opened_on": "2026-01-01",
                                                 "accounts": CHART}),
                         ("ledger.JournalEntryPosted", posting("e1", "2026-05-02", SALE, member=600)),
                         ("ledger.JournalEntryPosted", posting("r1", "2026-05-02", REVERSED, "reversal", "e1",
                                                               member=-600))])
    assert doc["business"] == {}
    assert flags(doc, date(2026, 6, 1))["flags"]["active"] is False
    assert doc["balances"]["asset"] == 0 and doc["balances"]["cash"] == 0
    assert doc["months"]["2026-05"] == {"income": 0, "expense": 0, "member_income": 0}
    month = view.get("health_months", "2026-05")
    assert month is not None and month["business_entries"] == 0 and month["cooperatives"] == {}


def test_postings_build_balances_flows_and_activity():
    _, doc, view = feed([("ledger.BooksOpened", {"cooperative_id": "c1", "name": "x", "opened_on": "2026-01-01",
                                                 "accounts": CHART}),
                         ("ledger.JournalEntryPosted", posting("e0", "2026-01-05",
                                                               [line("1101", debit=5000), line("3101", credit=5000)],
                                                               kind="savings")),
                         ("ledger.JournalEntryPosted", posting("e1", "2026-05-02", SALE, member=600)),
                         ("ledger.JournalEntryPosted", posting("e2", "2026-05-03",
                                                               [line("5102", debit=300), line("1101", credit=300)])),
                         ("ledger.FiscalYearClosed", {"cooperative_id": "c1", "fiscal_year": 2025})])
    assert doc["business"] == {"e1": "2026-05-02"}
    assert {k: doc["balances"][k] for k in ("asset", "equity", "cash")} == {"asset": 5700, "equity": 5000,
                                                                         "cash": 5700}
    assert doc["months"]["2026-05"] == {"income": 1000, "expense": 300, "member_income": 600}
    assert doc["closed_years"] == {"2025": "2026-06-01"}
    assessed = assess(doc, date(2026, 6, 1))
    assert assessed["flags"]["active"] and assessed["flags"]["reporting_online"]
    result = dashboard([doc], [view.get("health_months", "2026-05")], {}, ["kota-bandung", "kota-bogor"],
                       date(2026, 6, 1), 60)
    assert result["province"]["registered"] == 1 and result["province"]["active"] == 1
    assert [r["registered"] for r in result["regencies"]] == [1, 0]
    assert result["months"] == [{"month": "2026-05", "business_entries": 1, "active_cooperatives": 1, "rats": 0,
                                 "reports": 0, "orders_settled": 0, "financing_disbursed": 0}]
    assert result["financing"]["contracts_disbursed"] == 0  # no financing service events: zero
    assert result["target"] == {"percent": 60, "cooperatives": 1, "reporting_online": 1, "progress_percent": 100}


def _disbursed(contract: str, debit: int) -> tuple[str, dict]:
    """financing.ContractDisbursed as the financing service sends it: its entry, no amount."""
    lines = [{"account": "1104", "debit": debit, "credit": 0}, {"account": "1101", "debit": 0, "credit": debit}]
    return ("financing.ContractDisbursed", {"contract_id": contract, "disbursed_on": "2026-02-01",
                                            "entry": {"date": "2026-02-01", "lines": lines}, "status": "disbursed"})


def test_financing_events_give_outstanding_and_overdue():
    late = ("financing.InstalmentLate", {"contract_id": "k1", "due_on": "2026-03-01", "on": "2026-03-02",
                                         "status": "late"})
    _, in_arrears, _ = feed([_disbursed("k1", 12_000_000), late])
    assert in_arrears["financing"] == {"k1": {"outstanding": 12_000_000, "overdue": 12_000_000}}  # NPF
    record, doc, view = feed([
        _disbursed("k1", 12_000_000), late,
        ("financing.PaymentReceived", {"contract_id": "k1", "amount": 2_000_000, "date": "2026-03-05",
                                       "status": "current"}),
        _disbursed("k2", 5_000_000),
        ("financing.ContractWrittenOff", {"contract_id": "k2"})])
    assert doc["financing"] == {"k1": {"outstanding": 10_000_000, "overdue": 0}}
    assert record.contracts == doc["financing"]
    assert doc["written_off"]["count"] == 1
    totals = view.get("health_network", "totals")
    assert totals is not None and totals["financing"]["contracts_disbursed"] == 2
    assert totals["financing"]["disbursed_amount"] == 17_000_000


def test_a_settled_order_is_business_of_both_sides_and_counted_once():
    """The seller's OrderSettled (stream Order) and the buyer's copy (stream Purchase): each marks
    its cooperative active; only the seller's counts the order in the network's totals."""
    projection, view = CooperativeHealthView(), View(lambda collection, doc_id: None)
    for position, (coop, stream_type) in enumerate([("seller", "Order"), ("buyer", "Purchase")], start=1):
        view.position = position
        projection.handle(envelope("membership.CooperativeRegistered", {
            "cooperative_id": coop, "name": coop, "registration_number": f"{position}" * 10, "kind": "konsumen",
            "regency": "kota-bandung", "is_pesantren": False, "founded_on": "2001-02-03"}, position, coop), view)
        record = HealthRecord(coop)
        command = command_for(envelope("networking.OrderSettled", {"total": 500_000, "date": "2026-05-20"},
                                       10 + position, coop, stream_type))
        assert command is not None
        command(record)
        for event in record.pending_events:
            view.position = 100 + position
            projection.handle(envelope(f"membership.{event.name}", event.data, 100 + position, coop), view)
    for coop in ("seller", "buyer"):
        doc = view.get("health", coop)
        assert doc is not None and list(doc["business"].values()) == ["2026-05-20"], coop
    totals = view.get("health_network", "totals")
    assert totals is not None
    assert totals["catalog"]["orders_settled"] == 1 and totals["catalog"]["order_value"] == 500_000


def test_every_health_record_event_builds_new_containers_so_a_command_may_share_the_cached_state():
    """HealthRecord.shares_state: Application.load hands a command the cached state itself, so an
    apply method that changed a container in place would change the cache before the save."""
    foreign = [
        ("ledger.BooksOpened", {"cooperative_id": "c1", "accounts": CHART}),
        ("ledger.AccountAdded", {"cooperative_id": "c1", "code": "5103", "type": "expense"}),
        ("ledger.JournalEntryPosted", posting("e1", "2026-05-01", SALE)),
        ("ledger.JournalEntryPosted", posting("e2", "2026-05-02", [line("1101", debit=5),
                                                                   line("2101", credit=5)], kind="savings")),
        ("ledger.JournalEntryPosted", posting("e3", "2026-05-03", REVERSED, kind="reversal", reverses="e1")),
        ("ledger.ReportPublished", {"cooperative_id": "c1"}),
        _disbursed("k1", 12_000_000),
        ("financing.PaymentReceived", {"contract_id": "k1", "amount": 2_000_000, "date": "2026-03-05",
                                       "status": "current"}),
        ("financing.ContractWrittenOff", {"contract_id": "k1"}),
        ("networking.ProductListed", {"cooperative_id": "c1", "product_id": "p1"})]
    record, recorded = HealthRecord("c1"), set()
    for event_type, payload in foreign:
        shared = record.snapshot_state(copy=False)
        before = copy.deepcopy(shared)
        working = HealthRecord.from_snapshot(shared, copy=False)
        command = command_for(envelope(event_type, payload, 0))
        assert command is not None
        command(working)
        assert shared == before, f"{event_type} changed the shared state in place"
        recorded |= {event.name for event in working.pending_events}
        working.mark_saved()
        record = working
    applied = {name.removeprefix("apply_") for name in vars(HealthRecord) if name.startswith("apply_")}
    assert recorded == applied, "every event HealthRecord applies is checked"
    assert record.business == {} and record.chart["5103"] == "expense"
