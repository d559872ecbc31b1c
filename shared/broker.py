"""RabbitMQ plumbing shared by the relay and the consumers (py-amqp through kombu).

Topology (events.md): one durable topic exchange `kopnet.events`; routing key = event_type
(e.g. `ledger.JournalEntryPosted`), so a queue binds `ledger.*` or one exact type.
"""
from __future__ import annotations

import time
from collections.abc import Iterable

import amqp
import kombu
from amqp.exceptions import ResourceLocked

EVENTS_EXCHANGE = "kopnet.events"


class BrokerUnavailable(Exception):
    """RabbitMQ did not answer; nothing was published."""


#: Seconds between AMQP heartbeats: a dead peer is noticed within about twice this.
HEARTBEAT = 10


def connect(uri: str, heartbeat: int | None = None, timeout: float = 5.0) -> kombu.Connection:
    heartbeat = HEARTBEAT if heartbeat is None else heartbeat
    connection = kombu.Connection(uri, heartbeat=heartbeat, connect_timeout=timeout,
                                  transport_options={"confirm_publish": False})
    try:
        connection.connect()
    except Exception as error:  # kombu raises socket, amqp and OSError subclasses
        connection.release()
        raise BrokerUnavailable(
            f"RabbitMQ at {connection.as_uri()} did not answer ({error}); check AMQP_URI "
            "and that RabbitMQ runs (make up)."
        ) from error
    return connection


def keep_alive(connection: kombu.Connection) -> None:
    """For a connection that is otherwise only written to (the relay's, a lock holder's):
    reads what the broker sent, its heartbeats included, and sends ours when due. Without
    the read the client counts the broker's heartbeats as missed and drops the connection."""
    try:
        connection.drain_events(timeout=0)
    except (TimeoutError, BlockingIOError):
        pass
    connection.heartbeat_check()


def declare_events_exchange(channel) -> None:
    channel.exchange_declare(EVENTS_EXCHANGE, "topic", durable=True, auto_delete=False)


def try_exclusive_lock(connection: kombu.Connection, name: str) -> bool:
    """Holds `name` for as long as `connection` lives, if no other connection holds it.

    An exclusive queue can be declared by one connection only; the broker deletes it when
    that connection closes or dies, so a standby replica takes over by declaring it again.
    """
    channel = connection.channel()
    try:
        channel.queue_declare(queue=name, exclusive=True, auto_delete=False, durable=False)
    except ResourceLocked:
        return False
    return True


class PublishFailed(Exception):
    """The broker nacked or did not confirm in time: the messages must be sent again."""


def event_message(event) -> amqp.Message:
    return amqp.Message(
        event.to_json(), content_type="application/json", delivery_mode=2,
        message_id=event.event_id, type=event.event_type,
        application_headers={"position": event.position},
    )


class ConfirmedPublisher:
    """Persistent publishing with pipelined publisher confirms on one channel.

    `publish` sends without waiting and `wait_for_confirms` collects the broker's acks
    (which may cover many messages at a time), so throughput is not bound by one round
    trip per message, and a caller can send the next batch while the last is confirmed.
    """

    def __init__(self, connection: kombu.Connection, confirm_timeout: float = 30.0):
        self.connection = connection
        self.channel = connection.channel()
        self.channel.confirm_select()
        self.confirm_timeout = confirm_timeout
        self._next_tag = 1
        self._unconfirmed: set[int] = set()
        self._nacked = 0
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)

    def _on_ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            self._unconfirmed.difference_update([t for t in self._unconfirmed if t <= tag])
        else:
            self._unconfirmed.discard(tag)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._nacked += 1
        self._on_ack(tag, multiple)

    def publish(self, messages: Iterable[tuple[str, str, amqp.Message]]) -> int:
        """Sends without waiting; returns the delivery tag of the last message sent."""
        for exchange, routing_key, message in messages:
            self.channel.basic_publish(message, exchange=exchange, routing_key=routing_key)
            self._unconfirmed.add(self._next_tag)
            self._next_tag += 1
        return self._next_tag - 1

    def wait_for_confirms(self, upto: int | None = None) -> None:
        """Waits until the broker has confirmed every message up to tag `upto` (default: all)."""
        limit = self._next_tag if upto is None else upto
        deadline = time.monotonic() + self.confirm_timeout
        while self._nacked == 0 and any(tag <= limit for tag in self._unconfirmed):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pending, self._unconfirmed = len(self._unconfirmed), set()
                raise PublishFailed(f"{pending} messages unconfirmed after {self.confirm_timeout}s")
            try:
                self.connection.drain_events(timeout=min(remaining, 1.0))
            except TimeoutError:
                continue
        if self._nacked:
            nacked, self._nacked = self._nacked, 0
            raise PublishFailed(f"RabbitMQ refused {nacked} messages (nack)")

    def publish_all(self, messages: Iterable[tuple[str, str, amqp.Message]]) -> None:
        self.wait_for_confirms(self.publish(messages))


class LockLost(Exception):
    """This process no longer holds a lock it was working under: it must stop writing."""


def check_lock(connection: kombu.Connection, name: str) -> None:
    """Raises LockLost unless `connection` still holds the exclusive queue `name`: a passive
    declare succeeds only for the connection that owns it (another one gets RESOURCE_LOCKED,
    a dead one an error), so this is the broker's own answer, one round trip."""
    try:
        keep_alive(connection)
        connection.default_channel.queue_declare(queue=name, passive=True)
    except Exception as error:  # noqa: BLE001 - any failure means the hold is not known to last
        raise LockLost(f"lock {name} is no longer held ({type(error).__name__}: {error})") from error
