"""Outbox relay: publishes stored events to RabbitMQ in store order, at least once.

The store is the outbox. The relay reads commits after its checkpoint, publishes each
event persistently on a confirm-mode channel (pipelined: a whole batch is in flight, then
it waits for the broker's acks), and only then moves the checkpoint. A crash at any point
re-sends from the last checkpoint: duplicates are possible, losses are not; consumers
de-duplicate by event_id. Only the holder of the exclusive queue
`kopnet.lock.<database>.relay` relays, so several replicas of a service (sharing its
store) never publish at once.

An internal event type (shared/registry.py) is passed by: the checkpoint moves over it, nothing
is sent.

Before it publishes anything, the relay declares the queues and bindings of every
subscription in the declared list (topology.py), so no event is dropped as unroutable
because its consumer has not started yet.

The loop never dies (issue 10): any failure is logged, counted (kopnet_loop_failures_total)
and followed by a growing backoff (at most 5 s), never a tight loop. A stored event that
cannot be turned into a message (it cannot be upcast or serialised: no retry would help) is
recorded in `relay_unpublishable`, counted (kopnet_relay_unpublishable_events_total, alert
KopnetRelayEventUnpublishable) and passed by at once, so the events of other streams behind
it are not held up at all; after a fix an operator re-sends it with `kopnet events redeliver`.
Consumers then see a gap in that stream's versions until it is re-sent.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from functools import partial

import amqp
from pymongo.errors import PyMongoError

from .broker import (
    EVENTS_EXCHANGE,
    BrokerUnavailable,
    ConfirmedPublisher,
    PublishFailed,
    connect,
    declare_events_exchange,
    event_message,
    keep_alive,
    try_exclusive_lock,
)
from .checkpoints import Checkpoints
from .envelope import Envelope
from .eventstore import Commit, EventStore, StoreUnavailable
from .holes import Holes
from .metrics import Metrics
from .prefetch import prefetched
from .publisher import Pipeline
from .recent import RecentCommits
from .topology import QueueSpec, declare_all

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, store: EventStore, amqp_uri: str, service: str, metrics: Metrics | None = None,
                 batch_size: int = 1000, idle_wait: float = 0.5, confirm_timeout: float = 30.0,
                 topology: list[QueueSpec] | None = None, hole_timeout: float = 60.0):
        self.store = store
        self.amqp_uri = amqp_uri
        self.service = service
        self.metrics = metrics or Metrics(service)
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.confirm_timeout = confirm_timeout
        self.checkpoints = Checkpoints(store.database)
        #: Every subscription's queues and bindings, declared before the first publish.
        self.topology = topology or []
        self.holes = Holes(hole_timeout, on_hole=self._on_hole)
        self._full_scan_at = 0.0
        self.lock_name = f"kopnet.lock.{store.database.name}.relay"  # one relay per store
        self.checkpoint_name = "relay"
        self.active = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._known_head = 0
        self._recent = RecentCommits()
        # Whether the checkpoint is known to end a commit (a stored one may not: batches of the
        # first read after a start can split a commit), so the next commit starts right after it.
        self._at_commit_end = False
        # Whether the last pass took this process's own commits from memory: the next one then
        # waits (woken by the next own commit, or idle_wait later) before looking in the store.
        self._from_memory = False
        self._relayed = 0  # the end of the last confirmed batch of the current pass
        store.listeners.append(self._on_commit)

    def _on_commit(self, commit: Commit) -> None:
        self._known_head = max(self._known_head, commit.last_position)
        self._recent.add(commit)
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        """Runs until stop(): waits for the lock, relays, reconnects after failures."""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._hold_lock_and_relay()
                backoff = 0.5
            except (BrokerUnavailable, StoreUnavailable, PublishFailed, OSError,
                    amqp.exceptions.AMQPError) as error:
                log.warning("relay %s: %s; retrying in %.1fs", self.service, error, backoff)
            except Exception:  # noqa: BLE001 - never die (nameko would stop the whole service)
                self.metrics.loop_failures.labels(self.service, "relay").inc()
                log.exception("relay %s failed; retrying in %.1fs", self.service, backoff)
            finally:
                self.active = False
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _hold_lock_and_relay(self) -> None:
        connection = connect(self.amqp_uri)
        try:
            while not try_exclusive_lock(connection, self.lock_name):
                if self._stop.wait(1.0):
                    return
            self.active = True
            publisher = ConfirmedPublisher(connection, self.confirm_timeout)
            declare_events_exchange(publisher.channel)
            declare_all(publisher.channel, self.topology)
            checkpoint = self.checkpoints.load(self.checkpoint_name)
            self._at_commit_end = False
            while not self._stop.is_set():
                self._wake.clear()  # before looking: a commit added after the look wakes the wait
                published = self.relay_pending(publisher, checkpoint)
                if published > checkpoint:
                    checkpoint = published
                    continue
                self._wake.wait(self.checkpoints.due_in(self.idle_wait))
                self.checkpoints.flush(due_only=True)
                keep_alive(connection)
        finally:
            connection.release()
            self._flush_checkpoints()

    def _flush_checkpoints(self) -> None:
        try:
            self.checkpoints.flush()
        except PyMongoError as error:  # kept in memory; a lagging checkpoint only re-publishes
            log.warning("relay %s: checkpoint not stored: %s", self.service, error)

    def relay_pending(self, publisher: ConfirmedPublisher, checkpoint: int) -> int:
        """Publishes every event after `checkpoint` from one store cursor; returns the new
        checkpoint. Batch n+1 is sent while batch n waits for its confirms; the checkpoint
        only ever moves to the end of a confirmed batch."""
        self._relayed = checkpoint
        pipeline = Pipeline(publisher)
        just_appended = self._recent.wait_after(checkpoint, lambda: self.store.appending > 0)
        if just_appended:  # the common case: this process wrote them a moment ago
            self._send(pipeline, just_appended)
            self._at_commit_end = self._from_memory = True
            pipeline.drain()
            return self._relayed
        if self._from_memory:  # other processes' commits are looked for after the idle wait
            self._from_memory = False
            return checkpoint
        if self._at_commit_end and not self.store.has_position(checkpoint + 1) and not self._scan_due():
            return checkpoint  # nothing stored after it: a lookup by _id instead of a scan
        self._full_scan_at = time.monotonic()
        batch: list[Envelope] = []
        for event in prefetched(self.store.iterate_all(after=checkpoint, reindex=True, upcast=False,
                                                       holes=self.holes, at_commit_end=self._at_commit_end)):
            batch.append(event)
            if len(batch) >= self.batch_size:
                self._send(pipeline, batch)
                batch = []
        if batch:
            self._send(pipeline, batch)
        pipeline.drain()
        self._update_backlog(self._relayed)
        self._at_commit_end = True  # the cursor yields whole commits
        return self._relayed

    def _send(self, pipeline: Pipeline, batch: list[Envelope]) -> None:
        self._known_head = max(self._known_head, batch[-1].position)
        registry = self.store.registry
        leaving = [event for event in batch if registry is None or registry.leaves_service(event.event_type)]
        pipeline.send(self._messages(leaving), partial(self._confirmed, batch, len(leaving)))

    def _confirmed(self, batch: list[Envelope], published: int) -> None:
        """Called by the pipeline once every event of `batch` (and of the batches before it) is
        confirmed: only then may the checkpoint pass them (and the internal events among them,
        which are never published)."""
        self.after_publish(batch)
        position = batch[-1].position
        self.checkpoints.advance(self.checkpoint_name, position)
        self.metrics.events_published.labels(self.service).inc(published)
        self._update_backlog(position)
        self._relayed = position

    def _messages(self, batch: list[Envelope]) -> Iterator[tuple[str, str, amqp.Message]]:
        registry = self.store.registry
        for event in batch:
            try:
                current = registry.published(registry.upcast(event)) if registry else event
                message = event_message(current)
            except Exception as error:  # noqa: BLE001 - no retry helps: record it and go on
                self._unpublishable(event, error)
                continue
            yield EVENTS_EXCHANGE, event.event_type, message

    def _unpublishable(self, event: Envelope, error: Exception) -> None:
        log.error("relay %s: event %s (position %d, %s %s v%d) cannot be published: %s: %s; passed by, "
                  "recorded in relay_unpublishable", self.service, event.event_id, event.position,
                  event.stream_type, event.stream_id, event.stream_version, type(error).__name__, error)
        self.metrics.unpublishable_events.labels(self.service).inc()
        record = {"_id": event.position, "event_id": event.event_id, "event_type": event.event_type,
                  "stream_type": event.stream_type, "stream_id": event.stream_id,
                  "stream_version": event.stream_version, "error": f"{type(error).__name__}: {error}"[:2000]}
        try:
            unpublishable = self.store.database["relay_unpublishable"]
            unpublishable.replace_one({"_id": record["_id"]}, record, upsert=True)
        except PyMongoError as failure:  # the log line and the metric still say it
            log.warning("relay %s: could not record unpublishable event: %s", self.service, failure)

    def _scan_due(self) -> bool:
        """A full read now and then even when nothing follows the checkpoint by _id: a hole at
        checkpoint + 1 (holes.py) is only seen by reading what lies beyond it. Not on FerretDB:
        a single node rolls nothing back, so no hole can appear, and there every read scans
        the whole collection (every 15 s, that would grow with the store)."""
        if self.store.pairs_atomic:
            return False
        return time.monotonic() - self._full_scan_at > max(self.holes.timeout / 4, 1.0)

    def _on_hole(self, position: int) -> None:
        self.metrics.position_holes.labels(self.service).inc()

    def after_publish(self, events: list[Envelope]) -> None:
        """A seam between publish and checkpoint (crash tests stop the process here)."""

    def _update_backlog(self, checkpoint: int) -> None:
        self.metrics.outbox_backlog.labels(self.service).set(max(0, self._known_head - checkpoint))
