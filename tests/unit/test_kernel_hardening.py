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
