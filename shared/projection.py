"""Projections: read models built from the service's own events, in store order.

A projection's `handle(event, view)` reads and writes documents through a View. Every
stored document remembers the position of the last event applied to it (`_position`), and
a write for an event the document has already seen is ignored, so re-applying a batch
after a crash (before its checkpoint was saved) changes nothing. Deletes are real deletes
(re-applying a batch that deletes a document ends in the same state). Rule for authors: a
document's new state may depend only on the event and on that document's own state.

Live processing and `rebuild` run the same `handle` code over the same events; a rebuild
fills a fresh generation of the collections and then switches readers to it at once.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from .broker import BrokerUnavailable, connect, keep_alive, try_exclusive_lock
from .checkpoints import Checkpoints
from .envelope import Envelope
from .eventstore import Commit, EventStore, StoreUnavailable
from .metrics import Metrics
from .recent import RecentCommits

log = logging.getLogger(__name__)
_META = "projection_generations"
GENERATIONS_TTL = 1.0


class Projection:
    name: ClassVar[str]
    #: Event types this projection applies, e.g. {"membership.MemberAdmitted"}.
    handles: ClassVar[frozenset[str]] = frozenset()
    #: Logical collection names it owns.
    collections: ClassVar[tuple[str, ...]] = ()

    def handle(self, event: Envelope, view: View) -> None:
        raise NotImplementedError


def generation(database: Database, projection: str) -> int:
    document = database[_META].find_one({"_id": projection})
    return document["generation"] if document else 1


def read_model(database: Database, projection: str, collection: str) -> Collection:
    """The collection readers should query now (the current generation)."""
    return database[f"{collection}__g{generation(database, projection)}"]


class View:
    """Documents of one projection, buffered for a batch of events."""

    def __init__(self, load: Callable[[str, str], dict[str, Any] | None]):
        self._load = load
        self._docs: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._absent: set[tuple[str, str]] = set()  # not in the store when first read
        self.dirty: set[tuple[str, str]] = set()
        self.position = 0

    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        key = (collection, doc_id)
        if key not in self._docs:
            self._docs[key] = self._load(collection, doc_id)
            if self._docs[key] is None:
                self._absent.add(key)
        document = self._docs[key]
        return None if document is None or document.get("_deleted") else dict(document)

    def put(self, collection: str, doc_id: str, document: dict[str, Any]) -> None:
        if self._seen(collection, doc_id):
            return
        self._docs[(collection, doc_id)] = {**document, "_id": doc_id, "_position": self.position}
        self.dirty.add((collection, doc_id))

    def create(self, collection: str, doc_id: str, document: dict[str, Any]) -> None:
        """put() for a document only this event writes first (its id comes from the event): it
        is not read before, so it costs one insert. Applying the event again (after a crash)
        does not undo later changes: the runner keeps the stored document if it is newer."""
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
        self.get(collection, doc_id)
        current = self._docs[(collection, doc_id)]
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


def store_changes(database: Database, gen: int, view: View) -> None:
    """Writes what a batch changed into generation `gen` of the read models."""
    for collection, doc_id, document in view.changed():
        target = database[f"{collection}__g{gen}"]
        new = view.is_new(collection, doc_id)
        if document.get("_deleted"):
            if not new:
                target.delete_one({"_id": doc_id})
        elif new:  # an insert: one round trip, no read first
            try:
                target.insert_one(document)
            except DuplicateKeyError:  # applied before (View.create), or by a runner that lost the lock
                stored = target.find_one({"_id": doc_id}, {"_position": 1}) or {}
                if stored.get("_position", 0) < document["_position"]:
                    target.replace_one({"_id": doc_id}, document, upsert=True)
        else:
            target.replace_one({"_id": doc_id}, document, upsert=True)


class ProjectionRunner:
    """Keeps a service's projections up to date; one active runner per store (broker lock)."""

    def __init__(self, store: EventStore, projections: list[Projection], amqp_uri: str, service: str,
                 metrics: Metrics | None = None, batch_size: int = 2000, idle_wait: float = 0.5):
        self.store = store
        self.database = store.database
        self.projections = projections
        self.amqp_uri = amqp_uri
        self.service = service
        self.metrics = metrics or Metrics(service)
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.checkpoints = Checkpoints(self.database)
        self.active = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._head = 0
        self._recent = RecentCommits()
        self._checkpoints: dict[str, int] = {}
        self._from_memory = False
        self._generations: dict[str, int] = {}
        self._generations_read_at = -math.inf
        store.listeners.append(self._on_commit)

    def _on_commit(self, commit: Commit) -> None:
        self._head = max(self._head, commit.last_position)
        self._recent.add(commit)
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def checkpoint_name(self, projection: Projection) -> str:
        return f"projection:{projection.name}:g{generation(self.database, projection.name)}"

    def run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._hold_lock_and_project()
                backoff = 0.5
            except (BrokerUnavailable, StoreUnavailable, OSError) as error:
                log.warning("projections %s: %s; retrying in %.1fs", self.service, error, backoff)
            except Exception:  # a bug in a projection must not kill the process silently
                log.exception("projections %s failed; retrying in %.1fs", self.service, backoff)
            finally:
                self.active = False
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _hold_lock_and_project(self) -> None:
        connection = connect(self.amqp_uri)
        try:
            while not try_exclusive_lock(connection, f"kopnet.lock.{self.database.name}.projections"):
                if self._stop.wait(1.0):
                    return
            self.active = True
            self._checkpoints.clear()  # another runner may have moved them while this one waited
            self._generations_read_at = -math.inf
            alive_at = time.monotonic()
            while not self._stop.is_set():
                self._wake.clear()  # before looking: a commit added after the look wakes the wait
                progressed = self.catch_up_once()
                if time.monotonic() - alive_at > 1.0:  # the lock lives as long as this connection
                    keep_alive(connection)
                    alive_at = time.monotonic()
                if progressed:
                    continue
                self._wake.wait(self.checkpoints.due_in(self.idle_wait))
                self.checkpoints.flush(due_only=True)
        finally:
            connection.release()
            try:
                self.checkpoints.flush()
            except PyMongoError as error:  # kept in memory; a lagging checkpoint only re-applies
                log.warning("projections %s: checkpoints not stored: %s", self.service, error)

    def catch_up_once(self) -> bool:
        """Applies one batch to every projection that is behind; True if anything was applied."""
        states = self._states()
        positions = {checkpoint for _projection, _gen, checkpoint in states}
        # Commits this process just appended serve every projection when they all stand at
        # the same position (the steady state); otherwise each reads the store.
        together = positions.pop() if len(positions) == 1 else None
        shared = (self._recent.wait_after(together, lambda: self.store.appending > 0)
                  if together is not None else [])
        from_memory, self._from_memory = self._from_memory, bool(shared)
        if together is not None and not shared:
            # Right after this process's own commits, other processes' are looked for only after
            # the idle wait; otherwise one lookup by _id for all tells whether anything follows.
            if from_memory or not self.store.has_position(together + 1):
                return False
        progressed = False
        for projection, gen, checkpoint in states:
            progressed |= self._advance(projection, gen, checkpoint, shared)
        return progressed

    def _states(self) -> list[tuple[Projection, int, int]]:
        """Each projection's current generation (read at most every GENERATIONS_TTL seconds: a
        rebuild elsewhere may switch it, and what is applied to the old one meanwhile is only lost
        work) and
        checkpoint (this runner's own, the single writer while it holds the lock, kept in memory)."""
        if time.monotonic() - self._generations_read_at > GENERATIONS_TTL:
            self._generations = {doc["_id"]: doc["generation"] for doc in self.database[_META].find()}
            self._generations_read_at = time.monotonic()
        switched = self._generations
        states = []
        for projection in self.projections:
            gen = switched.get(projection.name, 1)
            name = f"projection:{projection.name}:g{gen}"
            if name not in self._checkpoints:
                self._checkpoints[name] = self.checkpoints.load(name)
            states.append((projection, gen, self._checkpoints[name]))
        return states

    def _advance(self, projection: Projection, gen: int, checkpoint: int, fresh: list[Envelope]) -> bool:
        checkpoint_name = f"projection:{projection.name}:g{gen}"
        # A projection's checkpoint always ends a commit (whole commits are applied), so a lookup
        # by _id tells whether anything follows, without the scan of a read.
        if not fresh and not self.store.has_position(checkpoint + 1):
            self.metrics.projection_lag_events.labels(self.service, projection.name).set(0)
            return False
        events = fresh or self.store.read_all(after=checkpoint, limit=self.batch_size)
        if not events:
            self.metrics.projection_lag_events.labels(self.service, projection.name).set(0)
            return False

        def load(collection: str, doc_id: str) -> dict[str, Any] | None:
            return self.database[f"{collection}__g{gen}"].find_one({"_id": doc_id})

        view = View(load)
        last = apply_events(projection, events, view)
        store_changes(self.database, gen, view)
        assert last is not None
        self.checkpoints.advance(checkpoint_name, last.position)
        self._checkpoints[checkpoint_name] = last.position
        self._head = max(self._head, last.position)
        lag = self.metrics.projection_lag_events.labels(self.service, projection.name)
        lag.set(max(0, self._head - last.position))
        age = datetime.now(UTC) - datetime.fromisoformat(last.occurred_at.replace("Z", "+00:00"))
        self.metrics.projection_lag_seconds.labels(self.service, projection.name).set(
            max(0.0, age.total_seconds()))
        return True


def rebuild(store: EventStore, projection: Projection,
            progress: Callable[[int, int], None] | None = None) -> int:
    """Rebuilds `projection` from position 0 into a new generation, then switches to it.

    Runs beside a live runner: the runner notices the new generation on its next batch
    and continues from the rebuild's checkpoint. Returns the number of events read.
    """
    database = store.database
    old = generation(database, projection.name)
    new = old + 1
    for collection in projection.collections:
        database[f"{collection}__g{new}"].drop()
    view = View(lambda collection, doc_id: None)
    total = store.head()
    seen = 0
    last_position = 0
    page: list[Envelope] = []
    for event in store.iterate_all():
        page.append(event)
        if len(page) >= 5000:
            apply_events(projection, page, view)
            seen, last_position, page = seen + len(page), page[-1].position, []
            if progress:
                progress(seen, max(total, seen))
    if page:
        apply_events(projection, page, view)
        seen, last_position = seen + len(page), page[-1].position
    by_collection: dict[str, list[dict[str, Any]]] = {}
    for collection, document in view.documents():
        by_collection.setdefault(collection, []).append(document)
    for collection, documents in by_collection.items():
        for start in range(0, len(documents), 1000):
            database[f"{collection}__g{new}"].insert_many(documents[start:start + 1000], ordered=False)
    Checkpoints(database).save(f"projection:{projection.name}:g{new}", last_position)
    database[_META].replace_one({"_id": projection.name}, {"_id": projection.name, "generation": new},
                                upsert=True)
    for collection in projection.collections:
        database[f"{collection}__g{old}"].drop()
    if progress:
        progress(seen, max(total, seen))
    return seen
