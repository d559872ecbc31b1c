"""Real service processes (every service in services/, the gateway last) behind real HTTP,
isolated per session.

Isolation: a unique database prefix (KOPNET_DB_PREFIX), free ports, and — when the
RabbitMQ management API answers — a throwaway virtual host, so that no other running
membership process (a `make run`, another test session) consumes this session's RPC calls.
"""

from __future__ import annotations

import secrets
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import requests

from services.gateway.auth import Principal, sign
from shared.eventstore import connect
from shared.supervisor import service_names, start_processes, stop_processes
from tests.conftest import AMQP_URI, MONGODB_URI
from tests.support.niks import plausible_nik

RPC_TIMEOUT = 4.0  # seconds; shorter than production (5 s) so the 503 test is quick, long enough for a
#                   busy 2-core machine running every service of the network


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class VirtualHost:
    """A RabbitMQ vhost made through the management API; None when that API is not there."""

    def __init__(self, amqp_uri: str, name: str):
        parts = urlsplit(amqp_uri)
        self.auth = (parts.username or "guest", parts.password or "guest")
        self.api = f"http://{parts.hostname or '127.0.0.1'}:15672/api"
        self.name = name
        self.uri = urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), "", ""))

    def create(self) -> bool:
        try:
            requests.put(f"{self.api}/vhosts/{self.name}", auth=self.auth, timeout=5).raise_for_status()
            requests.put(
                f"{self.api}/permissions/{self.name}/{self.auth[0]}",
                auth=self.auth,
                timeout=5,
                json={"configure": ".*", "write": ".*", "read": ".*"},
            ).raise_for_status()
            return True
        except requests.RequestException:
            return False

    def delete(self) -> None:
        try:
            requests.delete(f"{self.api}/vhosts/{self.name}", auth=self.auth, timeout=10)
        except requests.RequestException:
            pass


class Stack:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.prefix = f"e2e_{tag}"
        self.secret = secrets.token_urlsafe(40)
        address = f"127.0.0.1:{free_port()}"
        self.base = f"http://{address}/api/v1"
        self.metrics_port = free_port()
        self.vhost = VirtualHost(AMQP_URI, f"kopnet-e2e-{tag}")
        amqp_uri = self.vhost.uri if self.vhost.create() else AMQP_URI
        self.env = {
            "KOPNET_DB_PREFIX": self.prefix,
            "AMQP_URI": amqp_uri,
            "MONGODB_URI": MONGODB_URI,
            "KOPNET_JWT_SECRET": self.secret,
            "GATEWAY_ADDRESS": address,
            "GATEWAY_METRICS_PORT": str(self.metrics_port),
            "MEMBERSHIP_METRICS_PORT": str(free_port()),
            "LEDGER_METRICS_PORT": str(free_port()),
            "FEED_METRICS_PORT": str(free_port()),
            "FINANCING_METRICS_PORT": str(free_port()),
            "NETWORKING_METRICS_PORT": str(free_port()),
            "GATEWAY_RPC_TIMEOUT": str(RPC_TIMEOUT),
        }
        self.processes: dict[str, Any] = {}
        self.session = requests.Session()

    # -- processes ------------------------------------------------------------------------------
    def start(self, *names: str) -> None:
        for name, process in start_processes(list(names), env=self.env):
            self.processes[name] = process

    def stop(self, name: str) -> None:
        stop_processes([(name, self.processes.pop(name))])

    def close(self) -> None:
        try:
            stop_processes(list(self.processes.items()))
            client = connect(MONGODB_URI, "admin").client
            for service in service_names():
                client.drop_database(f"{self.prefix}_{service}")
        finally:
            self.vhost.delete()

    def database(self, service: str):
        return connect(MONGODB_URI, f"{self.prefix}_{service}")

    # -- HTTP -----------------------------------------------------------------------------------
    def token(
        self, role: str, ttl: timedelta = timedelta(hours=1), secret: str | None = None, **ids: str
    ) -> str:
        return sign(Principal(role, **ids), secret or self.secret, ttl)

    def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> requests.Response:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            options["json"] = body
        return self.session.request(method, self.base + path, headers=headers, timeout=30, **options)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    stack = Stack()
    started = time.monotonic()
    try:
        stack.start(*service_names())  # every service of services/, the gateway last
        print(f"\n[e2e] services ready in {time.monotonic() - started:.1f}s (prefix {stack.prefix})")
        yield stack
    finally:
        stack.close()


def registration(number: str, **changes: Any) -> dict[str, Any]:
    return {
        "name": f"Koperasi {number}",
        "registration_number": number,
        "kind": "ksp",
        "regency": "kabupaten-bandung",
        "is_pesantren": False,
        "founded_on": "2010-01-15",
        **changes,
    }


def application(nik: str, **changes: Any) -> dict[str, Any]:
    """An application; 16 digits become a plausible NIK unique to them (others are sent as given)."""
    nik = plausible_nik(nik) if len(nik) == 16 and nik.isdigit() else nik
    return {
        "name": f"Anggota {nik[-4:]}",
        "nik": nik,
        "phone": "081234567890",
        "joined_on": "2024-01-10",
        **changes,
    }


def unique_digits(length: int) -> str:
    return str(uuid.uuid4().int)[:length].rjust(length, "1")


class World:
    """Two cooperatives with members, and a token for every kind of principal."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.admin = stack.token("network_admin")
        self.a = self.register()["id"]
        self.b = self.register()["id"]
        self.board_a = stack.token("coop_admin", cooperative_id=self.a)
        self.board_b = stack.token("coop_admin", cooperative_id=self.b)
        self.m1 = self.apply(self.a)["id"]
        self.m2 = self.apply(self.a)["id"]
        self.b1 = self.apply(self.b)["id"]
        self.tokens = {
            "network_admin": self.admin,
            "coop_admin_a": self.board_a,
            "member_a1": stack.token("member", cooperative_id=self.a, member_id=self.m1),
            "member_a2": stack.token("member", cooperative_id=self.a, member_id=self.m2),
            "coop_admin_b": self.board_b,
            "member_b1": stack.token("member", cooperative_id=self.b, member_id=self.b1),
            "partner": stack.token("partner", partner_id="bank-syariah-1"),
        }

    def register(self, **changes: Any) -> dict[str, Any]:
        body = registration(unique_digits(16), **changes)
        response = self.stack.call("POST", "/cooperatives", self.admin, body)
        assert response.status_code == 201, response.text
        return response.json()

    def apply(self, cooperative_id: str, **changes: Any) -> dict[str, Any]:
        token = self.stack.token("coop_admin", cooperative_id=cooperative_id)
        response = self.stack.call(
            "POST",
            f"/cooperatives/{cooperative_id}/members",
            token,
            application(unique_digits(16), **changes),
        )
        assert response.status_code == 201, response.text
        return response.json()

    def act(self, cooperative_id: str, member_id: str, action: str, body: Any = None) -> dict[str, Any]:
        token = self.stack.token("coop_admin", cooperative_id=cooperative_id)
        path = f"/cooperatives/{cooperative_id}/members/{member_id}/{action}"
        response = self.stack.call("POST", path, token, body)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def world(stack) -> World:
    return World(stack)


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, body
    assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text
    return body["error"]
