"""The projection runner: keeps a service's read models up to date, one active runner per store.

Only the holder of the exclusive queue `kopnet.lock.<database>.projections` applies events;
its writes are fenced twice (view.store_changes): the lock is checked before a round's first
write (once for all its projections: a broker round trip each cost more than the writes of a
small batch), and every document write is conditional on its position, so a runner that paused
after losing the lock (GC, partition) cannot write older documents over its successor's.
A checkpoint lags by at most Checkpoints.interval; what is re-applied after a crash changes
nothing (view.py says why).
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import PyMongoError

from .broker import BrokerUnavailable, LockLost, check_lock, connect, keep_alive, try_exclusive_lock
from .checkpoints import PROJECTIONS, Checkpoints
from .envelope import Envelope
from .eventstore import Commit, EventStore, StoreUnavailable
from .holes import Holes
from .metrics import Metrics
from .read_models import META, Projection, create_indexes, generation
from .recent import RecentCommits
from .view import View, apply_events, store_changes

log = logging.getLogger(__name__)
GENERATIONS_TTL = 1.0
FOLLOW_BY_ID = 32  # events read commit by commit by _id after a checkpoint before one scan reads the rest
KEEP_DOCUMENTS = 20_000  # read-model documents remembered between batches (then forgotten at once)


class ProjectionRunner:
    """Keeps a service's projections up to date; one active runner per store (broker lock)."""

    def __init__(self, store: EventStore, projections: list[Projection], amqp_uri: str, service: str,
                 metrics: Metrics | None = None, batch_size: int = 2000, idle_wait: float = 0.5,
                 hole_timeout: float = 60.0):
        self.store = store
        self.database = store.database
        self.projections = projections
        self.amqp_uri = amqp_uri
        self.service = service
        self.metrics = metrics or Metrics(service)
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.checkpoints = Checkpoints(self.database, group=PROJECTIONS)
        self.active = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._head = 0
        self._recent = RecentCommits()
        self._checkpoints: dict[str, int] = {}
        # The read-model documents this runner last read or wrote, by (generation, collection, id):
        # while it holds the lock it is their one writer, so the next batch reads them from here
        # (a journal day or a cooperative's health is read back once per event otherwise). Emptied
        # whenever the store may hold something else: a new hold of the lock, a write that failed
        # or was refused as older.
        self._documents: dict[tuple[int, str, str], dict[str, Any] | None] = {}
        self._from_memory = False
        self.holes = Holes(hole_timeout, on_hole=lambda _position: self.metrics.position_holes.labels(
            self.service).inc())
        self._looked_past_at = -math.inf
        self._generations: dict[str, int] = {}
        self._generations_read_at = -math.inf
        #: Raises LockLost when the lock is gone; set while the lock is held (run()).
        self.fence: Callable[[], None] | None = None
        self._fenced = False  # whether this round (catch_up_once) has checked the lock
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
            except (BrokerUnavailable, StoreUnavailable, LockLost, OSError) as error:
                log.warning("projections %s: %s; retrying in %.1fs", self.service, error, backoff)
            except Exception:  # a bug in a projection must not kill the process silently
                self.metrics.loop_failures.labels(self.service, "projections").inc()
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
            lock = f"kopnet.lock.{self.database.name}.projections"
            self.fence = lambda: check_lock(connection, lock)
            self._checkpoints.clear()  # another runner may have moved them while this one waited
            self._documents.clear()  # and written read-model documents
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
            self.fence = None
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
        # the same position (the steady state), else one read of the store does; projections
        # at different positions (one rebuilt) each read their own.
        together = positions.pop() if len(positions) == 1 else None
        shared = (self._recent.wait_after(together, lambda: self.store.appending > 0)
                  if together is not None else [])
        from_memory, self._from_memory = self._from_memory, bool(shared)
        if together is not None and not shared:
            # Right after this process's own commits, other processes' are looked for only after
            # the idle wait; otherwise one read serves all (its first lookup by _id tells whether
            # anything follows).
            if from_memory:
                return False
            shared = self._read_after(together)
            if not shared:
                return False
        progressed, self._fenced = False, False
        for projection, gen, checkpoint in states:
            progressed |= self._advance(projection, gen, checkpoint, shared)
        self.checkpoints.flush(due_only=True)  # the projections' due positions in one request
        return progressed

    def _read_after(self, checkpoint: int) -> list[Envelope]:
        """The commits after `checkpoint`: the next few by `_id` (a projection's checkpoint always
        ends a commit: whole commits are applied), a read that costs the same however big the
        store; when that many follow, a backlog, the rest of the batch by one scan (on FerretDB v1
        a scan costs as much for 2,000 events as for one, and lookups one by one take a round
        trip each, so a runner that fell behind would catch up slower than events arrive)."""
        events = self.store.read_following(checkpoint, limit=FOLLOW_BY_ID)
        if len(events) >= FOLLOW_BY_ID:
            for event in self.store.read_all(after=events[-1].position, limit=self.batch_size,
                                             at_commit_end=True):
                if event.position != events[-1].position + 1:
                    break  # a position not visible yet: the next read starts there, by _id
                events.append(event)
        return events or self._past_a_hole(checkpoint)

    def _past_a_hole(self, checkpoint: int) -> list[Envelope]:
        """On MongoDB, where a replica set can roll a commit back under later ones (holes.py), a
        position missing while later ones are stored is waited for `holes.timeout`, then passed:
        looked for by a scan at most every quarter of it. FerretDB, one node, has no holes."""
        every = max(self.holes.timeout / 4, 1.0)
        if self.store.pairs_atomic or time.monotonic() - self._looked_past_at < every:
            return []
        self._looked_past_at = time.monotonic()
        beyond = self.store.read_all(after=checkpoint, limit=self.batch_size, at_commit_end=True)
        if beyond and (beyond[0].position == checkpoint + 1 or self.holes.passable(checkpoint + 1)):
            return beyond
        return []

    def _store(self, gen: int, view: View) -> None:
        """store_changes, remembering what was written (the View never changes a document it
        was handed: a change is a new dict), or forgetting everything when not all of it was."""
        written = False
        try:
            written = store_changes(self.database, gen, view, self._fence_once)
        finally:
            if not written or len(self._documents) > KEEP_DOCUMENTS:
                self._documents.clear()
        if written:
            for collection, doc_id, document in view.changed():
                self._documents[(gen, collection, doc_id)] = None if document.get("_deleted") else document

    def _fence_once(self) -> None:
        """The lock check before this round's first write. The round's later writes come a few
        milliseconds after it, as a single projection's later writes always did: what keeps a
        runner that paused after the check from writing older documents over its successor's is
        that every document write is conditional on its position."""
        if not self._fenced and self.fence is not None:
            self.fence()
            self._fenced = True

    def _states(self) -> list[tuple[Projection, int, int]]:
        """Each projection's current generation (read at most every GENERATIONS_TTL seconds: a
        rebuild elsewhere may switch it, and what is applied to the old one meanwhile is only lost
        work) and
        checkpoint (this runner's own, the single writer while it holds the lock, kept in memory)."""
        if time.monotonic() - self._generations_read_at > GENERATIONS_TTL:
            self._generations = {doc["_id"]: doc["generation"] for doc in self.database[META].find()}
            self._generations_read_at = time.monotonic()
        switched = self._generations
        states = []
        for projection in self.projections:
            gen = switched.get(projection.name, 1)
            name = f"projection:{projection.name}:g{gen}"
            if name not in self._checkpoints:  # a generation first seen while holding the lock
                create_indexes(self.database, gen, projection)
                self._checkpoints[name] = self.checkpoints.load(name)
            states.append((projection, gen, self._checkpoints[name]))
        return states

    def _advance(self, projection: Projection, gen: int, checkpoint: int, fresh: list[Envelope]) -> bool:
        checkpoint_name = f"projection:{projection.name}:g{gen}"
        events = fresh or self._read_after(checkpoint)
        if not events:
            self.metrics.projection_lag_events.labels(self.service, projection.name).set(0)
            return False

        def load(collection: str, doc_id: str) -> dict[str, Any] | None:
            key = (gen, collection, doc_id)
            if key not in self._documents:
                self._documents[key] = self.database[f"{collection}__g{gen}"].find_one({"_id": doc_id})
            return self._documents[key]

        view = View(load)
        last = apply_events(projection, events, view)
        self._store(gen, view)
        assert last is not None
        # events[0]: the oldest of the batch, all of which follow the checkpoint
        self.metrics.projection_event_age_seconds.labels(self.service, projection.name).observe(
            _age(events[0]))
        self.checkpoints.advance(checkpoint_name, last.position, flush=False)  # catch_up_once flushes
        self._checkpoints[checkpoint_name] = last.position
        self._head = max(self._head, last.position)
        lag = self.metrics.projection_lag_events.labels(self.service, projection.name)
        lag.set(max(0, self._head - last.position))
        self.metrics.projection_lag_seconds.labels(self.service, projection.name).set(_age(last))
        return True


def _age(event: Envelope) -> float:
    """Seconds since the event occurred (0 for a clock that is behind the event's)."""
    occurred = datetime.fromisoformat(event.occurred_at.replace("Z", "+00:00"))
    return max(0.0, (datetime.now(UTC) - occurred).total_seconds())
