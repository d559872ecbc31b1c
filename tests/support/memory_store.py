"""An in-memory stand-in for shared.eventstore.EventStore (the part Application and rebuild
use), for unit tests without I/O: same commits, envelopes, version check and command ids."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from shared.envelope import Envelope, new_id, utc_now
from shared import snapshots
from shared.eventstore import Commit, CommandIdReused, ConcurrencyError, NewEvent
from shared.projection import Projection, View, apply_events
from shared.registry import EventRegistry


class MemoryEventStore:
    def __init__(self, registry: EventRegistry):
        self.registry = registry
        self.commits: list[Commit] = []
        self._versions: dict[tuple[str, str], int] = {}
        self._commands: dict[str, Commit] = {}
        self._snapshots: dict[tuple[str, str], tuple[int, int, str]] = {}
        self._lock = threading.Lock()
        self.listeners: list = []

    def append(self, stream_type: str, stream_id: str, expected_version: int, events: list[NewEvent], *,
               command_id: str | None = None, correlation_id: str | None = None,
               causation_id: str | None = None, cooperative_id: str | None = None) -> Commit:
        command_id = command_id or new_id()
        with self._lock:
            if command_id in self._commands:
                first = self._commands[command_id]
                if (first.stream_type, first.stream_id) != (stream_type, stream_id):
                    raise CommandIdReused("conflict", f"command id {command_id} was already used for "
                                          f"{first.stream_type} {first.stream_id}")
                return Commit(**{**vars(first), "duplicate": True})
            if self._versions.get((stream_type, stream_id), 0) != expected_version:
                raise ConcurrencyError(f"{stream_type} {stream_id} moved on")
            start = self.head() + 1
            envelopes = [
                Envelope(event_id=event.event_id or new_id(), event_type=event.event_type,
                         schema_version=self.registry.validate(event.event_type, event.payload),
                         stream_type=stream_type, stream_id=stream_id,
                         stream_version=expected_version + 1 + offset, position=start + offset,
                         occurred_at=utc_now(), cooperative_id=cooperative_id,
                         correlation_id=correlation_id or command_id, causation_id=causation_id,
                         payload=event.payload)
                for offset, event in enumerate(events)]
            commit = Commit(command_id, stream_type, stream_id, expected_version + 1,
                            expected_version + len(events), start, start + len(events) - 1, envelopes)
            self.commits.append(commit)
            self._commands[command_id] = commit
            self._versions[(stream_type, stream_id)] = expected_version + len(events)
        for listener in self.listeners:
            listener(commit)
        return commit

    def find_command(self, command_id: str) -> Commit | None:
        first = self._commands.get(command_id)
        return Commit(**{**vars(first), "duplicate": True}) if first else None

    def read_stream(self, stream_type: str, stream_id: str, after_version: int = 0) -> list[Envelope]:
        return [e for c in self.commits if (c.stream_type, c.stream_id) == (stream_type, stream_id)
                for e in c.events if e.stream_version > after_version]

    def iterate_all(self, after: int = 0) -> Iterator[Envelope]:
        return iter([e for c in self.commits for e in c.events if e.position > after])

    def head(self) -> int:
        return self.commits[-1].last_position if self.commits else 0

    def save_snapshot(self, stream_type: str, stream_id: str, version: int, state: dict[str, Any],
                      class_version: int = 1) -> None:
        # the same text the real store keeps, and the same refusal of unfaithful states
        self._snapshots[(stream_type, stream_id)] = (version, class_version, snapshots.encode(state))

    def load_snapshot(self, stream_type: str, stream_id: str, class_version: int = 1
                      ) -> tuple[int, dict[str, Any]] | None:
        found = self._snapshots.get((stream_type, stream_id))
        if found is None or found[1] != class_version:
            return None
        return found[0], snapshots.decode(found[2])


class MemoryReadModels:
    """Projections applied in memory, in batches as a runner would; `rebuilt` starts over."""

    def __init__(self, projections: list[Projection]):
        self.projections = projections
        self.docs: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.position = 0

    def catch_up(self, store: MemoryEventStore) -> MemoryReadModels:
        events = list(store.iterate_all(after=self.position))
        for projection in self.projections:
            view = View(lambda collection, doc_id, p=projection.name: self.docs.get((p, collection, doc_id)))
            apply_events(projection, events, view)
            for collection, doc_id, document in view.changed():
                self.docs[(projection.name, collection, doc_id)] = document
        if events:
            self.position = events[-1].position
        return self

    def find(self, projection: str, collection: str, **equal: Any) -> list[dict[str, Any]]:
        return [doc for (p, c, _), doc in sorted(self.docs.items()) if (p, c) == (projection, collection)
                and not doc.get("_deleted") and all(doc.get(k) == v for k, v in equal.items())]


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    """The query operators the services' read-model queries use (as mongoengine writes them)."""
    for key, wanted in query.items():
        if key in ("$or", "$and"):
            found = [_matches(doc, part) for part in wanted]
            if not (any(found) if key == "$or" else all(found)):
                return False
            continue
        value = doc.get(key)
        if isinstance(wanted, dict):
            if "$lte" in wanted and not (value is not None and value <= wanted["$lte"]):
                return False
            if "$gt" in wanted and not (value is not None and value > wanted["$gt"]):
                return False
            if "$in" in wanted and value not in wanted["$in"]:
                return False
        elif value != wanted and not (isinstance(value, list) and wanted in value):
            return False
    return True


class MemoryCursor:
    """What mongoengine's QuerySet uses of a pymongo Cursor (sort, limit, skip, batch_size,
    indexing, iteration), over a list."""

    def __init__(self, docs: list[dict[str, Any]]):
        self._docs, self._skip, self._limit = docs, 0, 0
        self._iter: Iterator[dict[str, Any]] | None = None

    def sort(self, keys: Any, direction: int = 1) -> MemoryCursor:
        for key, order in reversed([(keys, direction)] if isinstance(keys, str) else keys):
            self._docs.sort(key=lambda doc, k=key: doc.get(k), reverse=order < 0)
        return self

    def limit(self, count: int) -> MemoryCursor:
        self._limit = count
        return self

    def skip(self, count: int) -> MemoryCursor:
        self._skip = count
        return self

    def batch_size(self, _size: int) -> MemoryCursor:
        return self

    def _selected(self) -> list[dict[str, Any]]:
        docs = self._docs[self._skip:]
        return docs[:self._limit] if self._limit else docs

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._selected()[index]  # IndexError when there is none, as pymongo's

    def __iter__(self) -> MemoryCursor:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._iter is None:
            self._iter = iter(self._selected())
        return next(self._iter)


class MemoryCollection:
    def __init__(self, docs: list[dict[str, Any]]):
        self.docs = docs

    def find(self, query: dict[str, Any] | None = None, projection: dict[str, Any] | None = None,
             **_options: Any) -> MemoryCursor:
        found = [dict(doc) for doc in self.docs if _matches(doc, query or {})]
        if projection:
            found = [{key: value for key, value in doc.items() if key == "_id" or projection.get(key)}
                     for doc in found]
        return MemoryCursor(found)

    def find_one(self, query: dict[str, Any] | None = None) -> dict[str, Any] | None:
        return next(self.find(query), None)


class MemoryDatabase:
    """What `shared.projection.read_model` needs of a database, over projections applied in
    memory and kept caught up with the store on every read."""

    def __init__(self, store: MemoryEventStore, projections: list[Projection]):
        self.store = store
        self.models = MemoryReadModels(projections)

    def __getitem__(self, name: str) -> MemoryCollection:
        self.models.catch_up(self.store)
        wanted = name.rsplit("__g", 1)[0]
        return MemoryCollection([doc for (_p, collection, _id), doc in sorted(self.models.docs.items())
                                 if collection == wanted and not doc.get("_deleted")])
