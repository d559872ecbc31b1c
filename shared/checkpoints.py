"""Where a single-active reader of the store (the relay, a projection) has got to.

`advance` stores a position at most every `interval` seconds per name; `flush` stores what it
kept back. A checkpoint that lags only repeats work after a crash, and that work is safe to
repeat (consumers de-duplicate relayed events, read-model documents carry their position),
while writing one per commit was the largest share of the store's work under load. At the
former 0.25 s a busy service's relay and projections still wrote 8 a second, about 0.9 of the 9.3
store requests per mixed command; at 1 s, three interleaved rounds of the mix at 40/s sent 8.4-8.8
(docs/performance.md, session 13). A crash then repeats up to a second of work.

Names written together by one writer (a projection runner's projections) can share a `group`
document, one field per name: their positions then go in one single-statement update where a
document each took one statement each, and FerretDB v1 commits every statement on its own (a
runner's checkpoints were a fifth of the store's write statements in the mixed load). `load`
takes the highest of the name's own document and its field in the group, so positions stored
one way or the other (a rebuild stores its new generation's on its own) are both found.
"""
from __future__ import annotations

import math
import time

from pymongo import ReplaceOne
from pymongo.database import Database

#: The group of a projection runner's checkpoints (every reader of them passes it to `load`).
PROJECTIONS = "projections"


class Checkpoints:
    def __init__(self, database: Database, interval: float = 1.0, group: str | None = None):
        self.collection = database["checkpoints"]
        self.interval = interval
        self.group = group
        self._unsaved: dict[str, int] = {}
        self._saved_at: dict[str, float] = {}

    def load(self, name: str) -> int:
        """The stored position, or one this process reached and has not stored yet if higher.
        Read by `_id` lookups, which cost the same however many names the collection holds (the
        partner feed keeps one per partner); FerretDB v1 scans the collection for `$in`."""
        own = self.collection.find_one({"_id": name}) or {}
        grouped = (self.collection.find_one({"_id": self.group}) or {}) if self.group else {}
        return self._highest(name, own, grouped)

    def _highest(self, name: str, own: dict, grouped: dict) -> int:
        return max(own.get("position", 0), grouped.get(name, 0), self._unsaved.get(name, 0))

    def save(self, name: str, position: int) -> None:
        self._save({name: position})

    def _save(self, positions: dict[str, int]) -> None:
        # One writer per name (it holds the broker lock), so a plain replace or set is safe.
        if self.group:
            self.collection.update_one({"_id": self.group}, {"$set": positions}, upsert=True)
        else:
            self.collection.bulk_write([ReplaceOne({"_id": name}, {"_id": name, "position": position},
                                                   upsert=True) for name, position in positions.items()],
                                       ordered=False)
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
