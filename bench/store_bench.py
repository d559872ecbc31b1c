"""The store side by side: FerretDB v1 on SQLite against FerretDB v1 on PostgreSQL (issue 16).

Starts a pair of its own through deploy/localinfra.py (same launcher binary, data under
.run/store-bench-<run>, PostgreSQL with fsync on as SQLite's synchronous=FULL) and measures both
in this one process, round by round, the order swapped every round so neither always runs
first on this shared 2-core machine:

- insert_one of a commit-sized document, one at a time (inserts/s; CPU per 1,000 writes);
- find_one by `_id` over what was inserted (p50 and p95 ms);
- 8 concurrent writers, threads each inserting on their own (inserts/s and p99 ms);
- the kernel workload: shared.application.Application over shared.eventstore.EventStore with
  tests/support/bankservice, 100 accounts and round-robin deposits (commands/s, as
  bench/peer_bench.py measures kopnet).

CPU is read from /proc/<pid>/stat: FerretDB's process, plus (pg) PostgreSQL's postmaster, its
live children and what it has reaped. Ratios are pg over SQLite in speed (> 1: pg is
faster, or cheaper for CPU). `python -m bench.store_bench` (`make bench-store`) prints a table;
the MONGODB_URI the figure function is given is not used: both stores are this module's own.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from pymongo.database import Database

from shared.application import Application
from shared.eventstore import EventStore, connect
from tests.support.bankservice.domain import Account
from tests.support.bankservice.schemas import registry

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "pg")
ROUNDS = 2
INSERTS = 2000
LOOKUPS = 2000
WRITERS = 8
WRITES_PER_WRITER = 250
ACCOUNTS = 100
DEPOSITS = 2000
PAD = "x" * 200  # a commit's size, as bench/kernel_bench.py's events
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _localinfra() -> ModuleType:
    """deploy/localinfra.py is a stdlib-only script, not a package: load it by path."""
    spec = importlib.util.spec_from_file_location("localinfra", REPO / "deploy" / "localinfra.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (fields[0] is the state, field 3)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu_seconds(pid: int, with_reaped_children: bool = False) -> float:
    fields = _stat_fields(pid)
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: children that exited
    return ticks / CLOCK_TICKS


def postgres_cpu_seconds(postmaster: int) -> float:
    """The postmaster (with the children it reaped) plus every live child of it: backends,
    checkpointer, WAL writer. Children, not the process group: each calls setsid()."""
    total = process_cpu_seconds(postmaster, with_reaped_children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != postmaster:
            try:
                fields = _stat_fields(int(entry.name))
                if int(fields[1]) == postmaster:  # ppid
                    total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            except (OSError, ValueError, IndexError):
                pass  # gone meanwhile
    return total


@dataclass
class Store:
    backend: str
    uri: str
    ferretdb_pid: int
    postgres_pid: int | None
    setup_seconds: float  # pg: initdb + start PostgreSQL + FerretDB, on a fresh data dir

    def cpu_seconds(self) -> tuple[float, float]:
        """(FerretDB, PostgreSQL) CPU seconds so far; PostgreSQL is 0 on SQLite."""
        pg = postgres_cpu_seconds(self.postgres_pid) if self.postgres_pid else 0.0
        return process_cpu_seconds(self.ferretdb_pid), pg


@contextmanager
def store_pair(run_id: str) -> Iterator[dict[str, Store]]:
    """Both stores, started by localinfra under .run/store-bench-<run_id>, stopped and removed after."""
    infra = _localinfra()
    root = REPO / ".run" / f"store-bench-{run_id}"
    states = {}
    try:
        stores = {}
        for backend in BACKENDS:
            state = infra.State(root / backend)
            states[backend] = state
            ports = argparse.Namespace(store_port=_free_port(), store_backend=backend,
                                       pg_port=_free_port())
            infra.ferret_binary()  # built or found before the clock starts: set-up is the rest
            started = time.monotonic()
            infra.run_store(state, ports)
            setup = time.monotonic() - started
            infra.say(f"{backend} store set up in {setup:.1f}s "
                      f"(FerretDB{' + initdb + PostgreSQL' if backend == 'pg' else ''})")
            postgres = state.get("postgres")
            stores[backend] = Store(backend, f"mongodb://127.0.0.1:{ports.store_port}/",
                                    state.get("store")["pid"], postgres["pid"] if postgres else None,
                                    setup)
        yield stores
    finally:
        for state in states.values():
            infra.cmd_down(state)
        shutil.rmtree(root, ignore_errors=True)


def _document(n: int) -> dict:
    return {"stream": f"Account-s{n}", "start": 0, "end": 1, "type": "bank.AccountOpened",
            "data": {"cooperative_id": f"coop-{n % 50}", "owner": f"{n}{PAD}"}}


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_inserts(store: Store, database: Database) -> dict[str, float]:
    collection = database["inserts"]
    collection.insert_one({"_id": "warmup"})
    ferret_before, pg_before = store.cpu_seconds()
    started = time.perf_counter()
    for n in range(INSERTS):
        collection.insert_one({**_document(n), "_id": f"doc-{n}"})
    elapsed = time.perf_counter() - started
    ferret_after, pg_after = store.cpu_seconds()
    per_thousand = 1000 / INSERTS
    return {"insert_per_s": INSERTS / elapsed,
            "ferretdb_cpu_per_1k": (ferret_after - ferret_before) * per_thousand,
            "postgres_cpu_per_1k": (pg_after - pg_before) * per_thousand,
            "store_cpu_per_1k": (ferret_after - ferret_before + pg_after - pg_before) * per_thousand}


def measure_lookups(store: Store, database: Database) -> dict[str, float]:
    """Reads the documents measure_inserts wrote, spread over all of them."""
    collection = database["inserts"]
    latencies = []
    for n in range(LOOKUPS):
        key = f"doc-{(n * 7919) % INSERTS}"  # a prime stride: every document, out of order
        started = time.perf_counter()
        found = collection.find_one({"_id": key})
        latencies.append((time.perf_counter() - started) * 1000)
        if found is None:
            raise AssertionError(f"{store.backend}: find_one({key!r}) found nothing")
    return {"lookup_p50_ms": _percentile(latencies, 0.5), "lookup_p95_ms": _percentile(latencies, 0.95)}


def measure_concurrent_writers(store: Store, database: Database) -> dict[str, float]:
    collection = database["concurrent"]
    collection.insert_one({"_id": "warmup"})
    latencies: list[list[float]] = [[] for _ in range(WRITERS)]
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for n in range(WRITES_PER_WRITER):
                started = time.perf_counter()
                collection.insert_one({**_document(n), "_id": f"w{w}-{n}"})
                latencies[w].append((time.perf_counter() - started) * 1000)
        except BaseException as error:  # noqa: BLE001 - re-raised in the measuring thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    written = collection.count_documents({}) - 1
    if written != WRITERS * WRITES_PER_WRITER:
        raise AssertionError(f"{store.backend}: {written} of {WRITERS * WRITES_PER_WRITER} writes stored")
    return {"writers_per_s": written / elapsed,
            "writers_p99_ms": _percentile([ms for w in latencies for ms in w], 0.99)}


def measure_kernel(store: Store, database: Database) -> dict[str, float]:
    """bench/peer_bench.py's kopnet workload: a load of the account and an append, per deposit."""
    application = Application(EventStore(database, registry), registry)
    ids = [f"acct-{n}" for n in range(ACCOUNTS)]
    def opening(n: int) -> Callable[[Account], None]:
        return lambda account: account.open(f"coop-{n % 10}", f"owner-{n}")

    def depositing(amount: int) -> Callable[[Account], None]:
        return lambda account: account.deposit(amount)

    for n, account_id in enumerate(ids):
        application.execute(Account, account_id, opening(n))
    ferret_before, pg_before = store.cpu_seconds()
    started = time.perf_counter()
    for n in range(DEPOSITS):
        application.execute(Account, ids[n % ACCOUNTS], depositing(n + 1))
    elapsed = time.perf_counter() - started
    ferret_after, pg_after = store.cpu_seconds()
    total = sum(application.load(Account, account_id, fresh=True).balance for account_id in ids)
    if total != DEPOSITS * (DEPOSITS + 1) // 2:
        raise AssertionError(f"{store.backend}: balances sum to {total}, "
                             f"not {DEPOSITS * (DEPOSITS + 1) // 2}")
    return {"kernel_per_s": DEPOSITS / elapsed,
            "kernel_cpu_per_1k": (ferret_after - ferret_before + pg_after - pg_before) * 1000 / DEPOSITS}


MEASURES: list[Callable[[Store, Database], dict[str, float]]] = [
    measure_inserts, measure_lookups, measure_concurrent_writers, measure_kernel]

# (metric, True if higher is better): speed ratios are pg over SQLite whichever way that is
METRICS = [("insert_per_s", True), ("lookup_p50_ms", False), ("lookup_p95_ms", False),
           ("writers_per_s", True), ("writers_p99_ms", False), ("ferretdb_cpu_per_1k", False),
           ("postgres_cpu_per_1k", False), ("store_cpu_per_1k", False), ("kernel_per_s", True),
           ("kernel_cpu_per_1k", False)]


def run_rounds(stores: dict[str, Store], run_id: str, rounds: int = ROUNDS) -> list[dict[str, dict]]:
    """[{backend: {metric: value}}] per round; measure by measure, the two stores back to back."""
    results: list[dict[str, dict]] = []
    for round_number in range(rounds):
        order = BACKENDS if round_number % 2 == 0 else BACKENDS[::-1]
        results.append({backend: {} for backend in BACKENDS})
        # one client per store and database (shared.store_connection caches them): not closed here
        databases = {b: connect(stores[b].uri, f"bench_store_{run_id}_{round_number}") for b in BACKENDS}
        try:
            for measure in MEASURES:
                for backend in order:
                    print(f"[bench] store round {round_number + 1}/{rounds}: {measure.__name__} on "
                          f"{backend}", file=sys.stderr, flush=True)
                    results[-1][backend].update(measure(stores[backend], databases[backend]))
        finally:
            for database in databases.values():
                database.client.drop_database(database.name)
    return results


def speed_ratio(sqlite: float, pg: float, higher_is_better: bool) -> float:
    """pg's speed over SQLite's: > 1 means pg is faster (or uses less CPU)."""
    if higher_is_better:
        return pg / sqlite if sqlite else float("nan")
    return sqlite / pg if pg else float("inf")


def figures_of(results: list[dict[str, dict]], setup_seconds: float) -> dict[str, dict]:
    figures: dict[str, dict] = {}
    for metric, higher_is_better in METRICS:
        per_round = {b: [r[b][metric] for r in results] for b in BACKENDS}
        means = {b: statistics.fmean(v) for b, v in per_round.items()}
        for backend in BACKENDS:
            figures[f"store_{backend}_{metric}"] = {
                "value": means[backend],
                "detail": "rounds " + ", ".join(f"{v:,.3f}" for v in per_round[backend])}
        if metric != "postgres_cpu_per_1k":  # SQLite has no PostgreSQL: no ratio
            ratios = [speed_ratio(r["sqlite"][metric], r["pg"][metric], higher_is_better) for r in results]
            figures[f"store_pg_speed_{metric}"] = {
                "value": statistics.fmean(ratios),
                "detail": "pg over SQLite, > 1: pg better; rounds " + ", ".join(f"{v:.2f}" for v in ratios)}
    figures["store_pg_setup_s"] = {"value": setup_seconds,
                                   "detail": "initdb + start PostgreSQL + FerretDB on it (fresh data dir)"}
    return figures


def store_side_by_side(amqp_uri: str, mongodb_uri: str, run_id: str) -> dict:
    with store_pair(run_id) as stores:
        results = run_rounds(stores, run_id)
    return figures_of(results, stores["pg"].setup_seconds)


FIGURES = [("store_side_by_side", store_side_by_side)]


def print_table(results: list[dict[str, dict]]) -> None:
    print(f"{'metric':<22}" + "".join(f"{f'r{i + 1} sqlite':>12}{f'r{i + 1} pg':>12}{'pg speed':>10}"
                                       for i in range(len(results))))
    for metric, higher_is_better in METRICS:
        row = f"{metric:<22}"
        for r in results:
            ratio = (speed_ratio(r["sqlite"][metric], r["pg"][metric], higher_is_better)
                     if metric != "postgres_cpu_per_1k" else float("nan"))
            row += f"{r['sqlite'][metric]:>12,.3f}{r['pg'][metric]:>12,.3f}{ratio:>10.2f}"
        print(row)


def main() -> int:
    run_id = uuid.uuid4().hex[:8]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    with store_pair(run_id) as stores:
        results = run_rounds(stores, run_id)
    print_table(results)
    print(f"set-up on a fresh data dir: SQLite FerretDB {stores['sqlite'].setup_seconds:.1f}s, "
          f"pg (initdb + PostgreSQL + FerretDB) {stores['pg'].setup_seconds:.1f}s")
    print(f"{len(results)} rounds in {time.monotonic() - started:.0f}s; 1-min load average "
          f"{load_before:.2f} -> {os.getloadavg()[0]:.2f}; speed ratios are pg over SQLite (> 1: pg better)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
