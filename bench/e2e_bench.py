"""End-to-end benchmarks: membership, ledger and gateway as their own processes (bench/network.py),
measured from outside.

* rpc_overhead: median round trip of a real command RPC (a sukarela deposit: loaded, decided,
  stored with its journal entry, relayed) / median of a bare nameko echo RPC (a service with no
  kernel, tests/support/echoservice) on the same broker; the two are interleaved, call by call.
* e2e_p50_ms / e2e_p99_ms: an HTTP deposit through the gateway until its journal entry is in the
  ledger's read model, offered at a fixed 50 commands/s for 30 s after 5 s of warm-up at that
  rate. The client looks the entry up by _id every 5 ms after the HTTP answer (exact to 5 ms), with
  at most 400 lookups a second in all (ReadModelWatch), and reports how many it made per deposit.
* cpu_ms_per_command_<process>: during those 30 s, the CPU time (utime + stime of /proc/<pid>/stat)
  each service process, FerretDB and RabbitMQ's beam.smp spent per deposit offered, so a regression
  shows where. The store and the broker are shared with whatever else runs on this machine.

The sustained load of all four services is bench/sustained_bench.py.
"""
from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import eventlet
import urllib3

from shared.envelope import new_id
from shared.projection import read_model

from .meters import CpuMeter, ReadModelWatch, latency_figures, measure
from .network import Network, _today, _until

RPC_CALLS = 300
E2E_RATE, E2E_SECONDS = 50.0, 30
LATE = "not in the read model after 10 s"


def rpc_overhead(amqp_uri: str, mongodb_uri: str, run_id: str) -> dict:
    with Network(echo=True) as network:
        coop, _token, [member] = network.cooperative(1)
        today = _today()
        echo, ledger = network.rpc.bench_echo, network.rpc.ledger
        _until(lambda: _answers(echo), "the echo service")

        def deposit() -> None:
            ledger.deposit(coop, member, "sukarela", {"amount": 1000, "date": today},
                           {"command_id": new_id(), "correlation_id": new_id()})

        def bare() -> None:
            echo.echo(coop, member, "sukarela", {"amount": 1000, "date": today},
                      {"command_id": new_id(), "correlation_id": new_id()})

        for _ in range(30):  # warm caches and connections
            bare()
            deposit()
        times: dict[str, list[float]] = {"echo": [], "deposit": []}
        for _ in range(RPC_CALLS):  # interleaved, so both see the same machine
            for name, call in (("echo", bare), ("deposit", deposit)):
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
    echo_ms, deposit_ms = (statistics.median(times[name]) * 1000 for name in ("echo", "deposit"))
    return {"rpc_overhead": {
        "value": deposit_ms / echo_ms, "aim": "<= 2.5",
        "detail": f"median sukarela deposit RPC {deposit_ms:.2f} ms (stored + relayed) vs bare nameko "
                  f"echo {echo_ms:.2f} ms; {RPC_CALLS} of each, interleaved"}}


def _answers(echo: Any) -> bool:
    try:
        echo.echo("ping")
        return True
    except Exception:  # noqa: BLE001 - not up yet
        return False


def e2e_latency(amqp_uri: str, mongodb_uri: str, run_id: str) -> dict:
    with Network() as network:
        targets = [network.cooperative(10) for _ in range(4)]  # 40 members, about one deposit a second each
        members = [(coop, token, member) for coop, token, ids in targets for member in ids]
        ledger = network.stack.database("ledger")
        entries = read_model(ledger, "ledger_journal_entries", "journal_entries")
        api = network.api()
        today, latencies, errors = _today(), [], []

        def one(n: int) -> None:
            coop, token, member = members[n % len(members)]
            started = time.perf_counter()
            try:
                status, body = api.post(
                    f"/cooperatives/{coop}/members/{member}/savings/sukarela/deposits",
                    {"amount": 1000 + n, "date": today},
                    {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
            except urllib3.exceptions.HTTPError as error:
                errors.append(repr(error))
                return
            if status != 201:
                errors.append(f"{status} {body[:120].decode(errors='replace')}")
                return
            if watch.wait(json.loads(body)["entry_id"], started + 10):
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors.append(LATE)

        watch = ReadModelWatch(entries)
        watcher = eventlet.spawn(watch.run)
        cpu = CpuMeter.of(network, mongodb_uri)
        measure(one, latencies, errors, E2E_RATE, E2E_SECONDS, cpu)
        watcher.kill()
    stored = len(latencies) + errors.count(LATE)
    figures = latency_figures("e2e", "HTTP sukarela deposit until its entry is in the ledger's read model",
                              latencies, errors, E2E_RATE, E2E_SECONDS, aim="<= 100")
    figures["e2e_p50_ms"]["detail"] += f"; the client's read-model lookups: {watch.per_entry():.1f} a deposit"
    return {**figures, **cpu.figures(stored, "sukarela deposits stored")}


FIGURES: list[tuple[str, Callable[[str, str, str], dict]]] = [
    ("rpc_overhead", rpc_overhead),
    ("e2e_latency", e2e_latency),
]
