"""The documents of one projection as a batch of events sees them, and their fenced writes.

Guarantees, and why they hold:

* A handler never sees the effect of an event already applied to a document. Every stored
  document carries `_position`, the last event applied to it; `put`/`delete` for an event at or
  below it are ignored, and `get` hands out a deep copy, so a handler that changes nested
  state (totals in a dict) changes only its copy, never the document later events read.
* Writes never go backwards (fencing). `store_changes` writes a document only over a stored
  one with a lower `_position` (the condition is part of the write, so the store decides
  atomically): a runner that paused after losing its lock cannot put older documents over
  its successor's. Deletes leave a tombstone-free store: a delete is conditional the same way.

Rule for authors: a document's new state may depend only on the event and that document's
own state (so re-applying a batch after a crash ends in the same state).
"""
from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from .envelope import Envelope
from .read_models import Projection
from .stream_index import insert_missing


def _deep_copy(document: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = pickle.loads(pickle.dumps(document, pickle.HIGHEST_PROTOCOL))
    return copied


class View:
    """Documents of one projection, buffered for a batch of events."""

    def __init__(self, load: Callable[[str, str], dict[str, Any] | None]):
        self._load = load
        self._docs: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._absent: set[tuple[str, str]] = set()  # not in the store when first read
        self.dirty: set[tuple[str, str]] = set()
        self.position = 0

    def _current(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        key = (collection, doc_id)
        if key not in self._docs:
            self._docs[key] = self._load(collection, doc_id)
            if self._docs[key] is None:
                self._absent.add(key)
        return self._docs[key]

    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        """A deep copy: changing it changes nothing until `put`."""
        document = self._current(collection, doc_id)
        return None if document is None or document.get("_deleted") else _deep_copy(document)

    def put(self, collection: str, doc_id: str, document: dict[str, Any]) -> None:
        if self._seen(collection, doc_id):
            return
        self._docs[(collection, doc_id)] = {**document, "_id": doc_id, "_position": self.position}
        self.dirty.add((collection, doc_id))

    def create(self, collection: str, doc_id: str, document: dict[str, Any]) -> None:
        """put() for a document only this event writes first (its id comes from the event): it
        is not read before, so it costs one insert. Applying the event again (after a crash)
        does not undo later changes: the write is fenced by position."""
        key = (collection, doc_id)
        if key not in self._docs:
            self._docs[key] = None
            self._absent.add(key)
        self.put(collection, doc_id, document)

    def delete(self, collection: str, doc_id: str) -> None:
        if self._seen(collection, doc_id):
            return
        self._docs[(collection, doc_id)] = {"_id": doc_id, "_position": self.position, "_deleted": True}
        self.dirty.add((collection, doc_id))

    def _seen(self, collection: str, doc_id: str) -> bool:
        current = self._current(collection, doc_id)
        return current is not None and current.get("_position", 0) >= self.position

    def is_new(self, collection: str, doc_id: str) -> bool:
        """True when the document was not stored before this batch."""
        return (collection, doc_id) in self._absent

    def changed(self) -> Iterable[tuple[str, str, dict[str, Any]]]:
        for collection, doc_id in sorted(self.dirty):
            document = self._docs[(collection, doc_id)]
            assert document is not None
            yield collection, doc_id, document

    def documents(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for (collection, _doc_id), document in self._docs.items():
            if document is not None and not document.get("_deleted"):
                yield collection, document


def apply_events(projection: Projection, events: Iterable[Envelope], view: View) -> Envelope | None:
    last = None
    for event in events:
        last = event
        if event.event_type in projection.handles:
            view.position = event.position
            projection.handle(event, view)
    return last


def store_changes(database: Database, gen: int, view: View,
                  fence: Callable[[], None] | None = None) -> bool:
    """Writes what a batch changed into generation `gen` of the read models, each write only
    over an older document; True when every one of them was written (False: a stored document
    was as new or newer, so the store no longer holds exactly what the view has). `fence()` is
    called first: it raises when the writer no longer holds the projections' lock, so a runner
    that lost it stops before its first write.

    The batch's new documents go in one unordered `insert_many` per collection (a runner that
    falls behind takes bigger batches, so its store work per event shrinks under load); one that
    exists already (applied before, or written by a successor) is then written as a change."""
    if fence is not None and view.dirty:
        fence()
    new: dict[str, list[dict[str, Any]]] = {}
    changes: list[tuple[str, dict[str, Any]]] = []  # (collection, document); its _id is the doc id
    written = True
    for collection, doc_id, document in view.changed():
        if document.get("_deleted"):
            if not view.is_new(collection, doc_id):
                deleted = database[f"{collection}__g{gen}"].delete_one(
                    {"_id": doc_id, "_position": {"$lt": document["_position"]}})
                written &= deleted.deleted_count == 1
        elif view.is_new(collection, doc_id):  # an insert: no read first
            new.setdefault(collection, []).append(document)
        else:
            changes.append((collection, document))
    for collection, documents in new.items():
        changes += [(collection, d) for d in insert_missing(database[f"{collection}__g{gen}"], documents)]
    for collection, document in changes:
        older = {"_id": document["_id"], "_position": {"$lt": document["_position"]}}
        try:
            database[f"{collection}__g{gen}"].replace_one(older, document, upsert=True)
        except DuplicateKeyError:  # the stored document is as new or newer: never go backwards
            written = False
    return written
