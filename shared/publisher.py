"""Persistent publishing with pipelined publisher confirms on one channel (the relay's, the
partner feed's, a consumer's retries, `kopnet events redeliver`).

`publish` sends without waiting and `wait_for_confirms` collects the broker's acks (which may
cover many messages at a time), so throughput is not bound by one round trip per message, and a
caller can send the next batch while the last one is confirmed.

Why not py-amqp's basic_publish: per message it reads the socket once (a timed-out read, to notice
`connection.blocked`), sets the socket timeout twice and writes once; for a relay batch that was
most of its time. Here a batch's frames are packed into one buffer and written at once, and a
blocked connection is noticed where it matters: the write waits, and so do the confirms.

Confirms get the same treatment: RabbitMQ often acks message by message, and py-amqp's dispatch of
an ack frame cost more than the publish it confirms, so the basic.ack frames at the head of the
connection's read buffer (filled 64 KiB at a time, broker.read_ahead) are taken here directly.

Writing straight to the transport bypasses py-amqp's frame lock, so a publisher's connection must
be written by one thread or greenlet at a time (the publisher's user), which is how every user in
kopnet works: each owns its connection and heartbeats it from the same loop.
"""
from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Callable, Iterable

import amqp
from amqp.exceptions import RecoverableConnectionError
from amqp.serialization import dumps

#: Bytes packed before one write: big enough that a batch is a few writes, small enough that
#: a write does not hold a large copy.
WRITE_CHUNK = 256 * 1024
_FRAME_END = b"\xce"
_BASIC_PUBLISH = (60, 40)
_BASIC_ACK = (60 << 16) | 80
#: A basic.ack method frame: type, channel, size, class and method, delivery tag, multiple, end.
_ACK_FRAME = struct.Struct(">BHIIQBB")


class PublishFailed(Exception):
    """The broker nacked or did not confirm in time: the messages must be sent again."""


class ConfirmedPublisher:
    def __init__(self, connection, confirm_timeout: float = 30.0):
        self.connection = connection
        self.channel = connection.channel()
        self.channel.confirm_select()
        self.confirm_timeout = confirm_timeout
        self._next_tag = 1
        # Every tag below `_confirmed_below` is acked or nacked; `_acked_singly` holds tags above it
        # acked one by one (RabbitMQ acks in order, mostly `multiple`, so it stays nearly empty).
        self._confirmed_below = 1
        self._acked_singly: set[int] = set()
        self._nacked = 0
        self._method_frames: dict[tuple[str, str], bytes] = {}
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)

    # -- confirms ------------------------------------------------------------------------------
    def _on_ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            if tag >= self._confirmed_below:
                self._confirmed_below = tag + 1
                if self._acked_singly:
                    self._acked_singly = {t for t in self._acked_singly if t > tag}
        elif tag >= self._confirmed_below:
            self._acked_singly.add(tag)
        while self._confirmed_below in self._acked_singly:
            self._acked_singly.discard(self._confirmed_below)
            self._confirmed_below += 1

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._nacked += 1
        self._on_ack(tag, multiple)

    @property
    def unconfirmed(self) -> int:
        """How many messages sent on this channel the broker has not confirmed yet."""
        return self._next_tag - self._confirmed_below - len(self._acked_singly)

    def wait_for_confirms(self, upto: int | None = None) -> None:
        """Waits until the broker has confirmed every message up to tag `upto` (default: all).
        Raises PublishFailed if any message sent so far was nacked (the caller re-sends from its
        last confirmed point: a nack of a later batch fails an earlier one too, which only
        re-sends more) or if the confirms do not come within confirm_timeout."""
        limit = self._next_tag - 1 if upto is None else upto
        deadline = time.monotonic() + self.confirm_timeout
        while self._nacked == 0 and self._confirmed_below <= limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pending = self.unconfirmed
                self._confirmed_below, self._acked_singly = self._next_tag, set()
                raise PublishFailed(f"{pending} messages unconfirmed after {self.confirm_timeout}s")
            if self._take_buffered_acks():
                continue
            try:
                self.connection.drain_events(timeout=min(remaining, 1.0))
            except TimeoutError:
                continue
        if self._nacked:
            nacked, self._nacked = self._nacked, 0
            raise PublishFailed(f"RabbitMQ refused {nacked} messages (nack)")

    def _take_buffered_acks(self) -> bool:
        """Takes the basic.ack frames for this channel at the head of the transport's read buffer
        (broker.READ_AHEAD fills it) without py-amqp's frame dispatch, which costs more than the
        publish of the message an ack confirms; RabbitMQ often acks message by message. Stops at
        the first other frame: py-amqp reads that one, and everything after it, in order. Between
        two reads the buffer starts at a frame boundary (py-amqp puts a partly read frame back)."""
        transport = self.channel.connection.transport
        buffer = getattr(transport, "_read_buffer", b"")
        offset = 0
        while len(buffer) - offset >= _ACK_FRAME.size:
            kind, channel, size, method, tag, bits, end = _ACK_FRAME.unpack_from(buffer, offset)
            if (kind, channel, size, method, end) != (1, self.channel.channel_id, 13, _BASIC_ACK, 0xCE):
                break
            self._on_ack(tag, bool(bits & 1))
            offset += _ACK_FRAME.size
        if not offset:
            return False
        transport._read_buffer = buffer[offset:]
        self.channel.connection.bytes_recv += 1  # what py-amqp's heartbeat check counts as "received"
        return True

    # -- sending -------------------------------------------------------------------------------
    def publish(self, messages: Iterable[tuple[str, str, amqp.Message]]) -> int:
        """Sends without waiting; returns the delivery tag of the last message sent."""
        amqp_connection = self.channel.connection
        if amqp_connection is None:
            raise RecoverableConnectionError("publish: channel closed")
        chunk_size = amqp_connection.frame_max - 8
        pending: list[bytes] = []
        size = 0
        try:
            for exchange, routing_key, message in messages:
                frames = self._method_frame(exchange, routing_key) + self._content_frames(message, chunk_size)
                pending.append(frames)
                self._next_tag += 1
                size += len(frames)
                if size >= WRITE_CHUNK:
                    self._write(amqp_connection, pending)
                    pending, size = [], 0
        finally:  # also when `messages` raises: every tag counted is on the wire
            self._write(amqp_connection, pending)
        return self._next_tag - 1

    def publish_all(self, messages: Iterable[tuple[str, str, amqp.Message]]) -> None:
        self.wait_for_confirms(self.publish(messages))

    def _write(self, amqp_connection, pending: list[bytes]) -> None:
        if pending:
            amqp_connection.transport.write(b"".join(pending))
            amqp_connection.bytes_sent += 1  # what py-amqp's heartbeat check counts as "sent"

    def _method_frame(self, exchange: str, routing_key: str) -> bytes:
        """basic.publish(exchange, routing_key), not mandatory: the same bytes for every message
        of a routing key, so packed once."""
        frame = self._method_frames.get((exchange, routing_key))
        if frame is None:
            arguments = dumps("Bssbb", (0, exchange, routing_key, False, False))  # not mandatory
            payload = struct.pack(">HH", *_BASIC_PUBLISH) + arguments
            frame = struct.pack(">BHI", 1, self.channel.channel_id, len(payload)) + payload + _FRAME_END
            if len(self._method_frames) >= 10000:  # routing keys are event types and queue names
                self._method_frames.clear()
            self._method_frames[(exchange, routing_key)] = frame
        return frame

    def _content_frames(self, message: amqp.Message, chunk_size: int) -> bytes:
        """The content header and body frames, as py-amqp's frame writer makes them."""
        body = message.body
        if isinstance(body, str):
            body = body.encode(message.properties.setdefault("content_encoding", "utf-8"))
        channel_id = self.channel.channel_id
        header = struct.pack(">HHQ", _BASIC_PUBLISH[0], 0, len(body)) + properties_bytes(message.properties)
        parts = [struct.pack(">BHI", 2, channel_id, len(header)), header, _FRAME_END]
        for offset in range(0, len(body), chunk_size):
            piece = body[offset:offset + chunk_size]
            parts += (struct.pack(">BHI", 3, channel_id, len(piece)), piece, _FRAME_END)
        return b"".join(parts)


#: amqp.Message.PROPERTIES with each one's flag bit: there are 14, so one flag word holds them.
_PROPERTIES = [(name, kind, 1 << (15 - index)) for index, (name, kind) in enumerate(amqp.Message.PROPERTIES)]
_OCTET = struct.Struct(">B")  # an octet property, or a short string's or a table key's length
_LONG_STR = struct.Struct(">cI")
_INT = struct.Struct(">ci")
#: The properties present, in packing order, per set of names given (a few sets in all).
_LAYOUTS: dict[tuple[str, ...], list[tuple[str, str, int]]] = {}


def properties_bytes(properties: dict) -> bytes:
    """The same bytes as py-amqp's `Message._serialize_properties`, which packs every value
    through its generic table writer (a quarter of a relay's CPU per message). Short strings,
    octets and headers of strings and 32-bit ints (what kopnet sends) are packed here; any other
    value goes through py-amqp's own writer."""
    names = tuple(properties)
    layout = _LAYOUTS.get(names)
    if layout is None:
        layout = [entry for entry in _PROPERTIES if entry[0] in properties]
        if len(_LAYOUTS) < 100:
            _LAYOUTS[names] = layout
    flags = 0
    parts: list[bytes] = []
    for name, kind, bit in layout:
        value = properties[name]
        if value is None:
            continue
        flags |= bit
        if kind == "s":
            encoded = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
            parts += (_OCTET.pack(len(encoded)), encoded)
        elif kind == "o":
            parts.append(_OCTET.pack(value))
        elif kind == "F":
            parts.append(_table_bytes(value))
        else:
            parts.append(dumps(kind, [value]))
    return struct.pack(">H", flags) + b"".join(parts)


def _table_bytes(table: dict) -> bytes:
    items: list[bytes] = []
    for key, value in table.items():
        name = key.encode("utf-8", "surrogatepass") if isinstance(key, str) else key
        if isinstance(value, str):
            encoded = value.encode("utf-8", "surrogatepass")
            items += (_OCTET.pack(len(name)), name, _LONG_STR.pack(b"S", len(encoded)), encoded)
        elif type(value) is int and -2147483647 <= value <= 2147483647:
            items += (_OCTET.pack(len(name)), name, _INT.pack(b"I", value))
        else:
            return dumps("F", [table])
    data = b"".join(items)
    return struct.pack(">I", len(data)) + data


class Pipeline:
    """Batches in flight on a ConfirmedPublisher, completed strictly in the order they were sent.

    `send` publishes a batch and, once more than `depth` batches are in flight, waits for the
    oldest one's confirms and only then calls its `on_confirmed` (which moves a checkpoint). So
    the caller reads and sends batch n+1 while the broker stores and confirms batch n, and a
    checkpoint never passes a message whose confirm has not arrived. If a confirm fails (nack,
    timeout, a dropped connection), PublishFailed or the connection's error propagates and the
    batches still in flight are never completed: the caller re-sends from its last checkpoint.
    """

    def __init__(self, publisher: ConfirmedPublisher, depth: int = 1):
        self.publisher = publisher
        self.depth = depth
        self._in_flight: deque[tuple[int, Callable[[], None]]] = deque()

    def send(self, messages: Iterable[tuple[str, str, amqp.Message]],
             on_confirmed: Callable[[], None]) -> None:
        self._in_flight.append((self.publisher.publish(messages), on_confirmed))
        while len(self._in_flight) > self.depth:
            self._complete_oldest()

    def drain(self) -> None:
        """Waits for every batch in flight and completes them, in order."""
        while self._in_flight:
            self._complete_oldest()

    def _complete_oldest(self) -> None:
        last_tag, on_confirmed = self._in_flight[0]
        self.publisher.wait_for_confirms(last_tag)
        self._in_flight.popleft()
        on_confirmed()
