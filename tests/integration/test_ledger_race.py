"""Racing withdrawals on one sukarela account, each through its own Application and EventStore
(as separate processes would be), against the real store: never below zero."""
from __future__ import annotations

from datetime import date

import eventlet

from services.ledger.application import Ledger
from services.ledger.domain import SavingsAccount
from services.ledger.schemas import registry
from shared.aggregate import DomainError
from shared.application import Application, CommandContext
from shared.envelope import derived_id, new_id
from shared.eventstore import ConcurrencyError, EventStore, connect
from tests.conftest import MONGODB_URI
from tests.support.ledger_memory import membership_event

TODAY = date(2026, 6, 1)
conflicts: list[str] = []


class CountingStore(EventStore):
    def append(self, *args, **kwargs):
        try:
            return super().append(*args, **kwargs)
        except ConcurrencyError:
            conflicts.append(args[1])
            raise


def ledger_for(database_name: str) -> Ledger:
    database = connect(MONGODB_URI, database_name)
    store = CountingStore(database, registry)
    return Ledger(Application(store, registry), database, today=lambda: TODAY)


def test_fifty_concurrent_withdrawals_against_a_balance_for_ten(database_name):
    setup = ledger_for(database_name)
    for event in (membership_event("CooperativeRegistered", cooperative_id="c1", name="K",
                                   registered_at="2026-01-01T00:00:00Z"),
                  membership_event("MemberAdmitted", cooperative_id="c1", member_id="m1", admitted_on="2026-01-02",
                                   pokok_amount=100_000, wajib_amount=25_000)):
        setup.on_membership_event(event, CommandContext(derived_id("test", event.event_id)))
    setup.deposit("c1", "m1", "sukarela", {"amount": 10_000, "date": "2026-01-03"}, {"command_id": new_id()})

    outcomes: list[str] = []

    # each racer has its own Application (cache) and EventStore, built before the start: building
    # one writes indexes, and on a busy store that would stagger the racers until none overlap
    ledgers = [ledger_for(database_name) for _ in range(50)]
    start = eventlet.event.Event()

    def withdraw(ledger: Ledger) -> None:
        start.wait()
        try:
            ledger.withdraw("c1", "m1", {"amount": 1_000, "date": "2026-02-01"}, {"command_id": new_id()})
            outcomes.append("ok")
        except DomainError as error:
            outcomes.append(error.code)

    conflicts.clear()
    pool = eventlet.GreenPool(50)  # threads: eventlet's, as in every nameko process
    for ledger in ledgers:
        pool.spawn(withdraw, ledger)
    eventlet.sleep(0)  # every racer is now waiting at the start
    start.send(True)
    pool.waitall()

    assert conflicts, "the withdrawals really raced (optimistic concurrency retried)"
    assert outcomes.count("ok") == 10
    assert outcomes.count("insufficient_balance") == 40
    account = setup.app.load(SavingsAccount, "c1:m1", fresh=True)
    assert account.balances["sukarela"] == 0
    events = setup.app.store.read_stream("SavingsAccount", "c1:m1")
    withdrawals = [e for e in events if e.name == "SavingsWithdrawn"]
    entries = [e for e in events if e.name == "JournalEntryPosted"]
    assert len(withdrawals) == 10 and len(entries) == 11  # every movement with its entry, the deposit too
