"""Snapshots are caches: any JSON-able state is stored (FerretDB v1 refuses nested arrays in a
document), and a snapshot that cannot be saved never fails the command that was stored."""
from __future__ import annotations

from shared.application import Application
from shared.eventstore import EventStore, StoreUnavailable
from tests.support.bankservice.domain import Account


def test_a_state_with_nested_arrays_round_trips(database, bank_registry):
    store = EventStore(database, bank_registry)
    state = {"movements": [["2026-01-02", "sukarela", 1000], ["2026-01-03", "wajib", 25000]],
             "x": {"y": [[1]]}}
    store.save_snapshot("SavingsAccount", "coop:m1", 50, state)
    assert store.load_snapshot("SavingsAccount", "coop:m1") == (50, state)


def test_a_snapshot_that_cannot_be_saved_does_not_fail_the_stored_command(database, bank_registry):
    class NoSnapshots(EventStore):
        def save_snapshot(self, *args, **kwargs):
            raise StoreUnavailable("snapshot refused")

    store = NoSnapshots(database, bank_registry)
    application = Application(store, bank_registry)
    application.execute(Account, "a1", lambda a: a.open("coop-1", "siti"))
    for amount in range(1, 8):  # crosses Account.snapshot_every
        outcome = application.execute(Account, "a1", lambda a, amount=amount: a.deposit(amount))
        assert outcome.commit is not None
    assert store.load_snapshot("Account", "a1") is None
    assert Application(store, bank_registry).load(Account, "a1").balance == 28
