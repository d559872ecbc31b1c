"""Event handlers fed from RabbitMQ: each event applied once per handler, failures retried
later (not in a hot loop) and parked after `max_attempts`.

Once-per-handler: a delivery whose event_id the handler has already processed is acked
and skipped (`processed` marks); and each handler gets a command id derived from
(handler, event_id), so if it crashes after storing its effect but before the mark, the
redelivery's append is recognised by the store as the same command and stores nothing.
Handlers therefore put their effects through the service's Application.

Failures: the message is re-published to the retry queue of its delay (`<queue>.retry.<ms>`,
topology.py: one queue per delay, so a short retry never waits behind a long one); the broker
dead-letters it back to `<queue>` when the delay is over. After `max_attempts` failures of the
handler it goes to `<queue>.parked` for an operator, visible in metrics. A message that fails
before its handler runs (it cannot be read or upcast) is parked at once: no retry can help it.

Outages are not failures of a message: when the handler (or the processed-mark lookup) fails
because the store or the broker does not answer, the message is retried at the backoff of
`x-kopnet-outages` without using up its attempts, so an outage of minutes parks nothing.

Processed marks carry the time they were made and are pruned after `mark_retention` seconds
(default 7 days): a redelivery later than that still stores nothing, because the handler's
effects go through command ids derived from the event (the mark only saves the work).

Barriers: a message with the `x-kopnet-barrier` header (`barrier_message`) is no event; the
subscriber hands its token to `barrier_listeners` and acks it. A subscriber handles its messages
one after another, in queue order; on a `single_active` queue only one subscriber of all the
service's replicas consumes at a time, so a barrier passed says that every message that reached
the queue before it has been handled: applied, or sent to its retry queue (services/feed/
watermark.py waits on one). On a queue shared by competing consumers it says that only of the
messages the passing subscriber took.

Batches: a subscription with a `batch_handler` gets the events delivered together at once (up
to the prefetch, what the broker has already sent; with `gather_seconds`, also what arrives that
long after the first), so a consumer that falls behind does less work per event; what the
batch handler does not do goes through the handler one by one, in queue order, and a barrier
still comes after everything queued before it.

The loop never dies of an exception: whatever escapes a delivery (a PublishFailed of the
retry, a bug) leaves the message unacknowledged, and the loop reconnects after a backoff.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import amqp
import kombu
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from .application import CommandContext
from .broker import BrokerUnavailable, ConfirmedPublisher, connect, declare_events_exchange
from .envelope import Envelope, derived_id
from .eventstore import StoreUnavailable
from .metrics import Metrics
from .registry import EventRegistry
from .topology import QueueSpec

log = logging.getLogger(__name__)
ATTEMPTS_HEADER = "x-kopnet-attempts"
OUTAGES_HEADER = "x-kopnet-outages"
BARRIER_HEADER = "x-kopnet-barrier"
#: How long a batching subscriber waits for more deliveries after each one (what the broker has
#: already sent arrives within it; a batch is never held back for messages still to come).
GATHER_SECONDS = 0.001
#: Failures that are the infrastructure's, not the message's: retried without using attempts.
OUTAGES = (StoreUnavailable, PyMongoError, BrokerUnavailable)


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
    #: Seconds a processed mark is kept (pruned after; see the module docstring).
    mark_retention: float = 7 * 24 * 3600.0
    #: One consumer at a time across the service's replicas (topology.py), so that the queue's
    #: messages are handled in queue order and a barrier means the same in every replica.
    single_active: bool = False
    #: `batch_handler(items)` for the events delivered together ((event, context) pairs, in queue
    #: order): handles what it can in one go and answers, per item, whether it is done. Each item
    #: not done goes through `handler`, one by one, in queue order, as without it; so it must leave
    #: undone every later item that has to follow one it did not do (Application.execute_all
    #: does, per stream). For a handler that is idempotent by itself (`remember=False`).
    batch_handler: Callable[[list[tuple[Envelope, CommandContext]]], list[bool]] | None = None
    #: How long a batch waits for more events after its first one arrived (with a batch handler;
    #: up to the prefetch): fewer, larger batches, each stored in one request, for a consumer
    #: whose effects nobody waits for. 0: only what arrives without a pause (GATHER_SECONDS).
    gather_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.batch_handler is not None and self.remember:
            raise ValueError(f"subscription {self.name}: a batch handler keeps no processed marks "
                             "(remember=False): its effects must be idempotent by their command ids")

    def spec(self, service: str) -> QueueSpec:
        return QueueSpec(f"{service}.{self.name}", tuple(self.bindings), tuple(self.backoff_seconds),
                         self.single_active)


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
        self.spec = subscription.spec(service)
        self.queue = self.spec.queue
        self.prune_every = 3600.0
        self._pruned_at = -math.inf
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._parked = self.metrics.messages_parked.labels(service, subscription.name)
        #: Called with each barrier's token as the subscriber passes it (see the module docstring).
        self.barrier_listeners: list[Callable[[str], None]] = []
        self._seconds = self.metrics.handler_seconds.labels(service, subscription.name)

    def stop(self) -> None:
        self._stop.set()

    # -- topology -----------------------------------------------------------------------------
    def declare(self, channel) -> None:
        declare_events_exchange(channel)
        self.spec.declare(channel)

    def prune_marks(self, now: float | None = None) -> int:
        """Deletes processed marks older than the subscription's retention; returns how many."""
        cutoff = (time.time() if now is None else now) - self.subscription.mark_retention
        prefix = f"{self.subscription.name}:"
        result = self.processed.delete_many({"handler": self.subscription.name, "at": {"$lt": cutoff}})
        legacy = self.processed.delete_many({"handler": {"$exists": False},
                                             "_id": {"$regex": f"^{prefix}"}})  # marks without a time
        return result.deleted_count + legacy.deleted_count

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._consume()
                backoff = 0.5
            except (BrokerUnavailable, OSError, amqp.exceptions.AMQPError) as error:
                log.warning("subscriber %s: %s; reconnecting in %.1fs", self.queue, error, backoff)
            except Exception:  # noqa: BLE001 - never die: the unacked message comes back
                self.metrics.loop_failures.labels(self.service, f"subscriber:{self.subscription.name}").inc()
                log.exception("subscriber %s failed; reconnecting in %.1fs", self.queue, backoff)
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

            batching = self.subscription.batch_handler is not None
            arrived: list[amqp.Message] = []

            def on_message(message: amqp.Message) -> None:
                if batching:  # handled below, with whatever arrived with it
                    arrived.append(message)
                    return
                self.deliver(message, publisher)
                channel.basic_ack(message.delivery_tag)

            channel.basic_consume(self.queue, callback=on_message)
            self.ready.set()
            while not self._stop.is_set():
                try:
                    connection.drain_events(timeout=0.5)
                    gathered_by = time.monotonic() + self.subscription.gather_seconds
                    while batching and len(arrived) < self.prefetch:
                        connection.drain_events(timeout=max(GATHER_SECONDS, gathered_by - time.monotonic()))
                except TimeoutError:
                    if not arrived:
                        connection.heartbeat_check()
                        self._prune_when_due()
                if arrived:
                    batch, arrived[:] = list(arrived), []
                    self.deliver_batch(batch, publisher, lambda m: channel.basic_ack(m.delivery_tag))
        finally:
            connection.release()

    def _prune_when_due(self) -> None:
        if not self.subscription.remember or time.monotonic() - self._pruned_at < self.prune_every:
            return
        self._pruned_at = time.monotonic()
        try:
            self.prune_marks()
        except PyMongoError as error:  # tried again next time; marks only cost space meanwhile
            log.warning("subscriber %s: processed marks not pruned: %s", self.queue, error)

    # -- one delivery ----------------------------------------------------------------------------
    def deliver(self, message: amqp.Message, publisher: ConfirmedPublisher) -> str:
        """Handles one message; returns the outcome (applied, duplicate, retried, parked, barrier)."""
        name = self.subscription.name
        barrier = (message.headers or {}).get(BARRIER_HEADER)
        if barrier is not None:  # no event: every message queued before it has been handled
            try:
                for listener in self.barrier_listeners:
                    listener(str(barrier))
            except OUTAGES as error:  # passed again later, behind what is queued by then
                log.warning("barrier on %s: outage (%s); retried later", self.queue, error)
                return self._retry(message, publisher, outage=True)
            return "barrier"
        try:
            event = Envelope.from_json(message.body)
            if self.registry:
                event = self.registry.upcast(event)
        except Exception as error:  # noqa: BLE001 - unreadable or not upcastable: no retry helps
            return self._park(message, publisher, f"unreadable event ({type(error).__name__}): {error}")
        mark = f"{name}:{event.event_id}"
        remember = self.subscription.remember
        try:
            if remember and self.processed.find_one({"_id": mark}, {"_id": 1}) is not None:
                return self._count("duplicate")
        except PyMongoError:
            return self._retry(message, publisher, outage=True)
        context = self._context(event)
        started = time.perf_counter()
        try:
            self.subscription.handler(event, context)
        except OUTAGES as error:
            log.warning("handler %s on %s: outage (%s); retried later", name, event.event_id, error)
            return self._retry(message, publisher, outage=True)
        except Exception:  # noqa: BLE001 - any failure is retried later, then parked: never lost
            failure = traceback.format_exc(limit=5)
            log.warning("handler %s failed on %s: %s", name, event.event_id, failure)
            return self._retry(message, publisher, outage=False, failure=failure)
        finally:
            self._seconds.observe(time.perf_counter() - started)
        if remember:
            try:
                self.processed.insert_one({"_id": mark, "handler": name, "at": time.time()})
            except DuplicateKeyError:
                pass
            except PyMongoError as error:  # the effect is stored; a missing mark only costs a re-run
                log.warning("handler %s: processed mark of %s not stored: %s", name, event.event_id, error)
        return self._count("applied")

    def _context(self, event: Envelope) -> CommandContext:
        return CommandContext(command_id=derived_id(self.subscription.name, event.event_id),
                              correlation_id=event.correlation_id, causation_id=event.event_id)

    def deliver_batch(self, messages: list[amqp.Message], publisher: ConfirmedPublisher,
                      ack: Callable[[amqp.Message], None]) -> None:
        """Handles messages delivered together, each acked once handled: the events between two
        barriers go to the batch handler at once; each event it did not do, each barrier and each
        message that cannot be read go through `deliver`, in queue order."""
        events: list[tuple[amqp.Message, Envelope]] = []
        for message in messages:
            event = None if (message.headers or {}).get(BARRIER_HEADER) is not None else self._read(message)
            if event is not None:
                events.append((message, event))
                continue
            self._deliver_events(events, publisher, ack)  # what came before a barrier is handled first
            events = []
            self.deliver(message, publisher)
            ack(message)
        self._deliver_events(events, publisher, ack)

    def _read(self, message: amqp.Message) -> Envelope | None:
        try:
            event = Envelope.from_json(message.body)
            return self.registry.upcast(event) if self.registry else event
        except Exception:  # noqa: BLE001 - `deliver` parks it, with the reason
            return None

    def _deliver_events(self, events: list[tuple[amqp.Message, Envelope]], publisher: ConfirmedPublisher,
                        ack: Callable[[amqp.Message], None]) -> None:
        if not events:
            return
        assert self.subscription.batch_handler is not None
        started = time.perf_counter()
        try:
            items = [(event, self._context(event)) for _message, event in events]
            done = list(self.subscription.batch_handler(items))
            if len(done) != len(events):
                raise ValueError(f"it answered {len(done)} times for {len(events)} events")
        except Exception as error:  # noqa: BLE001 - every event then goes one by one, retried or parked there
            log.warning("batch handler %s on %d events: %s; handling them one by one",
                        self.subscription.name, len(events), error)
            done = [False] * len(events)
        share = (time.perf_counter() - started) / len(events)
        for (message, _event), was_done in zip(events, done, strict=True):
            if was_done:
                self._seconds.observe(share)
                self._count("applied")
            else:
                self.deliver(message, publisher)
            ack(message)

    def _retry(self, message: amqp.Message, publisher: ConfirmedPublisher, outage: bool,
               failure: str = "") -> str:
        headers = message.headers or {}
        attempts = int(headers.get(ATTEMPTS_HEADER, 0)) + (0 if outage else 1)
        outages = int(headers.get(OUTAGES_HEADER, 0)) + (1 if outage else 0)
        if not outage and attempts >= self.subscription.max_attempts:
            return self._park(message, publisher, failure)
        delays = self.spec.delays
        delay = delays[min((outages if outage else attempts) - 1, len(delays) - 1)]
        retry = self._copy(message, {ATTEMPTS_HEADER: attempts, OUTAGES_HEADER: outages})
        publisher.publish_all([("", self.spec.retry_queue(delay), retry)])
        return self._count("retried")

    def _park(self, message: amqp.Message, publisher: ConfirmedPublisher, reason: str) -> str:
        parked = self._copy(message, {"x-kopnet-error": reason[-2000:]})
        publisher.publish_all([("", f"{self.queue}.parked", parked)])
        self._parked.inc()
        return self._count("parked")

    def _count(self, outcome: str) -> str:
        self.metrics.messages.labels(self.service, self.subscription.name, outcome).inc()
        return outcome

    @staticmethod
    def _copy(message: amqp.Message, headers: dict) -> amqp.Message:
        properties = {"content_type": message.properties.get("content_type", "application/json"),
                      "delivery_mode": 2,
                      "application_headers": {**(message.headers or {}), **headers}}
        if message.properties.get("message_id"):
            properties["message_id"] = message.properties["message_id"]
        return amqp.Message(message.body, **properties)


def barrier_message(token: str) -> amqp.Message:
    """A barrier for a subscriber's queue (see the module docstring), persistent like the events
    it follows: sent to the queue itself through the default exchange."""
    return amqp.Message(b"", content_type="application/octet-stream", delivery_mode=2,
                        application_headers={BARRIER_HEADER: token})


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
