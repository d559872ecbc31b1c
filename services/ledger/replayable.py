"""The base of the ledger's aggregates (services/ledger/books.py, savings.py)."""
from __future__ import annotations

from typing import Any

from shared.aggregate import Aggregate


class Replayable(Aggregate):
    """Snapshots are caches: one taken before a field of `state_fields` existed cannot be trusted
    to have it right, so such a state is dropped and the stream replayed from its start."""

    state_fields: tuple[str, ...] = ()

    @classmethod
    def from_snapshot(cls, state: dict[str, Any], copy: bool = True) -> Any:
        if any(name not in state for name in cls.state_fields):
            return cls(state["id"])  # version 0: the application reads the whole stream
        return super().from_snapshot(state, copy)
