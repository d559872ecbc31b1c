"""What the end-to-end figures measure with: an open loop that offers commands at a fixed rate
(measure, offer), the p50 and p99 of what it recorded (latency_figures), one watcher of a read
model for every awaited entry (ReadModelWatch), and the CPU, the time waiting for a CPU and the
store operations each process spends meanwhile (CpuMeter).
"""
from __future__ import annotations

import gc
import math
import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import eventlet

from shared import store_trace

from .network import Network

WARMUP_SECONDS = 5  # offered at the measured rate first: connections, pools and caches warm up
TRACE_EVERY = 0.6  # seconds: a service's store trace is written every 0.5 s


def measure(one: Callable[[int], None], latencies: list[float], errors: list[str], rate: float,
            seconds: int, cpu: CpuMeter | None = None) -> None:
    """Warms up at the same rate (connections, pools, caches), then measures the steady state (and,
    given a meter, the CPU each process spends on it)."""
    offer(one, 0, WARMUP_SECONDS, rate)
    latencies.clear()
    errors.clear()
    with _collector_paused(), (cpu.measuring() if cpu else nullcontext()):
        offer(one, 10_000, seconds, rate)


def offer(one: Callable[[int], None], first: int, seconds: int, rate: float) -> None:
    """Starts one(n) for n = first, first + 1, ... at a fixed rate for `seconds` (an open loop: a
    slow answer never delays the next offer), then waits for all of them."""
    pool = eventlet.GreenPool(500)
    interval, next_at = 1 / rate, time.monotonic()
    for n in range(first, first + int(rate * seconds)):
        pool.spawn_n(one, n)
        next_at += interval
        eventlet.sleep(max(0.0, next_at - time.monotonic()))
    pool.waitall()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection in this (measuring) process meanwhile: its pauses (this process holds
    what the kernel figures made) would be counted as the network's latency."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def latency_figures(name: str, what: str, latencies: list[float], errors: list[str], rate: float,
                    seconds: int, aim: str | None = None) -> dict:
    """`<name>_p50_ms` and `<name>_p99_ms` of what `measure` recorded, with what was offered."""
    detail = (f"{what}; {len(latencies)} of {int(rate * seconds)} commands offered at {rate:.0f}/s for "
              f"{seconds}s, {len(errors)} errors")
    if errors:
        detail += f" (first: {errors[0]})"
    if not latencies:
        latencies = [float("nan")]
    p99: dict[str, Any] = {"value": _percentile(latencies, 0.99), "detail": f"max {max(latencies):.1f} ms"}
    if aim:
        p99["aim"] = aim
    p50 = {"value": _percentile(latencies, 0.50), "detail": detail}
    return {f"{name}_p50_ms": p50, f"{name}_p99_ms": p99}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


class ReadModelWatch:
    """When each awaited entry is in the read model: one green thread looks the awaited entries up by
    _id in turn, each at most every LOOKUP_EVERY seconds (so exact to 5 ms) and all of them together
    at most LOOKUPS_PER_S times a second. A poller per entry made a network that fell behind slower
    still: each late entry asked the store it measures 200 times a second (50 lookups per deposit
    once the read model lagged by a second, more than the services' own store work)."""

    LOOKUP_EVERY, LOOKUPS_PER_S = 0.005, 400

    def __init__(self, entries: Any):
        self.entries = entries
        self.awaited: dict[str, tuple[eventlet.event.Event, list[float]]] = {}  # id -> (found, [next at])
        self.lookups = self.awaited_in_all = 0

    def per_entry(self) -> float:
        return self.lookups / max(self.awaited_in_all, 1)

    def wait(self, entry_id: str, deadline: float) -> bool:
        """Whether the entry is in the read model by `deadline` (a perf_counter time)."""
        found = eventlet.event.Event()
        self.awaited[entry_id] = (found, [0.0])
        self.awaited_in_all += 1
        try:
            with eventlet.Timeout(max(0.0, deadline - time.perf_counter()), False):
                return bool(found.wait())
            return False
        finally:
            self.awaited.pop(entry_id, None)

    def run(self) -> None:
        while True:
            now = time.perf_counter()
            due = min(self.awaited.items(), key=lambda item: item[1][1][0], default=None)
            if due is None or due[1][1][0] > now:
                eventlet.sleep(self.LOOKUP_EVERY if due is None else due[1][1][0] - now)
                continue
            entry_id, (found, next_at) = due
            self.lookups += 1
            if self.entries.find_one({"_id": entry_id}, {"_id": 1}) is not None:  # a lookup by _id
                if not found.ready():
                    found.send(True)
            next_at[0] = time.perf_counter() + self.LOOKUP_EVERY
            eventlet.sleep(1 / self.LOOKUPS_PER_S)


class CpuMeter:
    """CPU seconds (utime + stime of /proc/<pid>/stat) that each named process spends meanwhile,
    the seconds it was runnable but waited for a core and how often it was woken or preempted (the
    scheduler's own counts, /proc/<pid>/task/*/schedstat and status: on a busy machine a command's
    latency is mostly these waits, several in every process it passes through), and the CPU of
    the client processes the bench started and reaped meanwhile (the locust load generator; its
    own process, not the bench's)."""

    TICK = 1 / os.sysconf("SC_CLK_TCK")

    def __init__(self, processes: dict[str, int], store_trace: Path | None = None):
        self.processes = processes
        self.store_trace = store_trace
        self.used: dict[str, float] = {}
        # process -> (seconds waiting for a core, times woken, times preempted)
        self.waits: dict[str, tuple[float, int, int]] = {}
        self.store_operations: dict[str, int] = {}
        self.wall = 0.0
        self.machine_busy = 0.0  # the share of all cores busy while measuring, whatever ran

    @classmethod
    def of(cls, network: Network, mongodb_uri: str) -> CpuMeter:
        """The network's service processes, and the store and broker they use (found by name)."""
        processes = {name: process.pid for name, process in network.stack.processes.items()}
        processes["bench"] = os.getpid()  # the client: its HTTP calls and read-model lookups
        port = (urlsplit(mongodb_uri).port or 27017)
        amqp_port = urlsplit(network.stack.env["AMQP_URI"]).port or 5672
        for pid, argv in _commands():
            if "ferretdb" in argv[0] and any(arg.endswith(f":{port}") for arg in argv):
                processes["ferretdb"] = pid
            elif _is_broker(pid, argv, amqp_port):
                processes["rabbitmq"] = pid
        return cls(processes, network.store_trace)

    def _seconds(self) -> dict[str, float]:
        seconds = {}
        for name, pid in self.processes.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone: no figure
                continue
            seconds[name] = (int(fields[11]) + int(fields[12])) * self.TICK  # utime, stime (fields 14, 15)
        return seconds

    def _schedstats(self) -> dict[str, tuple[float, int, int]]:
        """(seconds runnable but waiting for a core, times it went to sleep and was woken, times a
        core was taken from it) of each process so far, summed over its threads (FerretDB's and
        RabbitMQ's are many; a service's is one): schedstat and the voluntary / nonvoluntary
        context switches of /proc/<pid>/task/<tid>/status."""
        stats = {}
        for name, pid in self.processes.items():
            waited, woken, preempted = 0, 0, 0
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    waited += int((task / "schedstat").read_text().split()[1])
                    for line in (task / "status").read_text().splitlines():
                        if line.startswith("voluntary_ctxt_switches:"):
                            woken += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            preempted += int(line.split()[1])
            except (OSError, ValueError, IndexError):  # gone, or a kernel without schedstat: no figure
                continue
            stats[name] = (waited / 1e9, woken, preempted)
        return stats

    @staticmethod
    def _children_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def _operations(self) -> dict[str, int]:
        """Store operations each service process has sent so far (its trace is at most
        TRACE_EVERY old: the caller waits that long first)."""
        if self.store_trace is None:
            return {}
        eventlet.sleep(TRACE_EVERY)
        operations: dict[str, int] = {}
        for process, counts in store_trace.read(self.store_trace).items():
            name = process.split(" ")[0]  # "ledger (pid)": the replicas of a service add up
            operations[name] = operations.get(name, 0) + int(sum(count for count, _ms in counts.values()))
        return operations

    @staticmethod
    def _machine_ticks() -> tuple[int, int]:
        """(busy, all) clock ticks of every core so far, from /proc/stat (idle and iowait are not busy)."""
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(ticks) - ticks[3] - ticks[4], sum(ticks)

    @contextmanager
    def measuring(self) -> Iterator[None]:
        operations = self._operations()
        before, started, machine = self._seconds(), time.monotonic(), self._machine_ticks()
        sched, children = self._schedstats(), self._children_seconds()
        yield
        after, self.wall = self._seconds(), time.monotonic() - started
        sched_after = self._schedstats()
        self.waits = {name: (sched_after[name][0] - sched[name][0], sched_after[name][1] - sched[name][1],
                             sched_after[name][2] - sched[name][2])
                      for name in sched.keys() & sched_after.keys()}
        busy, every = (now - then for now, then in zip(self._machine_ticks(), machine, strict=True))
        self.machine_busy = busy / max(every, 1)
        self.used = {name: after[name] - before[name] for name in before.keys() & after.keys()}
        reaped = self._children_seconds() - children
        if reaped > 0:  # a load generator of its own (the sustained bench's locust)
            self.used["client"] = reaped
        later = self._operations()
        self.store_operations = {name: later[name] - operations.get(name, 0) for name in later}

    def figures(self, commands: int, what: str, name: str = "cpu_ms_per_command") -> dict:
        """`<name>_<process>`: CPU ms per command stored while measuring (those shed cost little,
        and would make a saturated process look cheap); `store_ops_per_<...>_<service>`: the store
        operations each service sent per command meanwhile."""
        shared = {"ferretdb": " (the shared store: other benches' load counts too)",
                  "rabbitmq": " (the shared broker: other benches' load counts too)",
                  "client": " (the load generator's own processes, reaped by the bench)"}
        ops = name.replace("cpu_ms", "store_ops")
        waited = name.replace("cpu_ms", "runqueue_ms")
        return {f"{name}_{process}": {
            "value": seconds * 1000 / max(commands, 1),
            "detail": f"{seconds:.2f} CPU s over {commands} commands ({what}) in {self.wall:.0f} s: "
                      f"{seconds / self.wall:.0%} of one core{shared.get(process, '')}"}
            for process, seconds in sorted(self.used.items())} | {
            name.replace("cpu_ms_per", "machine_busy_during"): {
                "value": self.machine_busy,
                "detail": f"share of all {os.cpu_count()} cores busy (/proc/stat) over those "
                          f"{self.wall:.0f} s, whatever ran: services, store, broker, client"}} | {
            f"{ops}_{process}": {
                "value": count / max(commands, 1),
                "detail": f"{count} store operations over {commands} commands ({what}), from "
                          f"shared/store_trace.py"}
            for process, count in sorted(self.store_operations.items())} | {
            f"{waited}_{process}": {
                "value": seconds * 1000 / max(commands, 1),
                "detail": f"{seconds:.2f} s runnable but waiting for a core (schedstat) over {commands} "
                          f"commands ({what}); per command it was woken {woken / max(commands, 1):.1f} times "
                          f"and preempted {preempted / max(commands, 1):.1f} times, "
                          f"{seconds * 1000 / max(woken + preempted, 1):.2f} ms waited each time"}
            for process, (seconds, woken, preempted) in sorted(self.waits.items())}


def _is_broker(pid: int, argv: list[str], amqp_port: int) -> bool:
    """The Erlang VM of the RabbitMQ the network uses: one that boots rabbit (`-s rabbit boot`, not
    rabbitmqctl's) on the network's AMQP port when its environment says (localinfra sets
    RABBITMQ_NODE_PORT; another engineer's broker on this machine is not ours). A passing VM
    picked instead once left the sustained figures without the broker's."""
    if not argv[0].endswith("beam.smp") or not any(
            argv[i:i + 3] == ["-s", "rabbit", "boot"] for i in range(len(argv) - 2)):
        return False
    try:
        environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return True
    for item in environment:
        if item.startswith(b"RABBITMQ_NODE_PORT="):
            return item.split(b"=", 1)[1] == str(amqp_port).encode()
    return True


def _commands() -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of every process of this machine that can be read."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            if argv[0]:
                yield int(entry.name), argv
