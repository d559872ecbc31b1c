"""Relays each partner's feed (feedstore.py) to its queue `partner.<id>`, at least once, in order.

The kernel's outbox pattern (shared/relay.py) per partner: entries after the partner's checkpoint
are published persistently on a confirm-mode channel to the topic exchange `kopnet.partner-feed`
(routing key = the queue's name; the queue is declared and bound first, so nothing is unroutable),
and the checkpoint moves only after the broker confirmed them. A crash anywhere re-sends from the
checkpoint: a message may come twice (same event_id, same feed_position), none is lost, and the
queue carries exactly what the replay (GET /feed) reads, in the same order. Only the holder of the
exclusive queue `kopnet.lock.<database>.partner-feed` relays, so replicas never publish at once.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from functools import partial
from typing import Any

import amqp

from shared.broker import (
    BrokerUnavailable,
    ConfirmedPublisher,
    PublishFailed,
    connect,
    keep_alive,
    try_exclusive_lock,
)
from shared.checkpoints import Checkpoints
from shared.eventstore import StoreUnavailable
from shared.publisher import Pipeline

from .domain import instant
from .feedstore import FeedStore
from .schemas import EXCHANGE, queue_name

log = logging.getLogger(__name__)


def declare_partner_queue(channel: Any, partner_id: str) -> str:
    """The partner's durable queue, bound to the feed exchange (idempotent)."""
    queue = queue_name(partner_id)
    channel.exchange_declare(EXCHANGE, "topic", durable=True, auto_delete=False)
    channel.queue_declare(queue, durable=True, auto_delete=False)
    channel.queue_bind(queue, EXCHANGE, queue)
    return queue


def feed_message(entry: dict[str, Any]) -> amqp.Message:
    """The envelope plus `feed_position`, persistent; `timestamp` (when it was fed) lets the
    management API report the age of a queue's oldest message."""
    body = {key: value for key, value in entry.items() if key != "fed_at"}
    return amqp.Message(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
                        content_type="application/json", delivery_mode=2, message_id=entry["event_id"],
                        type=entry["event_type"], timestamp=int(instant(entry["fed_at"]).timestamp()),
                        application_headers={"feed_position": entry["feed_position"]})


class PartnerFeedRelay:
    def __init__(self, store: FeedStore, database: Any, amqp_uri: str, metrics: Any = None,
                 batch_size: int = 200, idle_wait: float = 0.5, sweep_every: float = 5.0):
        self.store = store
        self.amqp_uri = amqp_uri
        self.metrics = metrics  # services/feed/monitor.FeedMetrics, or None
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.sweep_every = sweep_every
        self.checkpoints = Checkpoints(database)
        self.lock_name = f"kopnet.lock.{database.name}.partner-feed"
        self.active = False
        self.positions: dict[str, int] = {}  # partner -> last confirmed feed_position
        self._pending: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        store.listeners.append(self.notify)

    def notify(self, partner_id: str) -> None:
        self._pending.add(partner_id)
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Runs until stop(): waits for the lock, relays, reconnects after failures."""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._hold_lock_and_relay()
                backoff = 0.5
            except (BrokerUnavailable, StoreUnavailable, PublishFailed, OSError,
                    amqp.exceptions.AMQPError) as error:
                log.warning("partner feed relay: %s; retrying in %.1fs", error, backoff)
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
            publisher = ConfirmedPublisher(connection)
            declared: set[str] = set()
            self.positions = {}
            next_sweep = 0.0
            while not self._stop.is_set():
                self._wake.clear()
                partners, self._pending = self._pending, set()
                if time.monotonic() >= next_sweep:  # entries other processes stored, or before a crash
                    partners |= set(self.store.known_partners())
                    next_sweep = time.monotonic() + self.sweep_every
                for partner_id in sorted(partners):
                    if partner_id not in declared:
                        declare_partner_queue(publisher.channel, partner_id)
                        declared.add(partner_id)
                    self.relay_partner(publisher, partner_id)
                self._wake.wait(self.checkpoints.due_in(self.idle_wait))
                self.checkpoints.flush(due_only=True)
                keep_alive(connection)
        finally:
            connection.release()
            try:
                self.checkpoints.flush()
            except Exception as error:  # noqa: BLE001 - a lagging checkpoint only re-publishes
                log.warning("partner feed relay: checkpoints not stored: %s", error)

    def relay_partner(self, publisher: ConfirmedPublisher, partner_id: str) -> int:
        """Publishes the partner's entries after its checkpoint; returns the new checkpoint."""
        name = f"partner-feed:{partner_id}"
        position = self.positions.get(partner_id)
        if position is None:
            position = self.positions[partner_id] = self.checkpoints.load(name)
        pipeline = Pipeline(publisher)  # the next batch is read and sent while this one is confirmed
        sent = position
        while entries := self.store.read(partner_id, sent, self.batch_size):
            pipeline.send(((EXCHANGE, queue_name(partner_id), feed_message(e)) for e in entries),
                          partial(self._confirmed, name, partner_id, entries))
            sent = entries[-1]["feed_position"]
        pipeline.drain()
        return self.positions[partner_id]

    def _confirmed(self, name: str, partner_id: str, entries: list[dict[str, Any]]) -> None:
        """The broker confirmed `entries` (and every batch before them): the checkpoint may pass them."""
        self.after_publish(partner_id, entries)
        position = self.positions[partner_id] = entries[-1]["feed_position"]
        self.checkpoints.advance(name, position)
        if self.metrics is not None:
            self.metrics.relayed(partner_id, entries[-1])

    def after_publish(self, partner_id: str, entries: list[dict[str, Any]]) -> None:
        """A seam between publish and checkpoint (tests stop here)."""
