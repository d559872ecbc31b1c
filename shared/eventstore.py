"""The event store: one MongoDB database per service, one document per commit.

Why it is correct without transactions (and so on FerretDB v1 as on MongoDB):

* Atomic commit: all events of one command live in one `commits` document, and a single
  document insert is atomic everywhere.
* Optimistic concurrency: a unique index on (stream_type, stream_id, first_version). A
  commit made from a stale read claims a `first_version` that an existing commit already
  holds, so the insert fails and nothing is stored, across processes.
* Idempotency: a unique index on `command_id`; a repeated command finds its first commit.
* Position: a commit takes the positions [start, end] with `_id` = start. A writer always
  tries start = (end of a commit it has *seen*) + 1, under the unique `_id` index. Every
  commit therefore begins right after one that was already visible, so the commits form
  one gap-free chain and a commit can only become visible after every commit below it.
  A reader who has seen position p thus never later finds a new event below p. A failed
  insert consumes nothing, so positions are never reused. After a conflict the writer
  learns the end of the commit that holds `start` (a lookup by `_id`) and tries again.

Reading a stream goes through its index entries, one per commit keyed by (stream,
first_version) in its `_id`, kept in `commits` beside the commit and inserted with it (one
insert_many, ordered: one transaction on FerretDB): every step of a read is a lookup by `_id`,
the one lookup every MongoDB-compatible store serves from an index (FerretDB v1 pushes nothing
else down, so a query on `stream_id` scans every commit of the service). Entries are derived
data: the commits stay the truth. Entries carry `stream_type` INDEX_ENTRY and no `end`, so
every reader of commits (by `end`, by `command_id`, by stream) passes them by. An entry missing
because a writer died between the two writes (MongoDB does not make insert_many atomic) is put
back by the next writer of that stream, whose append meets the commit it did not see, by a
retry of the command, and by the relay; `ensure_stream_index` indexes a store written before
entries existed.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import mongoengine.connection
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from .envelope import Envelope, new_id, utc_now
from .registry import EventRegistry

MAX_EVENTS_PER_COMMIT = 1000
_POSITION_DIGITS = 20


class ConcurrencyError(Exception):
    """The stream moved on since it was read: reload and decide again."""


class StoreUnavailable(Exception):
    """The store did not answer; nothing was stored."""


@dataclass(frozen=True)
class NewEvent:
    event_type: str
    payload: dict[str, Any]
    event_id: str = ""
    occurred_at: str = ""


@dataclass(frozen=True)
class Commit:
    command_id: str
    stream_type: str
    stream_id: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int
    events: list[Envelope]
    #: True when the command had been stored before and this is its first result.
    duplicate: bool = False


def _key(position: int) -> str:
    # A string `_id`: FerretDB v1 pushes down only string and ObjectId `_id` equality.
    return str(position).zfill(_POSITION_DIGITS)


def _stream_key(stream_type: str, stream_id: str, first_version: int) -> str:
    return f"{stream_type}\x1f{stream_id}\x1f{first_version}"


INDEX_ENTRY = "~index"  # the stream_type of index entries (no aggregate is called so)


def _index_entry(commit: dict[str, Any]) -> dict[str, Any]:
    key = _stream_key(commit["stream_type"], commit["stream_id"], commit["first_version"])
    # unique values for the unique indexes of commits, and no `end`
    return {"_id": key, "stream_type": INDEX_ENTRY, "stream_id": key, "first_version": 0,
            "command_id": f"{INDEX_ENTRY}\x1f{key}", "last_version": commit["last_version"],
            "position": commit["position"]}


# every commit stored before this marker has its entry
_INDEX_COMPLETE = {"_id": "~complete", "stream_type": INDEX_ENTRY, "stream_id": "~complete",
                   "first_version": 0, "command_id": "~complete"}
_COMMITS_ONLY = {"end": {"$gte": 1}}


def connect(uri: str, database: str, timeout_ms: int = 5000) -> Database:
    """The service's database through mongoengine's connection registry (one client per
    URI and database, shared by the store and the read models); fails fast with
    StoreUnavailable when nobody answers."""
    alias = f"kopnet:{database}:{uri}:{timeout_ms}"
    if alias not in _registered:
        mongoengine.connection.register_connection(
            alias,
            db=database,
            host=uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms * 6, 30000),
            retryWrites=False,  # FerretDB has no sessions; commands are idempotent by command_id
            tz_aware=True,
            uuidRepresentation="standard",
        )
        _registered.add(alias)
    return mongoengine.connection.get_db(alias)


_registered: set[str] = set()


class EventStore:
    def __init__(self, database: Database, registry: EventRegistry | None = None):
        self.database = database
        self.registry = registry
        self.commits: Collection = database["commits"]
        self.snapshots: Collection = database["snapshots"]
        self.stream_index: Collection = self.commits  # the index entries live beside the commits
        # FerretDB (SQLite) stores an insert_many in one transaction, so a commit never lacks its
        # entry there and the relay's sweep (iterate_all(reindex=True)) has nothing to repair.
        self.pairs_atomic = False
        self._head: int | None = None
        self._head_lock = threading.Lock()
        # Concurrent appends of one process would all try the same next position and all but one
        # retry (an insert and a lookup each, per round); in turn, each takes it at the first try.
        # Other processes' appends still meet at the unique _id and retry, as the module says.
        self._append_lock = threading.Lock()
        self.listeners: list[Callable[[Commit], None]] = []
        # Appends of this process between their insert and their listeners: a follower that finds
        # a commit in the store but not yet in memory waits for them instead of scanning.
        self.appending = 0
        self._guard(self._ensure_indexes)

    def _ensure_indexes(self) -> None:
        self.pairs_atomic = "ferretdbVersion" in self.database.client.admin.command("buildInfo")
        self.commits.create_index(
            [("stream_type", 1), ("stream_id", 1), ("first_version", 1)],
            unique=True,
            name="stream_version",
        )
        self.commits.create_index([("command_id", 1)], unique=True, name="command")
        self.commits.create_index([("end", 1)], name="end")
        if self.stream_index.find_one({"_id": _INDEX_COMPLETE["_id"]}, {"_id": 1}) is None:
            self.ensure_stream_index()

    def ensure_stream_index(self) -> int:
        """Adds the missing index entries of every commit (a full read of the commits); returns
        how many were missing."""
        added, batch = 0, []
        for document in self.commits.find(_COMMITS_ONLY, {"events": 0}):
            batch.append(document)
            if len(batch) >= 1000:
                added, batch = added + self._index_all(batch), []
        added += self._index_all(batch)
        try:
            self.stream_index.insert_one(dict(_INDEX_COMPLETE))
        except DuplicateKeyError:
            pass
        return added

    def _index_all(self, documents: list[dict[str, Any]]) -> int:
        """Inserts the index entries of `documents` that are missing; returns how many were."""
        if not documents:
            return 0
        try:
            self.stream_index.insert_many([_index_entry(d) for d in documents], ordered=False)
        except BulkWriteError as error:  # entries that exist already: all that may fail here
            if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
                raise
            return int(error.details.get("nInserted", 0))
        return len(documents)

    def _guard(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except (DuplicateKeyError, ConcurrencyError):
            raise
        except PyMongoError as error:
            raise StoreUnavailable(
                f"event store {self.database.name!r} did not answer ({type(error).__name__}: "
                f"{error}); nothing was stored. Check that MongoDB/FerretDB runs at MONGODB_URI."
            ) from error

    # -- writing ------------------------------------------------------------------------------
    def append(
        self,
        stream_type: str,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
        *,
        command_id: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        cooperative_id: str | None = None,
    ) -> Commit:
        """Stores `events` as versions expected_version+1.. of the stream, all or nothing.

        `expected_version` must come from reading the stream (0 for a new stream).
        Raises ConcurrencyError if the stream has moved on, StoreUnavailable if the store
        does not answer. Re-sending a `command_id` returns the first commit unchanged.
        """
        if not events:
            raise ValueError("a commit needs at least one event")
        if len(events) > MAX_EVENTS_PER_COMMIT:
            raise ValueError(f"a commit holds at most {MAX_EVENTS_PER_COMMIT} events")
        command_id = command_id or new_id()
        correlation_id = correlation_id or command_id
        now = utc_now()
        stored_events = []
        for offset, event in enumerate(events):
            version = self.registry.validate(event.event_type, event.payload) if self.registry else 1
            stored_events.append(
                {
                    "event_id": event.event_id or new_id(),
                    "event_type": event.event_type,
                    "schema_version": version,
                    "stream_version": expected_version + 1 + offset,
                    "occurred_at": event.occurred_at or now,
                    "payload": event.payload,
                }
            )
        document: dict[str, Any] = {
            "stream_type": stream_type,
            "stream_id": stream_id,
            "first_version": expected_version + 1,
            "last_version": expected_version + len(events),
            "command_id": command_id,
            "correlation_id": correlation_id,
            "causation_id": causation_id,
            "cooperative_id": cooperative_id,
            "committed_at": now,
            "events": stored_events,
        }
        self.appending += 1
        try:
            with self._append_lock:  # appends of one process take positions in turn (see _insert)
                commit = self._guard(lambda: self._insert(document))
            if not commit.duplicate:
                for listener in self.listeners:
                    listener(commit)
        finally:
            self.appending -= 1
        return commit

    def _insert(self, document: dict[str, Any]) -> Commit:
        size = len(document["events"])
        while True:
            start = self._known_head() + 1
            document.update(_id=_key(start), position=start, end=start + size - 1)
            try:
                self.commits.insert_many([document, _index_entry(document)], ordered=True)
            except BulkWriteError as error:
                failed = error.details.get("writeErrors") or [{}]
                if any(e.get("code") != 11000 for e in failed):
                    raise
                if failed[0].get("index") == 1:  # the commit is stored; its entry was already put back
                    self._saw_head(start + size - 1)
                    return self._commit_from(document)
                holder = self.commits.find_one({"_id": _key(start)}, {"end": 1})
                if holder is not None:
                    self._saw_head(holder["end"])
                    continue
                first = self.find_command(document["command_id"])
                if first is not None:  # its writer may have died before indexing it
                    self._repair_index(first.stream_type, first.stream_id, first.first_version)
                    return first
                self._repair_index(document["stream_type"], document["stream_id"], document["first_version"])
                raise ConcurrencyError(
                    f"{document['stream_type']} {document['stream_id']} already has version "
                    f"{document['first_version']}: it changed since it was read"
                ) from None
            self._saw_head(start + size - 1)
            return self._commit_from(document)

    def _known_head(self) -> int:
        with self._head_lock:
            if self._head is None:
                last = self.commits.find_one(_COMMITS_ONLY, {"end": 1}, sort=[("_id", -1)])
                self._head = last["end"] if last else 0
            return self._head

    def _saw_head(self, end: int) -> None:
        with self._head_lock:
            self._head = max(self._head or 0, end)

    # -- reading ------------------------------------------------------------------------------
    def find_command(self, command_id: str) -> Commit | None:
        document = self._guard(lambda: self.commits.find_one({"command_id": command_id}))
        return self._commit_from(document, duplicate=True) if document else None

    def read_stream(self, stream_type: str, stream_id: str, after_version: int = 0) -> list[Envelope]:
        """The stream's events after `after_version` (a version a commit ends at, or 0)."""

        def follow() -> list[Envelope]:
            found: list[Envelope] = []
            version = after_version
            while entry := self.stream_index.find_one(
                    {"_id": _stream_key(stream_type, stream_id, version + 1)}, {"_id": 0}):
                document = self.commits.find_one({"_id": _key(entry["position"])})
                if document is None:  # only if commits were removed behind the store's back
                    raise StoreUnavailable(f"event store {self.database.name!r}: the commit at position "
                                           f"{entry['position']} of {stream_type} {stream_id} is missing")
                found.extend(self._envelopes(document))
                version = entry["last_version"]
            return found

        return self._guard(follow)

    def _repair_index(self, stream_type: str, stream_id: str, from_version: int) -> None:
        """After a conflict at `from_version`: if that commit has no index entry (its writer died
        between the two inserts), index the stream from there so the next read sees it."""
        if self.stream_index.find_one({"_id": _stream_key(stream_type, stream_id, from_version)}, {"_id": 1}):
            return
        query = {"stream_type": stream_type, "stream_id": stream_id, "first_version": {"$gte": from_version}}
        self._index_all(list(self.commits.find(query, {"events": 0})))

    def read_all(self, after: int = 0, limit: int = 1000) -> list[Envelope]:
        """Events with position > `after`, in position order; whole commits, at least `limit`
        events when that many exist (a page never splits a commit)."""

        def page() -> list[Envelope]:
            found: list[Envelope] = []
            cursor = self.commits.find({"end": {"$gt": after}}).sort("_id", 1).limit(limit)
            for document in cursor:
                found.extend(e for e in self._envelopes(document) if e.position > after)
            return found

        return self._guard(page)

    def iterate_all(self, after: int = 0, *, reindex: bool = False) -> Iterator[Envelope]:
        """Every event after `after` in position order, streamed from one cursor.

        The cursor is unsorted so the server streams while it scans (FerretDB v1 sorts in
        memory after a full scan); commits are put back in order here, which is cheap
        because positions are gap-free: the next commit always starts at the last end + 1.
        A commit that arrives before its predecessor waits; anything still waiting when
        the cursor ends (a commit that became visible during the scan) is left for the
        next read. `reindex` puts back the index entries of the commits read that lack one
        (the relay sweeps with it: it reads every commit another process stored), unless the
        store writes a commit and its entry in one transaction.
        """
        waiting: dict[int, dict[str, Any]] = {}
        next_start: int | None = None
        unindexed: list[dict[str, Any]] = []
        try:
            for document in self.commits.find({"end": {"$gt": after}}).batch_size(1000):
                if next_start is None and document["position"] <= after + 1:
                    next_start = document["position"]
                waiting[document["position"]] = document
                while next_start is not None and next_start in waiting:
                    ready = waiting.pop(next_start)
                    next_start = ready["end"] + 1
                    if reindex and not self.pairs_atomic:
                        unindexed.append(ready)
                        if len(unindexed) >= 1000:
                            self._index_all(unindexed)
                            unindexed = []
                    for event in self._envelopes(ready):
                        if event.position > after:
                            yield event
            self._index_all(unindexed)
        except PyMongoError as error:
            raise StoreUnavailable(f"event store {self.database.name!r} stopped answering while "
                                   f"reading ({error}); run the command again.") from error

    def head(self) -> int:
        """The last stored position, read from the store (not the writer's cache)."""

        def last() -> int:
            document = self.commits.find_one(_COMMITS_ONLY, {"end": 1}, sort=[("_id", -1)])
            return document["end"] if document else 0

        return self._guard(last)

    def has_position(self, position: int) -> bool:
        """Cheap check that a commit starts at `position` (a lookup by `_id`)."""
        return self._guard(lambda: self.commits.find_one({"_id": _key(position)}, {"_id": 1})) is not None

    # -- snapshots -----------------------------------------------------------------------------
    def save_snapshot(self, stream_type: str, stream_id: str, version: int, state: dict[str, Any]) -> None:
        # The state as JSON text: any JSON-able state is stored as it is (FerretDB v1 refuses
        # nested arrays in documents, e.g. a list of [date, kind, amount] movements).
        key = f"{stream_type}:{stream_id}"
        document = {"_id": key, "version": version, "state_json": json.dumps(state, separators=(",", ":"))}
        self._guard(lambda: self.snapshots.replace_one({"_id": key}, document, upsert=True))

    def load_snapshot(self, stream_type: str, stream_id: str) -> tuple[int, dict[str, Any]] | None:
        key = f"{stream_type}:{stream_id}"
        document = self._guard(lambda: self.snapshots.find_one({"_id": key}))
        if document is None:
            return None
        state = json.loads(document["state_json"]) if "state_json" in document else document["state"]
        return document["version"], state

    # -- envelopes -----------------------------------------------------------------------------
    def _envelopes(self, document: dict[str, Any]) -> list[Envelope]:
        envelopes = []
        for offset, event in enumerate(document["events"]):
            envelope = Envelope(
                event_id=event["event_id"],
                event_type=event["event_type"],
                schema_version=event["schema_version"],
                stream_type=document["stream_type"],
                stream_id=document["stream_id"],
                stream_version=event["stream_version"],
                position=document["position"] + offset,
                occurred_at=event["occurred_at"],
                cooperative_id=document["cooperative_id"],
                correlation_id=document["correlation_id"],
                causation_id=document["causation_id"],
                payload=event["payload"],
            )
            envelopes.append(self.registry.upcast(envelope) if self.registry else envelope)
        return envelopes

    def _commit_from(self, document: dict[str, Any], duplicate: bool = False) -> Commit:
        return Commit(
            command_id=document["command_id"],
            stream_type=document["stream_type"],
            stream_id=document["stream_id"],
            first_version=document["first_version"],
            last_version=document["last_version"],
            first_position=document["position"],
            last_position=document["end"],
            events=self._envelopes(document),
            duplicate=duplicate,
        )
