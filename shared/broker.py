"""RabbitMQ plumbing shared by the relay and the consumers (py-amqp through kombu).

Topology (events.md): one durable topic exchange `kopnet.events`; routing key = event_type
(e.g. `ledger.JournalEntryPosted`), so a queue binds `ledger.*` or one exact type.
"""
from __future__ import annotations

import amqp
import kombu
from amqp.exceptions import ResourceLocked
from amqp.transport import TCPTransport

# publishing lives in publisher.py; imported from here as before
from .publisher import ConfirmedPublisher as ConfirmedPublisher
from .publisher import PublishFailed as PublishFailed

EVENTS_EXCHANGE = "kopnet.events"


class BrokerUnavailable(Exception):
    """RabbitMQ did not answer; nothing was published."""


#: Seconds between AMQP heartbeats: a dead peer is noticed within about twice this.
HEARTBEAT = 10

#: Bytes asked of the socket per read. py-amqp asks for exactly what a frame still needs: three
#: reads per frame (header, payload, end byte), so a relay's stream of small confirm frames or a
#: consumer's deliveries cost three system calls (and three eventlet trampolines) a frame. Asked
#: for more, it keeps the rest in its own read buffer for the next frames.
READ_AHEAD = 64 * 1024


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
    read_ahead(connection)
    return connection


def read_ahead(connection: kombu.Connection) -> None:
    """Lets the connection's transport read up to READ_AHEAD bytes at a time. Only py-amqp's
    `_read` reads the socket, and it keeps what a read returns beyond the frame in its buffer,
    so nothing else changes (a TLS transport reads through its own path and is left as it is)."""
    transport = connection.connection.transport
    if isinstance(transport, TCPTransport):
        transport._quick_recv = lambda size: transport.sock.recv(max(size, READ_AHEAD))


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


def event_message(event) -> amqp.Message:
    return amqp.Message(
        event.to_json(), content_type="application/json", delivery_mode=2,
        message_id=event.event_id, type=event.event_type,
        application_headers={"position": event.position},
    )


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
