"""Pipelined publisher confirms (shared/publisher.py) against the real RabbitMQ: frames arrive as
sent, a nacked batch or one caught by a dropped connection is never completed, and the relay's
checkpoint never passes an event whose confirm did not arrive: it re-sends from there."""
from __future__ import annotations

import socket
import uuid

import amqp
import pytest

from shared.broker import EVENTS_EXCHANGE, PublishFailed, connect, declare_events_exchange
from shared.envelope import Envelope
from shared.eventstore import EventStore, NewEvent
from shared.publisher import ConfirmedPublisher, Pipeline
from shared.relay import OutboxRelay
from tests.conftest import run_in_background, wait_for


@pytest.fixture
def broker(amqp_uri):
    connection = connect(amqp_uri)
    yield connection
    connection.release()


def _bounded_queue(channel, name: str, limit: int, binding: str | None = None) -> None:
    """A queue that holds at most `limit` messages and makes RabbitMQ nack any publish beyond."""
    channel.queue_declare(name, durable=True, auto_delete=False,
                          arguments={"x-max-length": limit, "x-overflow": "reject-publish"})
    if binding:
        channel.queue_bind(name, EVENTS_EXCHANGE, binding)


def _drain(channel, queue: str) -> list[amqp.Message]:
    messages = []
    while (message := channel.basic_get(queue, no_ack=True)) is not None:
        messages.append(message)
    return messages


def test_batched_frames_arrive_as_py_amqp_would_send_them(broker):
    channel = broker.channel()
    queue = f"frames.{uuid.uuid4().hex[:8]}"
    channel.queue_declare(queue, durable=False, auto_delete=True)
    publisher = ConfirmedPublisher(broker)
    big = bytes(range(256)) * 1200  # 300 KB: several body frames (frame_max is 128 KB)
    sent = [
        amqp.Message(b'{"a":1}', content_type="application/json", delivery_mode=2, message_id="m1",
                     type="bank.AccountOpened", application_headers={"position": 7}),
        amqp.Message("tekst é", delivery_mode=2, timestamp=1_700_000_000),
        amqp.Message(big, delivery_mode=2, message_id="big"),
        amqp.Message(b"", message_id="empty"),
    ]
    publisher.publish_all(("", queue, message) for message in sent)
    received = wait_for(lambda: (got := _drain(channel, queue)) and got, what="the messages")
    bodies = [m.body.encode() if isinstance(m.body, str) else m.body for m in received]  # py-amqp decodes
    assert bodies == [b'{"a":1}', "tekst é".encode(), big, b""]              # what has an encoding
    assert received[1].properties["content_encoding"] == "utf-8"
    first = received[0].properties
    assert (first["content_type"], first["delivery_mode"], first["message_id"], first["type"]) == (
        "application/json", 2, "m1", "bank.AccountOpened")
    assert first["application_headers"] == {"position": 7}
    assert received[1].properties["timestamp"] == 1_700_000_000
    assert publisher.unconfirmed == 0


class _CountingSocket:
    """The transport's socket, counting the reads made of it."""

    def __init__(self, sock):
        self.sock, self.reads = sock, 0

    def recv(self, size):
        self.reads += 1
        return self.sock.recv(size)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def test_confirms_are_read_many_frames_to_a_socket_read_and_taken_from_the_buffer(broker):
    """py-amqp alone reads the socket three times a frame; a relay's stream of confirms is read
    ahead (broker.READ_AHEAD) and its basic.ack frames taken straight from the buffer."""
    channel = broker.channel()
    queue = f"acks.{uuid.uuid4().hex[:8]}"
    channel.queue_declare(queue, durable=False, auto_delete=True)
    publisher = ConfirmedPublisher(broker)
    transport = broker.connection.transport
    transport.sock = counting = _CountingSocket(transport.sock)
    through_py_amqp: list[int] = []
    publisher.channel.events["basic_ack"].add(lambda tag, multiple: through_py_amqp.append(tag))
    taken_from_buffer: list[int] = []
    on_ack = publisher._on_ack
    publisher._on_ack = lambda tag, multiple: (taken_from_buffer.append(tag), on_ack(tag, multiple))
    for _ in range(4):
        publisher.publish_all(("", queue, amqp.Message(b"x" * 300, delivery_mode=1)) for _ in range(500))
    assert publisher.unconfirmed == 0
    assert channel.queue_declare(queue, passive=True).message_count == 2000
    ack_frames = len(through_py_amqp) + len(taken_from_buffer)
    assert taken_from_buffer, "every ack went through py-amqp's dispatch"
    assert counting.reads < ack_frames, f"{counting.reads} socket reads for {ack_frames} ack frames"
    channel.queue_delete(queue)


def test_a_pipeline_never_completes_a_nacked_batch(broker):
    channel = broker.channel()
    queue = f"nacks.{uuid.uuid4().hex[:8]}"
    _bounded_queue(channel, queue, limit=3)
    publisher = ConfirmedPublisher(broker)
    pipeline = Pipeline(publisher)
    completed: list[str] = []
    with pytest.raises(PublishFailed, match="nack"):
        pipeline.send((("", queue, amqp.Message(f"a{n}")) for n in range(3)), lambda: completed.append("a"))
        pipeline.send((("", queue, amqp.Message(f"b{n}")) for n in range(2)), lambda: completed.append("b"))
        pipeline.drain()
    # batch a fits and may be completed (unless b's nack came first: that only re-sends more)
    assert "b" not in completed
    assert [m.body for m in _drain(channel, queue)] == ["a0", "a1", "a2"]  # str bodies: utf-8
    channel.queue_delete(queue)


def _relay_store(database, prefix: str, count: int) -> EventStore:
    store = EventStore(database)  # no registry: any event type, so the test binds its own
    for n in range(count):
        store.append("Thing", f"t{n}", 0, [NewEvent(f"{prefix}.Happened", {"n": n})])
    return EventStore(database)  # the relay's own: nothing of the above in its memory


def test_the_relay_checkpoint_stops_before_a_nacked_batch_and_resends_from_it(
        database, amqp_uri, broker, service_name):
    prefix = f"nack{uuid.uuid4().hex[:8]}"
    store = _relay_store(database, prefix, 30)
    channel = broker.channel()
    declare_events_exchange(channel)
    queue = f"{prefix}.events"
    _bounded_queue(channel, queue, limit=15, binding=f"{prefix}.*")
    relay = OutboxRelay(store, amqp_uri, service_name, batch_size=10)
    first = connect(amqp_uri)
    try:
        with pytest.raises(PublishFailed):  # 16..20 are nacked: the queue is full
            relay.relay_pending(ConfirmedPublisher(first), 0)
    finally:
        first.release()
    checkpoint = relay.checkpoints.load(relay.checkpoint_name)
    assert checkpoint in (0, 10), "only a batch whose every event was confirmed is passed"
    delivered = [Envelope.from_json(m.body).position for m in _drain(channel, queue)]
    assert delivered == list(range(1, 16))

    channel.queue_delete(queue)  # room again: the relay re-sends from its checkpoint
    channel.queue_declare(queue, durable=True, auto_delete=False)
    channel.queue_bind(queue, EVENTS_EXCHANGE, f"{prefix}.*")
    second = connect(amqp_uri)
    try:
        assert relay.relay_pending(ConfirmedPublisher(second), checkpoint) == 30
    finally:
        second.release()
    resent = [Envelope.from_json(m.body).position for m in _drain(channel, queue)]
    assert resent == list(range(checkpoint + 1, 31))
    assert set(delivered) | set(resent) == set(range(1, 31))
    channel.queue_delete(queue)


def test_the_relay_resends_from_its_checkpoint_when_the_connection_drops_mid_pipeline(
        database, amqp_uri, broker, service_name):
    """The connection dies after batch 1 is confirmed and batch 2 is on its way: the checkpoint
    stays at batch 1's end and the reconnected relay sends from there, skipping nothing."""
    prefix = f"drop{uuid.uuid4().hex[:8]}"
    store = _relay_store(database, prefix, 50)
    channel = broker.channel()
    declare_events_exchange(channel)
    queue = f"{prefix}.events"
    channel.queue_declare(queue, durable=True, auto_delete=False)
    channel.queue_bind(queue, EVENTS_EXCHANGE, f"{prefix}.*")
    advanced: list[int] = []
    publishers: list[ConfirmedPublisher] = []

    class DroppingRelay(OutboxRelay):
        def relay_pending(self, publisher, checkpoint):
            publishers.append(publisher)
            return super().relay_pending(publisher, checkpoint)

        def after_publish(self, events):
            advanced.append(events[-1].position)
            if len(advanced) == 1:  # batch 2 is sent (pipelined) but not confirmed yet
                publishers[-1].connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)

    relay = DroppingRelay(store, amqp_uri, service_name, batch_size=10)
    worker = run_in_background(relay.run)
    try:
        wait_for(lambda: relay.checkpoints.load(relay.checkpoint_name) == 50, what="every event relayed")
    finally:
        relay.stop()
        worker.wait()
    assert len({id(p) for p in publishers}) >= 2, "the relay reconnected"
    assert advanced == [10, 20, 30, 40, 50], "the first connection passed batch 1 only; none skipped"
    delivered = [Envelope.from_json(m.body).position for m in _drain(channel, queue)]
    assert set(delivered) == set(range(1, 51))
    channel.queue_delete(queue)
