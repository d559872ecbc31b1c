"""Commits this process has just appended, so a follower (relay, projections) can take
them from memory instead of reading them back from the store.

Only an unbroken chain that starts right after the follower's position is handed out:
positions are gap-free, so a missing link means another process appended in between,
and the follower falls back to reading the store. Memory is bounded: past `limit`
commits the buffer empties itself and the store is read instead.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .envelope import Envelope
from .eventstore import Commit


class RecentCommits:
    def __init__(self, limit: int = 5000):
        self.limit = limit
        self._by_start: dict[int, Commit] = {}
        self._lock = threading.Lock()
        self._added = threading.Condition(self._lock)

    def add(self, commit: Commit) -> None:
        with self._lock:
            if len(self._by_start) >= self.limit:
                self._by_start.clear()
            self._by_start[commit.first_position] = commit
            self._added.notify_all()

    def wait_after(self, position: int, expecting: Callable[[], bool], timeout: float = 0.1
                   ) -> list[Envelope]:
        """take_after, but while `expecting()` (an append of this process is on its way to its
        listeners: the commit may be stored and not yet here) waits for it up to `timeout`."""
        deadline = time.monotonic() + timeout
        while not (events := self.take_after(position)) and expecting():
            with self._lock:
                if position + 1 not in self._by_start:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._added.wait(remaining)
        return events

    def take_after(self, position: int) -> list[Envelope]:
        """The events of the unbroken chain of commits starting at position + 1."""
        with self._lock:
            for start in [s for s in self._by_start if s <= position]:
                del self._by_start[start]
            events: list[Envelope] = []
            while (commit := self._by_start.pop(position + 1, None)) is not None:
                events.extend(commit.events)
                position = commit.last_position
            return events
