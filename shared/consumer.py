"""Event handlers fed from RabbitMQ: each event applied once per handler, failures retried
later (not in a hot loop) and parked after `max_attempts`.

Once-per-handler: a delivery whose event_id the handler has already processed is acked
and skipped (`processed` marks); and each handler gets a command id derived from
(handler, event_id), so if it crashes after storing its effect but before the mark, the
redelivery's append is recognised by the store as the same command and stores nothing.
Handlers therefore put their effects through the service's Application.

Failures: the message is re-published to `<queue>.retry` with a per-message TTL; the
broker dead-letters it back to `<queue>` when the TTL expires. After `max_attempts` it
goes to `<queue>.parked` for an operator, visible in metrics.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import amqp
import kombu
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from .application import CommandContext
from .broker import EVENTS_EXCHANGE, BrokerUnavailable, ConfirmedPublisher, connect, declare_events_exchange
from .envelope import Envelope, derived_id
from .metrics import Metrics
from .registry import EventRegistry

log = logging.getLogger(__name__)
ATTEMPTS_HEADER = "x-kopnet-attempts"


@dataclass
class Subscription:
    """`handler(event, context)` for events whose type matches one of `bindings`."""

    name: str
    bindings: list[str]
    handler: Callable[[Envelope, CommandContext], None]
    max_attempts: int = 5
    backoff_seconds: list[float] = field(default_factory=lambda: [1.0, 5.0, 15.0, 60.0])
    #: Keep a processed mark per event, so a redelivery is skipped before the handler runs (a
    #: lookup and an insert per event). False for a handler that is idempotent by itself: all it
    #: stores goes through Application.execute with the context's command id (derived from the
    #: event id), so a redelivery stores nothing new; most events then cost the store nothing.
    remember: bool = True


class Subscriber:
    def __init__(self, service: str, subscription: Subscription, database: Database, amqp_uri: str,
                 metrics: Metrics | None = None, registry: EventRegistry | None = None,
                 prefetch: int = 50):
        self.service = service
        self.subscription = subscription
        self.processed = database["processed"]
        self.amqp_uri = amqp_uri
        self.metrics = metrics or Metrics(service)
        self.registry = registry
        self.prefetch = prefetch
        self.queue = f"{service}.{subscription.name}"
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._parked = self.metrics.messages_parked.labels(service, subscription.name)
        self._seconds = self.metrics.handler_seconds.labels(service, subscription.name)

    def stop(self) -> None:
        self._stop.set()

    # -- topology -----------------------------------------------------------------------------
    def declare(self, channel) -> None:
        declare_events_exchange(channel)
        channel.queue_declare(self.queue, durable=True, auto_delete=False)
        for binding in self.subscription.bindings:
            channel.queue_bind(self.queue, EVENTS_EXCHANGE, binding)
        channel.queue_declare(f"{self.queue}.retry", durable=True, auto_delete=False, arguments={
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.queue})
        channel.queue_declare(f"{self.queue}.parked", durable=True, auto_delete=False)

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._consume()
                backoff = 0.5
            except (BrokerUnavailable, OSError, amqp.exceptions.AMQPError) as error:
                log.warning("subscriber %s: %s; reconnecting in %.1fs", self.queue, error, backoff)
            self.ready.clear()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _consume(self) -> None:
        connection = connect(self.amqp_uri)
        try:
            channel = connection.channel()
            self.declare(channel)
            publisher = ConfirmedPublisher(connection)
            channel.basic_qos(0, self.prefetch, False)

            def on_message(message: amqp.Message) -> None:
                self.deliver(message, publisher)
                channel.basic_ack(message.delivery_tag)

            channel.basic_consume(self.queue, callback=on_message)
            self.ready.set()
            while not self._stop.is_set():
                try:
                    connection.drain_events(timeout=0.5)
                except TimeoutError:
                    connection.heartbeat_check()
        finally:
            connection.release()

    # -- one delivery ----------------------------------------------------------------------------
    def deliver(self, message: amqp.Message, publisher: ConfirmedPublisher) -> str:
        """Handles one message; returns the outcome (applied, duplicate, retried, parked)."""
        name = self.subscription.name
        try:
            event = Envelope.from_json(message.body)
            if self.registry:
                event = self.registry.upcast(event)
        except (ValueError, KeyError, TypeError) as error:
            return self._park(message, publisher, f"unreadable event: {error}")
        mark = f"{name}:{event.event_id}"
        remember = self.subscription.remember
        if remember and self.processed.find_one({"_id": mark}, {"_id": 1}) is not None:
            return self._count("duplicate")
        context = CommandContext(
            command_id=derived_id(name, event.event_id),
            correlation_id=event.correlation_id,
            causation_id=event.event_id,
        )
        started = time.perf_counter()
        try:
            self.subscription.handler(event, context)
        except Exception:  # noqa: BLE001 - any failure is retried later, then parked: never lost
            attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0)) + 1
            failure = traceback.format_exc(limit=5)
            log.warning("handler %s failed on %s (try %d): %s", name, event.event_id, attempts, failure)
            if attempts >= self.subscription.max_attempts:
                return self._park(message, publisher, failure)
            delays = self.subscription.backoff_seconds
            delay = delays[min(attempts - 1, len(delays) - 1)]
            retry = self._copy(message, {ATTEMPTS_HEADER: attempts}, expiration=str(int(delay * 1000)))
            publisher.publish_all([("", f"{self.queue}.retry", retry)])
            return self._count("retried")
        finally:
            self._seconds.observe(time.perf_counter() - started)
        if remember:
            try:
                self.processed.insert_one({"_id": mark})
            except DuplicateKeyError:
                pass
        return self._count("applied")

    def _park(self, message: amqp.Message, publisher: ConfirmedPublisher, reason: str) -> str:
        parked = self._copy(message, {"x-kopnet-error": reason[-2000:]})
        publisher.publish_all([("", f"{self.queue}.parked", parked)])
        self._parked.inc()
        return self._count("parked")

    def _count(self, outcome: str) -> str:
        self.metrics.messages.labels(self.service, self.subscription.name, outcome).inc()
        return outcome

    @staticmethod
    def _copy(message: amqp.Message, headers: dict, expiration: str | None = None) -> amqp.Message:
        properties = {"content_type": message.properties.get("content_type", "application/json"),
                      "delivery_mode": 2,
                      "application_headers": {**(message.headers or {}), **headers}}
        if message.properties.get("message_id"):
            properties["message_id"] = message.properties["message_id"]
        if expiration:
            properties["expiration"] = expiration
        return amqp.Message(message.body, **properties)


def parked_messages(amqp_uri: str, queue: str) -> list[dict]:
    """Reads (without removing) what is parked on `queue` — for operators and tests."""
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        found, tags = [], []
        while True:
            message = channel.basic_get(f"{queue}.parked", no_ack=False)
            if message is None:
                break
            tags.append(message.delivery_tag)
            found.append({"headers": dict(message.headers or {}), "body": _readable(message.body)})
        for tag in tags:
            channel.basic_reject(tag, requeue=True)
        return found


def _readable(body: bytes | str) -> object:
    """A parked message's body as JSON when it is JSON, else as it came (it may be what poisoned it)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body
