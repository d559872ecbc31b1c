"""Where a single-active reader of the store (the relay, a projection) has got to.

`advance` stores a position at most every `interval` seconds per name; `flush` stores what it
kept back. A checkpoint that lags only repeats work after a crash, and that work is safe to
repeat (consumers de-duplicate relayed events, read-model documents carry their position),
while writing one per commit was the largest share of the store's work under load.
"""
from __future__ import annotations

import math
import time

from pymongo.database import Database


class Checkpoints:
    def __init__(self, database: Database, interval: float = 0.1):
        self.collection = database["checkpoints"]
        self.interval = interval
        self._unsaved: dict[str, int] = {}
        self._saved_at: dict[str, float] = {}

    def load(self, name: str) -> int:
        """The stored position, or one this process reached and has not stored yet if higher."""
        document = self.collection.find_one({"_id": name})
        return max(document["position"] if document else 0, self._unsaved.get(name, 0))

    def save(self, name: str, position: int) -> None:
        # One writer per name (it holds the broker lock), so a plain replace is safe.
        self.collection.replace_one({"_id": name}, {"_id": name, "position": position}, upsert=True)
        self._saved_at[name] = time.monotonic()
        if self._unsaved.get(name, position) <= position:
            self._unsaved.pop(name, None)

    def advance(self, name: str, position: int) -> None:
        self._unsaved[name] = position
        self.flush(due_only=True)

    def flush(self, due_only: bool = False) -> None:
        now = time.monotonic()
        for name, position in list(self._unsaved.items()):
            if not due_only or now - self._saved_at.get(name, -math.inf) >= self.interval:
                self.save(name, position)

    def due_in(self, otherwise: float) -> float:
        """Seconds until a kept-back position is due (`otherwise` when none is kept back)."""
        now = time.monotonic()
        due = [self._saved_at.get(name, -math.inf) + self.interval - now for name in self._unsaved]
        return max(0.0, min([otherwise, *due]))
