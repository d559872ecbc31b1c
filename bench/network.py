"""The network the end-to-end benchmarks measure: membership, ledger (and the other services a
figure names) and the gateway as their own processes, the e2e Stack of tests/e2e/conftest.py (own
database prefix, ports and RabbitMQ vhost), and what sets one up over HTTP: a cooperative with
members whose savings are open, a disbursed murabahah contract.

Service output goes to .run/bench-e2e.log; each figure starts its own network (fresh databases).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import urllib3
from nameko.standalone.rpc import ClusterRpcProxy

import shared.providers  # noqa: F401 - DomainError crosses RPC as itself
from shared import store_trace

REPO = Path(__file__).resolve().parent.parent
LOG = REPO / ".run" / "bench-e2e.log"
ECHO = "tests.support.echoservice.service"


class Network:
    """The e2e Stack, quiet, plus (optionally) the echo service; `rpc` is a cluster proxy."""

    def __init__(self, echo: bool = False, services: tuple[str, ...] = ("membership", "ledger", "gateway")):
        from tests.e2e.conftest import Stack  # imported here: it makes the session's vhost

        self.stack = Stack()
        self.stack.env["KOPNET_LOG_LEVEL"] = "WARNING"
        # every service counts its store operations (shared/store_trace.py), for CpuMeter
        self.store_trace = Path(tempfile.mkdtemp(prefix="kopnet-store-trace-"))
        self.stack.env[store_trace.ENVIRONMENT] = str(self.store_trace)
        self.stack.env["GATEWAY_RPC_TIMEOUT"] = "5"  # the production default (the e2e tests use 2 s)
        self.echo = echo
        self.services = services
        self.echo_process: subprocess.Popen | None = None

    def __enter__(self) -> Network:
        try:
            with _output_to(LOG):
                self.stack.start(*self.services)
                if self.echo:
                    self.echo_process = subprocess.Popen(
                        [sys.executable, "-m", "shared.cli", "run", ECHO],
                        env={**os.environ, **self.stack.env})
        except BaseException:
            self.__exit__()
            raise
        self.cluster = ClusterRpcProxy({"AMQP_URI": self.stack.env["AMQP_URI"]}, timeout=30)
        self.rpc = self.cluster.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if getattr(self, "cluster", None) is not None:
            self.cluster.stop()
        with _output_to(LOG):
            if self.echo_process is not None:
                from shared.supervisor import stop_processes

                stop_processes([("echo", self.echo_process)])
            self.stack.close()

    # -- a cooperative with members whose savings are open -------------------------------------
    def cooperative(self, members: int) -> tuple[str, str, list[str]]:
        from tests.e2e.conftest import application, registration, unique_digits

        admin = self.stack.token("network_admin")
        coop = self._ok("POST", "/cooperatives", admin, registration(unique_digits(16)))["id"]
        token = self.stack.token("coop_admin", cooperative_id=coop)
        ids = [self._ok("POST", f"/cooperatives/{coop}/members", token, application(unique_digits(16)))["id"]
               for _ in range(members)]
        for member in ids:
            self._ok("POST", f"/cooperatives/{coop}/members/{member}/admit", token)
        for member in ids:
            _until(lambda m=member: self.stack.call(
                "GET", f"/cooperatives/{coop}/members/{m}/savings", token).status_code == 200,
                "savings accounts open in the ledger")
        return coop, token, ids

    def _ok(self, method: str, path: str, token: str, body: Any = None) -> Any:
        answer = self.stack.call(method, path, token, body)
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json()

    @property
    def host(self) -> str:
        return self.stack.base.removesuffix("/api/v1")

    def api(self, connections: int = 64) -> Api:
        return Api(self.stack.base, connections)


class Api:
    """The gateway as a timed load's client sees it: one urllib3 pool of `connections`, a caller
    waiting for a free one. A POST costs the bench 0.4-0.6 ms of CPU here against 1.6-1.7 with a
    requests Session (which also merges proxy settings from the environment into every request),
    and on a 2-core machine whatever the client spends is taken from the network it measures."""

    def __init__(self, base: str, connections: int):
        url = urllib3.util.parse_url(base)
        self.path = url.path or ""
        self.pool = urllib3.HTTPConnectionPool(url.host, url.port, maxsize=connections, block=True)

    def post(self, path: str, body: Any, headers: dict[str, str], timeout: float = 10) -> tuple[int, bytes]:
        """(status, body) of a POST of `body` as JSON; urllib3's HTTPError when there is no answer."""
        answer = self.pool.request("POST", self.path + path, body=json.dumps(body).encode(),
                                   headers={**headers, "Content-Type": "application/json"},
                                   timeout=timeout, retries=False)
        return answer.status, answer.data


def disbursed_murabahah(network: Network, coop: str, token: str, member: str, terms: dict[str, int]) -> str:
    """A murabahah contract of `member`, applied for, approved, signed and disbursed today; its id."""
    today = _today()
    first_due_on = (date.fromisoformat(today) + timedelta(days=30)).isoformat()
    contract = network._ok("POST", f"/cooperatives/{coop}/financing", token, {
        "member_id": member, "product": "murabahah", "applied_on": today,
        "terms": {**terms, "first_due_on": first_due_on}})["id"]
    for step in ("approve", "sign", "disburse"):
        network._ok("POST", f"/cooperatives/{coop}/financing/{contract}/{step}", token, {"date": today})
    return contract


@contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """This process's stdout/stderr (and so the children it starts) go to `path` meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _until(condition: Callable[[], object], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)
    return value


def _today() -> str:
    from services.ledger.application import local_today

    return local_today().isoformat()
