"""Fixtures over the real RabbitMQ and store that `make test` starts (or AMQP_URI/MONGODB_URI)."""
from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()  # before anything else imports sockets or threads: nameko runs on eventlet

import atexit
import base64
import json
import os
import socket
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import kombu
import pytest

from shared.config import DEFAULTS
from shared.eventstore import EventStore, connect

MONGODB_URI = os.environ.get("MONGODB_URI", DEFAULTS["MONGODB_URI"])
BROKER_URI = os.environ.get("AMQP_URI", DEFAULTS["AMQP_URI"])


def _session_vhost(broker_uri: str) -> tuple[str, str | None]:
    """Gives this test session its own RabbitMQ vhost (queues, exchanges, RPC and locks),
    so concurrent sessions on one broker never consume each other's messages. Needs the
    management API (as `make up` starts it); without it the URI is used as it is."""
    parsed = urllib.parse.urlsplit(broker_uri)
    vhost = f"kopnet-test-{uuid.uuid4().hex[:8]}"
    api = f"http://{parsed.hostname}:{os.environ.get('RABBITMQ_MGMT_PORT', '15672')}/api"
    auth = base64.b64encode(f"{parsed.username or 'guest'}:{parsed.password or 'guest'}".encode()).decode()

    def call(method: str, path: str, body: dict | None = None) -> None:
        request = urllib.request.Request(f"{api}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": f"Basic {auth}",
                                                  "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()

    try:
        call("PUT", f"/vhosts/{vhost}", {})
        call("PUT", f"/permissions/{vhost}/{parsed.username or 'guest'}",
             {"configure": ".*", "write": ".*", "read": ".*"})
    except OSError:
        return broker_uri, None
    isolated = urllib.parse.urlunsplit(parsed._replace(path="/" + vhost))
    atexit.register(lambda: call("DELETE", f"/vhosts/{vhost}"))
    return isolated, vhost


AMQP_URI, SESSION_VHOST = _session_vhost(BROKER_URI)
os.environ["AMQP_URI"] = AMQP_URI  # service processes started by e2e tests inherit it


def wait_for(condition: Callable[[], object], timeout: float = 15.0, interval: float = 0.02,
             what: str = "condition") -> object:
    """Polls `condition` until it returns something truthy; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def amqp_uri() -> str:
    return AMQP_URI


@pytest.fixture
def mongodb_uri() -> str:
    return MONGODB_URI


@pytest.fixture
def database_name() -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    connect(MONGODB_URI, name).client.drop_database(name)


@pytest.fixture
def database(database_name):
    return connect(MONGODB_URI, database_name)


@pytest.fixture
def bank_registry():
    from tests.support.bankservice.schemas import registry

    return registry


@pytest.fixture
def store(database, bank_registry) -> EventStore:
    return EventStore(database, bank_registry)


@pytest.fixture
def service_name() -> str:
    """A service name no other test uses, so queues and broker locks never collide."""
    return f"bank{uuid.uuid4().hex[:8]}"


@pytest.fixture
def tap(amqp_uri) -> Iterator[Callable[[str], Tap]]:
    """Binds throwaway queues to kopnet.events to see what was published."""
    taps: list[Tap] = []

    def make(pattern: str, exchange: str | None = None) -> Tap:
        tap = Tap(amqp_uri, pattern, exchange)
        taps.append(tap)
        return tap

    yield make
    for tap in taps:
        tap.close()


class Tap:
    def __init__(self, amqp_uri: str, pattern: str, exchange: str | None = None):
        """A queue bound to kopnet.events, or to another `exchange` that already exists."""
        from shared.broker import EVENTS_EXCHANGE, declare_events_exchange

        self.connection = kombu.Connection(amqp_uri)
        self.channel = self.connection.channel()
        if exchange is None:
            declare_events_exchange(self.channel)
        self.queue = f"tap.{uuid.uuid4().hex[:10]}"
        self.channel.queue_declare(self.queue, durable=False, auto_delete=False, exclusive=True)
        self.channel.queue_bind(self.queue, exchange or EVENTS_EXCHANGE, pattern)
        self.messages: list = []

    def drain(self) -> list:
        while True:
            message = self.channel.basic_get(self.queue, no_ack=True)
            if message is None:
                return self.messages
            self.messages.append(message)

    def close(self) -> None:
        self.connection.release()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_in_background(target: Callable[[], None]) -> eventlet.greenthread.GreenThread:
    return eventlet.spawn(target)
