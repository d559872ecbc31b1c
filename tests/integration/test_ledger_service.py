"""The ledger service in a real nameko container over real RabbitMQ and store: membership
events published to kopnet.events drive its policies; RPC drives its commands and reports."""
from __future__ import annotations

import dataclasses
import os
import uuid

import amqp
import kombu
import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from services.ledger.domain import Books, SavingsAccount
from services.ledger.service import LedgerService, definition
from shared.aggregate import DomainError
from shared.broker import EVENTS_EXCHANGE, declare_events_exchange
from shared.checkpoints import PROJECTIONS, Checkpoints
from shared.config import load_config
from shared.envelope import Envelope, new_id, utc_now
from shared.eventstore import connect
from shared.projection import rebuild
from shared.providers import KernelProvider
from tests.conftest import MONGODB_URI, free_port, wait_for

ALLOCATION = {"reserve": 40, "jasa_modal": 20, "jasa_usaha": 25, "board": 5, "staff": 5, "education": 3,
              "social": 2}


@dataclasses.dataclass
class Handle:
    name: str
    config: dict
    kernel: object
    rpc: object

    def publish(self, name: str, payload: dict, event: Envelope | None = None) -> Envelope:
        """A membership event as membership's relay sends it: a full envelope, routing key = type."""
        event = event or Envelope(
            event_id=new_id(), event_type=f"membership.{name}", schema_version=1, stream_type="Member",
            stream_id=payload.get("member_id", payload["cooperative_id"]), stream_version=1, position=1,
            occurred_at=utc_now(), cooperative_id=payload["cooperative_id"], correlation_id=new_id(),
            causation_id=None, payload=payload)
        with kombu.Connection(self.config["AMQP_URI"]) as connection:
            channel = connection.channel()
            declare_events_exchange(channel)
            channel.basic_publish(amqp.Message(event.to_json(), delivery_mode=2), exchange=EVENTS_EXCHANGE,
                                  routing_key=event.event_type)
        return event

    def handled(self, outcome: str) -> float:
        [subscriber] = self.kernel.subscribers
        return subscriber.metrics.messages.labels(subscriber.service, subscriber.subscription.name,
                                                  outcome)._value.get()

    def caught_up(self) -> bool:
        head = self.kernel.store.head()
        checkpoints = Checkpoints(self.kernel.database, group=PROJECTIONS)
        return all(checkpoints.load(self.kernel.projections.checkpoint_name(p)) >= head
                   for p in self.kernel.definition.projections)

    # -- membership as the ledger sees it ---------------------------------------------------------
    def cooperative(self) -> str:
        coop = str(uuid.uuid4())
        self.publish("CooperativeRegistered", {
            "cooperative_id": coop, "name": "Koperasi Sejahtera", "registration_number": "1234567890123",
            "kind": "ksp", "regency": "kota-bandung", "is_pesantren": False, "founded_on": "2001-02-03",
            "bylaws": {"pokok_amount": 100_000, "wajib_amount": 25_000, "quorum_percent": 50},
            "registered_at": "2025-01-02T03:04:05.000Z"})
        wait_for(lambda: self.kernel.application.load(Books, coop, fresh=True).exists, what="books open")
        return coop

    def member(self, coop: str, admitted_on: str = "2025-01-05") -> str:
        member = str(uuid.uuid4())
        self.publish("MemberAdmitted", {"cooperative_id": coop, "member_id": member, "admitted_on": admitted_on,
                                        "pokok_amount": 100_000, "wajib_amount": 25_000})
        wait_for(lambda: self.kernel.application.load(SavingsAccount, f"{coop}:{member}", fresh=True).exists,
                 what="savings account open")
        return member


@pytest.fixture(scope="module")
def service():
    """One container for the module, isolated by name (RPC queue, database, locks, queues)."""
    name = f"ledger_{uuid.uuid4().hex[:8]}"
    prefix = f"test_{uuid.uuid4().hex[:8]}"
    environ = {**os.environ, "KOPNET_DB_PREFIX": prefix, "LEDGER_METRICS_PORT": str(free_port())}
    config = load_config("services/ledger/config.yml", environ)
    isolated = type("IsolatedLedger", (LedgerService,),
                    {"name": name, "kernel": KernelProvider(dataclasses.replace(definition, name=name))})
    container = ServiceContainer(isolated, config)
    container.start()
    kernel = next(d for d in container.dependencies if isinstance(d, KernelProvider)).kernel
    wait_for(lambda: all(s.ready.is_set() for s in kernel.subscribers), what="subscriptions declared")
    with ClusterRpcProxy(config, timeout=30) as cluster:
        yield Handle(name, config, kernel, getattr(cluster, name))
    container.stop()
    connect(MONGODB_URI, f"{prefix}_ledger").client.drop_database(f"{prefix}_ledger")


def refused(code: str, call, *args) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args)
    assert caught.value.code == code, caught.value.args
    return caught.value


def context() -> dict:
    return {"command_id": new_id(), "correlation_id": new_id()}


def test_membership_events_open_books_and_savings_and_a_duplicate_applies_once(service):
    coop = service.cooperative()
    member = str(uuid.uuid4())
    admitted = service.publish("MemberAdmitted", {"cooperative_id": coop, "member_id": member,
                                                  "admitted_on": "2025-01-05", "pokok_amount": 150_000,
                                                  "wajib_amount": 20_000})
    duplicates = service.handled("duplicate")
    service.publish("MemberAdmitted", admitted.payload, admitted)  # redelivered
    wait_for(lambda: service.handled("duplicate") > duplicates, what="the redelivery skipped")
    savings = service.rpc.get_savings(coop, member)
    assert (savings["pokok_amount"], savings["wajib_amount"], savings["total"]) == (150_000, 20_000, 0)
    store = service.kernel.store
    assert [e.name for e in store.read_stream("SavingsAccount", f"{coop}:{member}")] == ["SavingsAccountOpened"]
    assert [e.name for e in store.read_stream("Books", coop)] == ["BooksOpened", "MemberEnrolled"]
    accounts = {a["code"]: a for a in service.rpc.list_accounts(coop)}
    assert accounts["2101"] == {"code": "2101", "name": "Simpanan sukarela", "type": "liability",
                                "normal_balance": "credit", "balance": 0, "active": True}
    assert service.handled("parked") == 0


def test_savings_and_entries_are_posted_published_and_reported(service, tap):
    rpc = service.rpc
    seen = tap("ledger.JournalEntryPosted")
    coop = service.cooperative()
    member = service.member(coop)
    assert rpc.deposit(coop, member, "pokok", {"amount": 100_000, "date": "2026-01-05"}, context())["pokok"] == 100_000
    rpc.deposit(coop, member, "sukarela", {"amount": 50_000, "date": "2026-01-06"}, context())
    same = context()
    after = rpc.withdraw(coop, member, {"amount": 20_000, "date": "2026-02-01"}, same)
    assert after["sukarela"] == 30_000 and rpc.withdraw(coop, member, {"amount": 20_000, "date": "2026-02-01"},
                                                        same) == after  # the same command: once
    sale = rpc.post_journal_entry(coop, {"date": "2026-02-10", "memo": "beras", "lines": [
        {"account": "1101", "debit": 300_000}, {"account": "4101", "credit": 300_000, "member_id": member}]},
        context())
    assert sale["business_activity"] is True

    refused("insufficient_balance", rpc.withdraw, coop, member, {"amount": 30_001, "date": "2026-03-01"}, context())
    refused("unbalanced_entry", rpc.post_journal_entry, coop, {"date": "2026-02-10", "lines": [
        {"account": "1101", "debit": 2}, {"account": "4101", "credit": 1}]}, context())
    error = refused("validation_error", rpc.deposit, coop, member, "sukarela", {"amount": -5}, context())
    assert set(error.fields) == {"amount", "date"}
    refused("not_found", rpc.get_savings, coop, "nobody")

    def published():
        events = [Envelope.from_json(m.body) for m in seen.drain()]
        return [e for e in events if e.cooperative_id == coop]

    events = wait_for(lambda: len(published()) >= 4 and published(), what="entries published")
    by_id = {e.payload["entry_id"]: e.payload for e in events}
    assert by_id[sale["id"]]["date"] == "2026-02-10" and by_id[sale["id"]]["business_activity"] is True
    assert sum(1 for e in events if e.payload["kind"] == "savings") == 3
    assert all(e.payload["business_activity"] is False for e in events if e.payload["kind"] == "savings")

    wait_for(service.caught_up, what="read models caught up")
    balance = rpc.report(coop, "trial-balance", "2026-02-28")
    assert balance["balanced"] and balance["total_debit"] == 470_000
    sheet = rpc.report(coop, "balance-sheet", "2026-02-28")
    assert sheet["balanced"] and sheet["total_assets"] == 430_000
    statement = rpc.report(coop, "income-statement", None, "2026-01-01", "2026-12-31")
    assert statement["shu"] == 300_000
    mine = rpc.member_statement(coop, member, "2026-01-01", "2026-12-31")
    assert mine["closing"] == {"pokok": 100_000, "wajib": 0, "sukarela": 30_000} and mine["jasa_usaha"] == 300_000
    assert rpc.post_entry(coop, {"date": "2026-03-01", "lines": [
        {"account": "1104", "debit": 10}, {"account": "4102", "credit": 10}]},
        {"service": "financing", "id": "instalment-1"}, context())["kind"] == "integration"


def test_reports_rebuilt_from_the_history_equal_the_live_ones(service):
    rpc = service.rpc
    coop = service.cooperative()
    members = [service.member(coop) for _ in range(3)]
    for n, member in enumerate(members):
        rpc.deposit(coop, member, "pokok", {"amount": 100_000, "date": "2025-02-01"}, context())
        rpc.deposit(coop, member, "sukarela", {"amount": 10_000 * (n + 1), "date": "2025-03-01"}, context())
        rpc.post_journal_entry(coop, {"date": f"2025-0{n + 4}-01", "lines": [
            {"account": "1101", "debit": 1_000 + n}, {"account": "4101", "credit": 1_000 + n, "member_id": member}]},
            context())
    entry = rpc.post_journal_entry(coop, {"date": "2025-08-01", "lines": [
        {"account": "5102", "debit": 700}, {"account": "1101", "credit": 700}]}, context())
    rpc.reverse_journal_entry(coop, entry["id"], context())
    rpc.withdraw(coop, members[0], {"amount": 5_000, "date": "2025-09-01"}, context())

    def everything() -> dict:
        return {"tb": rpc.report(coop, "trial-balance", "2025-12-31"),
                "period": rpc.report(coop, "trial-balance", None, "2025-03-01", "2025-08-31"),
                "bs": rpc.report(coop, "balance-sheet", "2025-12-31"),
                "is": rpc.report(coop, "income-statement", None, "2025-01-01", "2025-12-31"),
                "accounts": rpc.list_accounts(coop),
                "statements": [rpc.member_statement(coop, m, "2025-01-01", "2025-12-31") for m in members]}

    wait_for(service.caught_up, what="read models caught up")
    live = everything()
    assert live["tb"]["balanced"] and live["bs"]["balanced"] and live["is"]["shu"] == 3_003
    for projection in service.kernel.definition.projections:
        rebuild(service.kernel.store, projection)
    assert everything() == live


def test_year_end_close_distributes_shu_and_locks_the_year(service, tap):
    rpc = service.rpc
    closed_events = tap("ledger.FiscalYearClosed")
    coop = service.cooperative()
    a, b = service.member(coop, "2025-01-05"), service.member(coop, "2025-07-01")
    rpc.deposit(coop, a, "pokok", {"amount": 100_000, "date": "2025-01-05"}, context())
    rpc.deposit(coop, b, "pokok", {"amount": 100_000, "date": "2025-07-01"}, context())
    rpc.deposit(coop, a, "wajib", {"amount": 200_000, "date": "2025-12-01"}, context())
    rpc.post_journal_entry(coop, {"date": "2025-09-09", "lines": [
        {"account": "1101", "debit": 10_000}, {"account": "4101", "credit": 10_000, "member_id": b}]}, context())
    refused("rat_resolution_missing", rpc.close_fiscal_year, coop, 2025, context())
    service.publish("AnnualMeetingHeld", {"cooperative_id": coop, "fiscal_year": 2025, "held_on": "2026-03-01",
                                          "attendees": 2, "admitted_members": 2, "quorum_percent": 50,
                                          "shu_allocation": ALLOCATION})
    wait_for(lambda: "2025" in service.kernel.application.load(Books, coop, fresh=True).resolutions,
             what="RAT recorded")
    result = rpc.close_fiscal_year(coop, 2025, context())
    # SHU 10,000: reserve 4,000, jasa modal 2,000 by 300,000 : 100,000 → 1,500 / 500, jasa usaha 2,500 to b
    assert result["shu"] == 10_000 and result["pools"]["jasa_modal"] == 2_000
    assert sorted((m["member_id"], m["total"]) for m in result["members"]) == sorted([(a, 1_500), (b, 3_000)])
    assert rpc.close_fiscal_year(coop, 2025, context()) == result
    assert rpc.get_shu(coop, 2025, b)["members"] == [
        {"member_id": b, "jasa_modal": 500, "jasa_usaha": 2_500, "total": 3_000, "paid": False}]
    refused("fiscal_year_closed", rpc.deposit, coop, a, "wajib", {"amount": 1, "date": "2025-12-31"}, context())
    refused("fiscal_year_closed", rpc.post_journal_entry, coop, {"date": "2025-12-31", "lines": [
        {"account": "1101", "debit": 1}, {"account": "4101", "credit": 1}]}, context())
    refused("not_found", rpc.get_shu, coop, 2024)
    [event] = wait_for(lambda: [e for e in (Envelope.from_json(m.body) for m in closed_events.drain())
                                if e.cooperative_id == coop], what="FiscalYearClosed published")
    assert event.payload["fiscal_year"] == 2025 and event.payload["date"] >= "2026-01-01"


def test_an_exit_returns_the_savings_and_closes_the_account(service):
    rpc = service.rpc
    coop = service.cooperative()
    member = service.member(coop)
    rpc.deposit(coop, member, "pokok", {"amount": 100_000, "date": "2026-01-05"}, context())
    rpc.deposit(coop, member, "wajib", {"amount": 25_000, "date": "2026-02-05"}, context())
    service.publish("MemberExited", {"cooperative_id": coop, "member_id": member, "exited_on": "2026-03-01",
                                     "previous_status": "admitted"})
    wait_for(lambda: rpc.get_savings(coop, member)["status"] == "closed", what="savings settled")
    assert rpc.get_savings(coop, member)["total"] == 0
    wait_for(service.caught_up, what="read models caught up")
    accounts = {a["code"]: a["balance"] for a in rpc.list_accounts(coop)}
    assert (accounts["3101"], accounts["3102"], accounts["1101"]) == (0, 0, 0)
