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

Reading a stream goes through its index entries (stream_index.py), inserted with the commit
(one insert_many, ordered: one transaction on FerretDB). An entry missing because a writer
died between the two writes (MongoDB does not make insert_many atomic) is put back by the next
writer of that stream, by a retry of the command, and by the relay.
* A command id names one command on one stream: reused for another stream it raises
  CommandIdReused (409), never a silent duplicate that stored nothing.
* "Nothing was stored" (StoreUnavailable) is said only when known: a write whose outcome is
  unknown (the connection broke after the insert was sent, a write-concern timeout) is
  resolved by looking the command id up; if that cannot tell, OutcomeUnknown (503) asks the
  caller to retry with the same command id, which stores the command at most once.
* A writer whose head is stale re-reads the head after two misses, instead of walking the
  commits it missed one lookup at a time under the append lock.
* On MongoDB (not FerretDB, which has neither) commits are written with write concern
  "majority" and read with read concern "majority", so what the relay and projections have
  seen is never rolled back; a position that still goes missing is handled by holes.py.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DuplicateKeyError,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
)
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from . import snapshots
from .commits import (
    MAX_EVENTS_PER_COMMIT,
    RETRY_AFTER,
    CommandIdReused,
    Commit,
    ConcurrencyError,
    NewEvent,
    OutcomeUnknown,
    PendingCommit,
    StoreUnavailable,
)
from .envelope import new_id, utc_now
from .event_reading import EventReading
from .group_commit import GroupCommit
from .registry import EventRegistry
from .store_connection import connect, is_ferretdb
from .store_scan import last_commit_end
from .stream_index import (
    COMMITS_ONLY,
    INDEX_COMPLETE,
    INDEX_ENTRY,
    index_entry,
    position_key,
    stream_key,
)

__all__ = ["INDEX_ENTRY", "Commit", "CommandIdReused", "ConcurrencyError", "EventStore", "NewEvent",
           "OutcomeUnknown", "StoreUnavailable", "connect"]

class EventStore(EventReading):
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
        # retry; they go together instead (group_commit.py), each taking the next position in one
        # insert. Other processes' appends still meet at the unique _id and retry, as the module says.
        self._group: GroupCommit[Commit] = GroupCommit(self._insert_batch)
        self.listeners: list[Callable[[Commit], None]] = []
        # Appends of this process between their insert and their listeners: a follower that finds
        # a commit in the store but not yet in memory waits for them instead of scanning.
        self.appending = 0
        self._guard(self._ensure_indexes)

    def _ensure_indexes(self) -> None:
        self.pairs_atomic = is_ferretdb(self.database)
        if not self.pairs_atomic:  # MongoDB: nothing a follower saw or a writer stored is rolled back
            self.commits = self.database.get_collection(
                "commits", read_concern=ReadConcern("majority"), write_concern=WriteConcern("majority"))
            self.stream_index = self.commits
        self.commits.create_index(
            [("stream_type", 1), ("stream_id", 1), ("first_version", 1)],
            unique=True,
            name="stream_version",
        )
        self.commits.create_index([("command_id", 1)], unique=True, name="command")
        # Earlier versions also indexed `end`. Every reader selects commits by `_id` range (`end`
        # only narrows a range), so that index was only upkeep on every insert: ~8 % of an append
        # on FerretDB v1, which keeps a secondary index as an expression over the document's JSON.
        if "end" in self.commits.index_information():
            self.commits.drop_index("end")
        if self.stream_index.find_one({"_id": INDEX_COMPLETE["_id"]}, {"_id": 1}) is None:
            self.ensure_stream_index()

    def ensure_stream_index(self) -> int:
        """Adds the missing index entries of every commit (a full read of the commits); returns
        how many were missing."""
        added, batch = 0, []
        for document in self.commits.find(COMMITS_ONLY, {"events": 0}):
            batch.append(document)
            if len(batch) >= 1000:
                added, batch = added + self._index_all(batch), []
        added += self._index_all(batch)
        try:
            self.stream_index.insert_one(dict(INDEX_COMPLETE))
        except DuplicateKeyError:
            pass
        return added

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
        document = self._document(PendingCommit(stream_type, stream_id, expected_version, events,
                                                command_id or new_id(), correlation_id, causation_id,
                                                cooperative_id))
        self.appending += 1
        try:
            commit = self._guard(lambda: self._group.submit(document))
            if not commit.duplicate:
                self._announce(commit)
        finally:
            self.appending -= 1
        return commit

    def _document(self, pending: PendingCommit) -> dict[str, Any]:
        events = pending.events
        if not events:
            raise ValueError("a commit needs at least one event")
        if len(events) > MAX_EVENTS_PER_COMMIT:
            raise ValueError(f"a commit holds at most {MAX_EVENTS_PER_COMMIT} events")
        now = utc_now()
        stored_events = []
        for offset, event in enumerate(events):
            version = self.registry.validate(event.event_type, event.payload) if self.registry else 1
            stored_events.append(
                {
                    "event_id": event.event_id or new_id(),
                    "event_type": event.event_type,
                    "schema_version": version,
                    "stream_version": pending.expected_version + 1 + offset,
                    "occurred_at": event.occurred_at or now,
                    "payload": event.payload,
                }
            )
        return {
            "stream_type": pending.stream_type,
            "stream_id": pending.stream_id,
            "first_version": pending.expected_version + 1,
            "last_version": pending.expected_version + len(events),
            "command_id": pending.command_id,
            "correlation_id": pending.correlation_id or pending.command_id,
            "causation_id": pending.causation_id,
            "cooperative_id": pending.cooperative_id,
            "committed_at": now,
            "events": stored_events,
        }

    def append_all(self, commits: list[PendingCommit]) -> list[Commit | None]:
        """Several commits, each as `append` takes one, in one ordered insert (several events of one
        consumer's batch, several of them on one stream, each under its own command id). The stored
        ones, and None for each not known to be stored: refused (its stream moved on, its command
        id was stored before), not sent because an earlier commit of its stream was refused, or an
        outcome the store did not tell. Its writer sends that one again through `append`, which
        stores a command id at most once and answers a repeated one with its first commit."""
        documents = [self._document(pending) for pending in commits]
        self.appending += 1
        try:
            outcomes = self._guard(lambda: self._group.submit_all(documents))
            stored = [o if isinstance(o, Commit) and not o.duplicate else None for o in outcomes]
            for commit in filter(None, stored):
                self._announce(commit)
        finally:
            self.appending -= 1
        return stored

    def _announce(self, commit: Commit) -> None:
        for listener in self.listeners:
            listener(commit)

    def _insert_batch(self, documents: list[dict[str, Any]]) -> list[Commit | Exception]:
        """Stores the documents at the next positions, in order, in one ordered insert_many (each
        commit followed by its index entry); one outcome per document. Ordered, so a failure
        stores nothing after it: the stored commits always end right below the next free position
        and the chain stays gap-free. A document that failed because another process took its
        position goes again with the rest; a stream conflict or a repeated command id ends only
        its own document."""
        outcomes: dict[int, Commit | Exception] = {}
        try:
            self._insert_rounds(documents, outcomes)
        except Exception as error:  # noqa: BLE001 - the documents not yet stored end in it
            for number in range(len(documents)):
                outcomes.setdefault(number, error)
        return [outcomes[number] for number in range(len(documents))]

    def _insert_rounds(self, documents: list[dict[str, Any]],
                       outcomes: dict[int, Commit | Exception]) -> None:
        pending = list(range(len(documents)))
        misses = 0
        while pending:
            if misses >= 2:  # stale by more than a commit or two: ask the store, do not walk
                with self._head_lock:
                    self._head = None
                misses = 0
            position = self._known_head() + 1
            operations: list[dict[str, Any]] = []
            for number in pending:
                document = documents[number]
                size = len(document["events"])
                document.update(_id=position_key(position), position=position, end=position + size - 1)
                operations += [document, index_entry(document)]
                position += size
            try:
                self.commits.insert_many(operations, ordered=True)
            except BulkWriteError as error:
                failed = (error.details.get("writeErrors") or [{}])[0]
                stored, failed_at = divmod(int(failed.get("index", 0)), 2)
                for number in pending[:stored]:
                    outcomes[number] = self._stored(documents[number])
                if failed.get("code") != 11000:
                    raise  # pending[stored:] are not stored: an ordered insert stops at the error
                number, pending = pending[stored], pending[stored + 1:]
                if failed_at == 1:  # the commit is stored; its entry was already put back
                    outcomes[number] = self._stored(documents[number])
                    continue
                conflict = self._conflict(documents[number])
                if conflict is None:  # another process holds the position: go again with the rest
                    pending.insert(0, number)
                    misses += 1
                else:
                    outcomes[number] = conflict
                    pending = _unsent_after(documents, number, pending, outcomes)
                continue
            except (AutoReconnect, WriteConcernError) as error:
                if isinstance(error, ServerSelectionTimeoutError):
                    raise  # nothing was sent: "nothing was stored" is known
                for number in pending:
                    outcomes[number] = self._resolve_or_error(documents[number], error)
                break
            for number in pending:
                outcomes[number] = self._stored(documents[number])
            break

    def _stored(self, document: dict[str, Any]) -> Commit:
        self._saw_head(document["end"])
        return self._commit_from(document)

    def _conflict(self, document: dict[str, Any]) -> Commit | Exception | None:
        """Why a commit's insert hit a unique key: None when another commit holds its position
        (the head moves past it), else its first commit (the command was stored before) or the
        error its writer raises."""
        holder = self.commits.find_one({"_id": document["_id"]}, {"end": 1})
        if holder is not None:
            self._saw_head(holder["end"])
            return None
        try:
            first = self._same_command(document)
        except CommandIdReused as reused:
            return reused
        if first is not None:  # its writer may have died before indexing it
            self._repair_index(first.stream_type, first.stream_id, first.first_version)
            return first
        self._repair_index(document["stream_type"], document["stream_id"], document["first_version"])
        return ConcurrencyError(
            f"{document['stream_type']} {document['stream_id']} already has version "
            f"{document['first_version']}: it changed since it was read")

    def _resolve_or_error(self, document: dict[str, Any], error: PyMongoError) -> Commit | Exception:
        try:
            return self._resolve_unknown(document, error)
        except (OutcomeUnknown, CommandIdReused) as unresolved:
            return unresolved

    def _same_command(self, document: dict[str, Any]) -> Commit | None:
        """The commit stored under the document's command id, if any; CommandIdReused when that
        commit belongs to another stream (idempotency is per command id *and* stream)."""
        first = self.find_command(document["command_id"])
        if first is not None and (first.stream_type, first.stream_id) != (
                document["stream_type"], document["stream_id"]):
            raise CommandIdReused("conflict", f"command id {document['command_id']} was already used for "
                                  f"{first.stream_type} {first.stream_id}, not {document['stream_type']} "
                                  f"{document['stream_id']}", {"command_id": [document["command_id"]]})
        return first

    def _resolve_unknown(self, document: dict[str, Any], error: PyMongoError) -> Commit:
        """The insert was sent and its answer lost: the command id tells whether it was stored."""
        command_id = document["command_id"]
        try:
            first = self._same_command(document)
        except StoreUnavailable:
            first = None
        if first is not None:
            self._repair_index(first.stream_type, first.stream_id, first.first_version)
            if first.first_version == document["first_version"]:
                self._saw_head(first.last_position)
                return Commit(**{**vars(first), "duplicate": False})  # this call stored it
            return first
        raise OutcomeUnknown(
            f"event store {self.database.name!r}: the outcome of command {command_id} is unknown "
            f"({type(error).__name__}: {error}); retry it with the same command id (the same "
            f"Idempotency-Key) in {RETRY_AFTER} s: it is stored at most once", command_id) from error

    def _known_head(self) -> int:
        with self._head_lock:
            if self._head is None:
                self._head = last_commit_end(self.commits)
            return self._head

    def _saw_head(self, end: int) -> None:
        with self._head_lock:
            self._head = max(self._head or 0, end)

    def _repair_index(self, stream_type: str, stream_id: str, from_version: int) -> None:
        """After a conflict at `from_version`: if that commit has no index entry (its writer died
        between the two inserts), index the stream from there so the next read sees it."""
        if self.stream_index.find_one({"_id": stream_key(stream_type, stream_id, from_version)}, {"_id": 1}):
            return
        query = {"stream_type": stream_type, "stream_id": stream_id, "first_version": {"$gte": from_version}}
        self._index_all(list(self.commits.find(query, {"events": 0})))

    # -- snapshots -----------------------------------------------------------------------------
    def save_snapshot(self, stream_type: str, stream_id: str, version: int, state: dict[str, Any],
                      class_version: int = 1) -> None:
        """Stores the state as JSON text (snapshots.py: only a faithful one; NotFaithful otherwise)."""
        key = f"{stream_type}:{stream_id}"
        document = {"_id": key, "version": version, "class_version": class_version,
                    "state_json": snapshots.encode(state)}
        self._guard(lambda: self.snapshots.replace_one({"_id": key}, document, upsert=True))

    def load_snapshot(self, stream_type: str, stream_id: str, class_version: int = 1
                      ) -> tuple[int, dict[str, Any]] | None:
        """The snapshot if it was taken by the same `class_version` of the aggregate, else None."""
        key = f"{stream_type}:{stream_id}"
        document = self._guard(lambda: self.snapshots.find_one({"_id": key}))
        if document is None or document.get("class_version", 1) != class_version:
            return None
        return document["version"], snapshots.decode(document["state_json"])


def _unsent_after(documents: list[dict[str, Any]], refused: int, pending: list[int],
                  outcomes: dict[int, Commit | Exception]) -> list[int]:
    """`pending` without the later commits of the refused one's stream (append_all sends several
    commits of a stream at once): each was made on top of the refused one, so none is sent; the
    others go on."""
    stream = (documents[refused]["stream_type"], documents[refused]["stream_id"])
    kept = []
    for number in pending:
        if (documents[number]["stream_type"], documents[number]["stream_id"]) == stream:
            outcomes[number] = ConcurrencyError(
                f"{stream[0]} {stream[1]}: not stored, an earlier commit of it in the same batch was refused")
        else:
            kept.append(number)
    return kept
