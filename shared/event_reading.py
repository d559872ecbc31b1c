"""The event store's reading side: a stream by its index entries, every event in position order
(a page, commit by commit from a position, or one streamed scan), the head, a command's first
commit. EventStore (eventstore.py) is this plus writing; the relay, the projection runners and
the rebuilds only read. Every read names the store that did not answer (StoreUnavailable).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from .commits import (
    CommandIdReused,
    Commit,
    ConcurrencyError,
    OutcomeUnknown,
    StoreUnavailable,
    commit_from,
    envelopes_of,
)
from .envelope import Envelope
from .holes import Holes
from .registry import EventRegistry
from .store_scan import chunks_after, following, in_order, last_commit_end
from .stream_index import index_all, position_key, stream_key


class EventReading:
    database: Database
    registry: EventRegistry | None
    commits: Collection
    stream_index: Collection  # the index entries live beside the commits
    #: The store writes a commit and its index entry in one transaction (FerretDB on SQLite).
    pairs_atomic: bool

    def _index_all(self, documents: list[dict[str, Any]]) -> int:
        return index_all(self.stream_index, documents)

    def _guard(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except (DuplicateKeyError, ConcurrencyError, OutcomeUnknown, CommandIdReused):
            raise
        except PyMongoError as error:
            raise StoreUnavailable(
                f"event store {self.database.name!r} did not answer ({type(error).__name__}: "
                f"{error}); nothing was stored. Check that MongoDB/FerretDB runs at MONGODB_URI."
            ) from error

    def find_command(self, command_id: str) -> Commit | None:
        document = self._guard(lambda: self.commits.find_one({"command_id": command_id}))
        return self._commit_from(document, duplicate=True) if document else None

    def read_stream(self, stream_type: str, stream_id: str, after_version: int = 0) -> list[Envelope]:
        """The stream's events after `after_version` (a version a commit ends at, or 0)."""

        def follow() -> list[Envelope]:
            found: list[Envelope] = []
            version = after_version
            while entry := self.stream_index.find_one(
                    {"_id": stream_key(stream_type, stream_id, version + 1)}, {"_id": 0}):
                document = self.commits.find_one({"_id": position_key(entry["position"])})
                if document is None:  # only if commits were removed behind the store's back
                    raise StoreUnavailable(f"event store {self.database.name!r}: the commit at position "
                                           f"{entry['position']} of {stream_type} {stream_id} is missing")
                found.extend(self._envelopes(document))
                version = entry["last_version"]
            return found

        return self._guard(follow)

    def read_all(self, after: int = 0, limit: int = 1000, *, at_commit_end: bool = False) -> list[Envelope]:
        """Events with position > `after`, in position order; whole commits, at least `limit`
        events when that many exist (a page never splits a commit). `at_commit_end`: `after`
        ends a commit (a reader that advances by whole commits knows it), so none before it is read."""

        def page() -> list[Envelope]:
            found: list[Envelope] = []
            for document in self.commits.find(following(after, at_commit_end)).sort("_id", 1).limit(limit):
                found.extend(e for e in self._envelopes(document) if e.position > after)
            return found

        return self._guard(page)

    def read_following(self, after: int, limit: int = 256) -> list[Envelope]:
        """The commits that follow position `after` one by one, each found by `_id` (the position
        it starts at), until one is missing or at least `limit` events are read. `after` must end
        a commit (a projection's checkpoint does). Unlike `read_all`, its cost does not grow with
        the store: on FerretDB v1 a query on `end` scans every commit (0.3 s at 5,000 of them),
        a lookup by `_id` does not (0.7 ms). It stops at a position not stored yet, as a reader in
        position order must."""

        def follow() -> list[Envelope]:
            found: list[Envelope] = []
            position = after
            while len(found) < limit:
                document = self.commits.find_one({"_id": position_key(position + 1)})
                if document is None:
                    break
                found.extend(self._envelopes(document))
                position = document["end"]
            return found

        return self._guard(follow)

    def iterate_all(self, after: int = 0, *, reindex: bool = False, upcast: bool = True,
                    holes: Holes | None = None, at_commit_end: bool = False) -> Iterator[Envelope]:
        """Every event after `after` in position order, streamed from one unsorted cursor
        (store_scan.py restores the order and, given `holes`, passes a hole). `reindex` puts back
        the index entries of the commits read that lack one (the relay sweeps with it: it reads
        every commit another process stored), unless the store writes a commit and its entry in
        one transaction. `upcast=False` hands out events as stored (the relay upcasts each
        itself, so one that cannot be upcast does not stop the others); `at_commit_end` as for
        `read_all`."""
        unindexed: list[dict[str, Any]] = []
        try:
            for ready in in_order(chunks_after(self.commits, after, at_commit_end), after, holes):
                if reindex and not self.pairs_atomic:
                    unindexed.append(ready)
                    if len(unindexed) >= 1000:
                        self._index_all(unindexed)
                        unindexed = []
                for event in self._envelopes(ready, upcast):
                    if event.position > after:
                        yield event
            self._index_all(unindexed)
        except PyMongoError as error:
            raise StoreUnavailable(f"event store {self.database.name!r} stopped answering while "
                                   f"reading ({error}); run the command again.") from error

    def head(self) -> int:
        """The last stored position, read from the store (not the writer's cache)."""

        return self._guard(lambda: last_commit_end(self.commits))

    def has_position(self, position: int) -> bool:
        """Cheap check that a commit starts at `position` (a lookup by `_id`)."""
        found = self._guard(lambda: self.commits.find_one({"_id": position_key(position)}, {"_id": 1}))
        return found is not None

    def _envelopes(self, document: dict[str, Any], upcast: bool = True) -> list[Envelope]:
        return envelopes_of(document, self.registry, upcast)

    def _commit_from(self, document: dict[str, Any], duplicate: bool = False) -> Commit:
        return commit_from(document, self.registry, duplicate)
