"""Wire-level probes on loopback ports: does an AMQP 0-9-1 server answer, does RabbitMQ's
management API, does a MongoDB-speaking store answer an OP_MSG ping, is anything listening at all.

The ping needs BSON, so a minimal encoder and a decoder of top-level scalars live here too:
localinfra may use nothing outside the standard library (the system python3 runs it).
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import struct
import urllib.error
import urllib.request

from infra.settings import HOST


def amqp_answers(port: int, timeout: float = 1.0) -> bool:
    """AMQP 0-9-1 protocol header -> expect a Connection.Start method frame."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            head = s.recv(11)
    except OSError:
        return False
    # frame type 1 (method), channel 0, ..., class 10 (connection), method 10 (start)
    return len(head) >= 11 and head[0] == 1 and head[7:11] == b"\x00\x0a\x00\x0a"


def mgmt_answers(port: int, timeout: float = 2.0) -> bool:
    req = urllib.request.Request(f"http://{HOST}:{port}/api/overview")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status == 200 and "rabbitmq_version" in json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def bson_encode(doc: dict) -> bytes:
    body = b""
    for key, value in doc.items():
        k = key.encode() + b"\x00"
        if isinstance(value, bool):
            body += b"\x08" + k + (b"\x01" if value else b"\x00")
        elif isinstance(value, int):
            body += b"\x10" + k + struct.pack("<i", value)
        elif isinstance(value, str):
            v = value.encode() + b"\x00"
            body += b"\x02" + k + struct.pack("<i", len(v)) + v
        else:
            raise TypeError(f"bson_encode: unsupported {type(value).__name__}")
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def bson_decode_top(data: bytes) -> dict:
    """Top-level scalars of a BSON document; nested values are skipped."""
    (total,) = struct.unpack_from("<i", data, 0)
    out: dict = {}
    i = 4
    while i < total - 1:
        t = data[i]
        j = data.index(b"\x00", i + 1)
        key = data[i + 1:j].decode()
        i = j + 1
        if t == 0x01:
            out[key] = struct.unpack_from("<d", data, i)[0]
            i += 8
        elif t == 0x02 or t == 0x0D or t == 0x0E:
            (n,) = struct.unpack_from("<i", data, i)
            out[key] = data[i + 4:i + 3 + n].decode(errors="replace")
            i += 4 + n
        elif t in (0x03, 0x04):
            (n,) = struct.unpack_from("<i", data, i)
            i += n
        elif t == 0x05:
            (n,) = struct.unpack_from("<i", data, i)
            i += 5 + n
        elif t == 0x07:
            i += 12
        elif t == 0x08:
            out[key] = data[i] == 1
            i += 1
        elif t in (0x09, 0x11, 0x12):
            out[key] = struct.unpack_from("<q", data, i)[0]
            i += 8
        elif t in (0x0A, 0x06, 0xFF, 0x7F):
            out[key] = None
        elif t == 0x10:
            out[key] = struct.unpack_from("<i", data, i)[0]
            i += 4
        elif t == 0x13:
            i += 16
        else:
            raise ValueError(f"bson: unsupported element type {t:#x}")
    return out


def mongo_ping(port: int, timeout: float = 2.0) -> bool:
    """OP_MSG {ping: 1, $db: "admin"}; True only if the reply says ok: 1."""
    doc = bson_encode({"ping": 1, "$db": "admin"})
    payload = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0, body
    request_id = secrets.randbits(31)
    msg = struct.pack("<iiii", 16 + len(payload), request_id, 0, 2013) + payload
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(msg)
            buf = b""
            while len(buf) < 4 or len(buf) < struct.unpack_from("<i", buf)[0]:
                chunk = s.recv(65536)
                if not chunk:
                    return False
                buf += chunk
    except OSError:
        return False
    try:
        _length, _rid, response_to, opcode = struct.unpack_from("<iiii", buf)
        if opcode != 2013 or response_to != request_id or buf[20] != 0:
            return False
        return bson_decode_top(buf[21:]).get("ok") == 1
    except (ValueError, IndexError, struct.error):
        return False
