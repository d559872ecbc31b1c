"""Where a single-active reader of the store (the relay, a projection) has got to.

`advance` stores a position at most every `interval` seconds per name; `flush` stores what it
kept back. A checkpoint that lags only repeats work after a crash, and that work is safe to
repeat (consumers de-duplicate relayed events, read-model documents carry their position),
while writing one per commit was the largest share of the store's work under load.
"""
from __future__ import annotations

import math
import time

from pymongo import ReplaceOne
from pymongo.database import Database


class Checkpoints:
    def __init__(self, database: Database, interval: float = 0.25):
        self.collection = database["checkpoints"]
        self.interval = interval
        self._unsaved: dict[str, int] = {}
        self._saved_at: dict[str, float] = {}

    def load(self, name: str) -> int:
        """The stored position, or one this process reached and has not stored yet if higher."""
        document = self.collection.find_one({"_id": name})
        return max(document["position"] if document else 0, self._unsaved.get(name, 0))

    def save(self, name: str, position: int) -> None:
        self._save({name: position})

    def _save(self, positions: dict[str, int]) -> None:
        # One writer per name (it holds the broker lock), so a plain replace is safe; the names
        # due together (a runner's projections advance together) go in one request.
        requests = [ReplaceOne({"_id": name}, {"_id": name, "position": position}, upsert=True)
                    for name, position in positions.items()]
        self.collection.bulk_write(requests, ordered=False)
        now = time.monotonic()
        for name, position in positions.items():
            self._saved_at[name] = now
            if self._unsaved.get(name, position) <= position:
                self._unsaved.pop(name, None)

    def advance(self, name: str, position: int, flush: bool = True) -> None:
        """Notes the position; stores it now if due (`flush=False`: the caller flushes later,
        once for several names)."""
        self._unsaved[name] = position
        if flush:
            self.flush(due_only=True)

    def flush(self, due_only: bool = False) -> None:
        now = time.monotonic()
        due = {name: position for name, position in self._unsaved.items()
               if not due_only or now - self._saved_at.get(name, -math.inf) >= self.interval}
        if due:
            self._save(due)

    def due_in(self, otherwise: float) -> float:
        """Seconds until a kept-back position is due (`otherwise` when none is kept back)."""
        now = time.monotonic()
        due = [self._saved_at.get(name, -math.inf) + self.interval - now for name in self._unsaved]
        return max(0.0, min([otherwise, *due]))
