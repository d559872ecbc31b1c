"""Kernel hardening (issue 10), the points that are pure logic: tested without I/O."""
from __future__ import annotations

import pytest

from shared.application import Application
from shared.envelope import Envelope, utc_now
from shared.projection import Projection, View, apply_events
from tests.support.bankservice.domain import Account
from tests.support.memory_store import MemoryEventStore


def posted(position: int, amount: int) -> Envelope:
    return Envelope(f"e{position}", "bank.Deposited", 1, "Account", "a1", position, position, utc_now(),
                    "c1", "r", None, {"amount": amount})


class DayTotals(Projection):
    """Nested state changed in place, as ledger's JournalDays does."""

    name = "day_totals"
    collections = ("days",)
    handles = frozenset({"bank.Deposited"})

    def handle(self, event: Envelope, view: View) -> None:
        doc = view.get("days", "d1") or {"totals": {"cash": [0, 0]}}
        debit, credit = doc["totals"]["cash"]
        doc["totals"]["cash"] = [debit + event.payload["amount"], credit]
        view.put("days", "d1", doc)


def test_point1_a_replayed_batch_never_shows_a_handler_an_applied_event_s_effect():
    """Crash after the documents were stored and before the checkpoint: the batch [P1 (stored
    already), P3 (new)] is applied again. P1's nested change must not leak into P3's input."""
    stored = {"_id": "d1", "_position": 1, "totals": {"cash": [100, 0]}}
    view = View(lambda _collection, _doc_id: {**stored, "totals": {"cash": [100, 0]}})
    apply_events(DayTotals(), [posted(1, 100), posted(3, 5)], view)
    [(_collection, _doc_id, document)] = list(view.changed())
    assert document["totals"] == {"cash": [105, 0]}
    assert document["_position"] == 3


class Tiered(Account):
    """Account after a release that added a field: its snapshots are of version 2."""

    stream_type = "Account"
    snapshot_every = 2
    snapshot_version = 2

    def __init__(self, id: str):
        super().__init__(id)
        self.tier = "basic"


class OldAccount(Account):
    stream_type = "Account"
    snapshot_every = 2


def test_point7_a_snapshot_of_another_class_version_is_ignored():
    store = MemoryEventStore(__import__("tests.support.bankservice.schemas", fromlist=["r"]).registry)
    old = Application(store, store.registry)
    old.execute(OldAccount, "a1", lambda a: a.open("coop-1", "siti"))
    for amount in (1, 2, 3):
        old.execute(OldAccount, "a1", lambda a, amount=amount: a.deposit(amount))
    assert store.load_snapshot("Account", "a1") is not None, "version 1 took a snapshot"
    loaded = Application(store, store.registry).load(Tiered, "a1")
    assert (loaded.tier, loaded.balance, loaded.version) == ("basic", 6, 4)


class Tupled(Account):
    stream_type = "Account"
    snapshot_every = 1

    def apply_Deposited(self, data):
        super().apply_Deposited(data)
        self.last = (data["amount"], {1: "int key"})  # JSON would make this a list with a "1" key


def test_point7_a_state_json_would_change_is_not_snapshotted_and_the_command_stands():
    store = MemoryEventStore(__import__("tests.support.bankservice.schemas", fromlist=["r"]).registry)
    application = Application(store, store.registry)
    application.execute(Tupled, "a1", lambda a: a.open("coop-1", "siti"))
    outcome = application.execute(Tupled, "a1", lambda a: a.deposit(5))
    assert outcome.commit is not None
    assert store.load_snapshot("Account", "a1")[0] == 1, "the unfaithful state at version 2 was not stored"
    assert Application(store, store.registry).load(Tupled, "a1").last == (5, {1: "int key"})


def test_point8_a_hole_is_waited_for_then_passed_by_the_documented_rule():
    from shared.holes import Holes
    from shared.store_scan import in_order

    now = [0.0]
    holes = Holes(timeout=30, clock=lambda: now[0])
    commits = [{"position": 1, "end": 1}, {"position": 3, "end": 4}, {"position": 5, "end": 5}]  # 2 rolled back
    assert [c["position"] for c in in_order(commits, 0, holes)] == [1], "waits: it may be on its way"
    now[0] = 29.0
    assert [c["position"] for c in in_order(commits[1:], 1, holes)] == []
    now[0] = 31.0
    assert [c["position"] for c in in_order(commits[1:], 1, holes)] == [3, 5], "passed after the timeout"
    assert holes.declared == [2]
    assert [c["position"] for c in in_order(commits, 0)] == [1], "without a hole rule nothing is passed"
