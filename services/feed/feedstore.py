"""Each partner's feed: insert-only, gap-free `feed_position`s, each event at most once.

One document per (partner, position) in `partner_feed`, `_id` = "<partner>|<position, 20 digits>",
and a unique index on `dedup` = "<partner>|<event_id>". Why it holds without transactions (so on
FerretDB v1 as on MongoDB), the kernel event store's argument for one stream:

* Gap-free: a writer inserts at (a position it has *seen* stored) + 1 under the unique `_id`, so
  a position is only ever taken right after an existing one; entries are never removed.
* Never reused: a failed insert takes nothing; a taken `_id` is never written again.
* At most once per event: the unique `dedup` index refuses a second entry of one event, in one
  document insert (atomic everywhere). When an insert fails and no entry holds its `_id`, the
  `dedup` index refused it: the event is already in the feed.

Reads follow positions by `_id` lookups (gap-free: the first missing position is the end), the one
lookup FerretDB v1 serves from an index. The relay (partner_relay.py) publishes from here.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.envelope import Envelope, utc_now
from shared.eventstore import StoreUnavailable

_DIGITS = 20


def _key(partner_id: str, position: int) -> str:
    return f"{partner_id}|{str(position).zfill(_DIGITS)}"


@dataclass(frozen=True)
class Appended:
    partner_id: str
    feed_position: int | None  # None: the event was already in this feed (position not looked up)
    duplicate: bool


class FeedStore:
    def __init__(self, database: Database):
        self.entries = database["partner_feed"]
        self.partners = database["partner_feed_partners"]
        self._heads: dict[str, int] = {}
        self._lock = threading.Lock()
        #: called with each partner id after a new entry is stored (the relay wakes up)
        self.listeners: list[Callable[[str], None]] = []
        self._guard(lambda: self.entries.create_index([("dedup", 1)], unique=True, name="dedup"))

    @staticmethod
    def _guard(operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except DuplicateKeyError:
            raise
        except PyMongoError as error:
            raise StoreUnavailable(f"the feed store did not answer ({type(error).__name__}: {error}); "
                                   "nothing was stored") from error

    # -- writing -------------------------------------------------------------------------------------
    def append(self, partner_id: str, event: Envelope) -> Appended:
        """Stores `event` as the next entry of the partner's feed unless it is there already."""
        self._know(partner_id)
        with self._lock:  # this process's appends take positions in turn (others retry on conflict)
            while True:
                position = self._head(partner_id) + 1
                document = {"_id": _key(partner_id, position), "partner_id": partner_id,
                            "feed_position": position, "event_id": event.event_id,
                            "dedup": f"{partner_id}|{event.event_id}", "fed_at": utc_now(),
                            # as text: FerretDB v1 refuses some nested payload shapes
                            "envelope": event.to_json().decode()}
                try:
                    self._guard(lambda d=document: self.entries.insert_one(d))  # type: ignore[misc]
                except DuplicateKeyError:
                    holder = self._holder(partner_id, position)
                    if holder is None:  # the dedup index refused it
                        return Appended(partner_id, None, True)
                    self._heads[partner_id] = position
                    if holder["event_id"] == event.event_id:
                        return Appended(partner_id, position, True)
                    continue
                self._heads[partner_id] = position
                break
        for listener in self.listeners:
            listener(partner_id)
        return Appended(partner_id, position, False)

    def _holder(self, partner_id: str, position: int) -> dict[str, Any] | None:
        key = _key(partner_id, position)
        return self._guard(lambda: self.entries.find_one({"_id": key}, {"event_id": 1}))

    def _know(self, partner_id: str) -> None:
        """Records the partner once (insert-only), so the relay's sweep finds its feed."""
        if partner_id in self._heads:
            return
        try:
            self._guard(lambda: self.partners.insert_one({"_id": partner_id}))
        except DuplicateKeyError:
            pass

    def _head(self, partner_id: str) -> int:
        """The last stored position as this process knows it; found by a galloping search of
        `_id` lookups the first time (positions 1..head all exist)."""
        if partner_id not in self._heads:
            self._heads[partner_id] = self.head(partner_id)
        return self._heads[partner_id]

    # -- reading ---------------------------------------------------------------------------------------
    def _exists(self, partner_id: str, position: int) -> bool:
        return self._guard(lambda: self.entries.find_one({"_id": _key(partner_id, position)},
                                                         {"_id": 1})) is not None

    def head(self, partner_id: str) -> int:
        """The last position of the partner's feed, read from the store (0 when empty)."""
        low, high = 0, 1
        while self._exists(partner_id, high):
            low, high = high, high * 2
        while high - low > 1:  # low exists (or is 0), high does not
            middle = (low + high) // 2
            low, high = (middle, high) if self._exists(partner_id, middle) else (low, middle)
        return low

    def read(self, partner_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        """Entries after `after` in feed order, at most `limit`: envelope + feed_position."""
        found = []
        for position in range(after + 1, after + 1 + limit):
            document = self._guard(lambda p=position: self.entries.find_one(  # type: ignore[misc]
                {"_id": _key(partner_id, p)}, {"envelope": 1, "feed_position": 1, "fed_at": 1}))
            if document is None:
                break
            found.append({**json.loads(document["envelope"]), "feed_position": document["feed_position"],
                          "fed_at": document["fed_at"]})
        return found

    def known_partners(self) -> list[str]:
        return sorted(d["_id"] for d in self._guard(lambda: list(self.partners.find({}, {"_id": 1}))))
