"""Admission control over real HTTP: a gateway allowed 2 ledger RPCs in flight and 0.4 s of wait.

The ledger is made slow by pausing its process (SIGSTOP) while the requests are fired: the two
admitted deposits sit in its queue, the rest get 503 `unavailable` with Retry-After at once (2
wait 0.4 s for a slot, more may not wait) well under RPC_TIMEOUT, and change nothing; once the
ledger resumes, the admitted two succeed.
Meanwhile membership (its own slots) and idempotent replays (no slot) are answered as usual.
"""

from __future__ import annotations

import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from shared.supervisor import start_processes, stop_processes
from tests.conftest import wait_for

from .conftest import assert_error, free_port

LIMIT, WAIT, RPC_TIMEOUT = 2, 0.4, 10.0
FIRED = LIMIT + 4


class SmallGateway:
    """A second gateway process on the session's network, with a small admission limit."""

    def __init__(self, stack):
        self.stack = stack
        address, self.metrics_port = f"127.0.0.1:{free_port()}", free_port()
        self.base = f"http://{address}/api/v1"
        self.processes = start_processes(["gateway"], env={
            **stack.env, "GATEWAY_ADDRESS": address, "GATEWAY_METRICS_PORT": str(self.metrics_port),
            "GATEWAY_MAX_IN_FLIGHT": str(LIMIT), "GATEWAY_ADMISSION_WAIT": str(WAIT),
            "GATEWAY_RPC_TIMEOUT": str(RPC_TIMEOUT)})

    def call(self, method: str, path: str, token: str, body: Any = None,
             headers: dict[str, str] | None = None) -> requests.Response:
        return requests.request(method, self.base + path, json=body, timeout=30,
                                headers={"Authorization": f"Bearer {token}", **(headers or {})})

    def metric(self, name: str, target: str) -> float:
        text = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return next(sample.value for family in text_string_to_metric_families(text)
                    for sample in family.samples
                    if sample.name == name and sample.labels == {"service": "gateway", "target": target})


@pytest.fixture(scope="module")
def small_gateway(stack):
    gateway = SmallGateway(stack)
    yield gateway
    stop_processes(gateway.processes)


def open_savings(stack, world) -> tuple[str, str, str]:
    cooperative = world.register()["id"]
    member = world.apply(cooperative)["id"]
    world.act(cooperative, member, "admit", {"date": "2024-01-10"})  # savings are dated from 2026-01-05
    board = stack.token("coop_admin", cooperative_id=cooperative)
    savings = f"/cooperatives/{cooperative}/members/{member}/savings"
    wait_for(lambda: stack.call("GET", savings, board).status_code == 200, what="savings open in the ledger")
    return cooperative, savings, board


def timed(call) -> tuple[float, requests.Response]:
    started = time.monotonic()
    response = call()
    return time.monotonic() - started, response


def test_past_the_limit_requests_are_shed_at_once_and_change_nothing(stack, world, small_gateway):
    gateway = small_gateway
    cooperative, savings, board = open_savings(stack, world)
    replayed = {"Idempotency-Key": str(uuid.uuid4())}
    first = gateway.call("POST", f"{savings}/sukarela/deposits", board, {"amount": 1, "date": "2026-01-05"},
                         replayed)
    assert first.status_code == 201, first.text
    amounts = [1_000 * 2**n for n in range(FIRED)]  # the balance tells which deposits ran
    keys = [str(uuid.uuid4()) for _ in amounts]

    def deposit(n: int) -> tuple[float, requests.Response]:
        return timed(lambda: gateway.call("POST", f"{savings}/sukarela/deposits", board,
                                          {"amount": amounts[n], "date": "2026-01-06"},
                                          {"Idempotency-Key": keys[n]}))

    ledger = stack.processes["ledger"]
    pool = ThreadPoolExecutor(FIRED)
    ledger.send_signal(signal.SIGSTOP)  # the slow service: admitted requests wait in its queue
    try:
        fired = [pool.submit(deposit, n) for n in range(FIRED)]
        wait_for(lambda: sum(f.done() for f in fired) == FIRED - LIMIT, timeout=RPC_TIMEOUT / 2,
                 what="the excess answered")
        assert gateway.metric("kopnet_gateway_rpc_in_flight", "ledger") == LIMIT
        # reads share the ledger's slots: shed too
        elapsed, read = timed(lambda: gateway.call("GET", savings, board))
        assert "ledger is saturated" in assert_error(read, 503, "unavailable")["message"]
        assert read.headers["Retry-After"] == "1" and elapsed < WAIT + 1.5
        # other services have slots of their own; replays come from the gateway's store, no slot
        assert gateway.call("GET", f"/cooperatives/{cooperative}", board).status_code == 200
        again = gateway.call("POST", f"{savings}/sukarela/deposits", board,
                             {"amount": 1, "date": "2026-01-05"}, replayed)
        assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (201, "true")
        assert again.json() == first.json()
    finally:
        ledger.send_signal(signal.SIGCONT)
    answers = [future.result(timeout=RPC_TIMEOUT + 5) for future in fired]
    pool.shutdown()

    admitted = [n for n, (_, answer) in enumerate(answers) if answer.status_code == 201]
    shed = [n for n, (_, answer) in enumerate(answers) if answer.status_code != 201]
    assert len(admitted) == LIMIT and len(shed) == FIRED - LIMIT, [a.text for _, a in answers]
    for n in shed:
        elapsed, answer = answers[n]
        error = assert_error(answer, 503, "unavailable")
        assert "ledger is saturated" in error["message"]
        assert "nothing was changed, try again" in error["message"]
        assert answer.headers["Retry-After"] == "1"
        assert elapsed < WAIT + 1.5 < RPC_TIMEOUT  # at once (or after the short wait), not at the deadline
    assert gateway.metric("kopnet_gateway_shed_total", "ledger") == len(shed) + 1
    assert gateway.metric("kopnet_gateway_shed_total", "membership") == 0
    wait_for(lambda: gateway.metric("kopnet_gateway_rpc_in_flight", "ledger") == 0, what="slots released")

    # nothing was changed by the shed requests: the balance is the first deposit and the admitted ones
    balance = stack.call("GET", savings, board).json()["sukarela"]
    assert balance == 1 + sum(amounts[n] for n in admitted)
    # and their keys were not spent: the client's retry goes through, once
    retry = gateway.call("POST", f"{savings}/sukarela/deposits", board, {"amount": amounts[shed[0]],
                         "date": "2026-01-06"}, {"Idempotency-Key": keys[shed[0]]})
    assert retry.status_code == 201, retry.text
    assert retry.json()["sukarela"] == balance + amounts[shed[0]]
