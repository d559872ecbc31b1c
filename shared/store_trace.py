"""Counts of the store operations a process sends, by database, command and collection, for
finding where the store's work goes (`KOPNET_STORE_TRACE=<dir>`; bench/network.py sets it).

A pymongo command listener counts each operation and its time; the counts are written to
`<dir>/<pid>.json` every `every` seconds and when the process ends. It is off unless the
variable is set: the listener costs a few microseconds per operation. This is how the scans
that grew with the store were found (a projection's sorted read on `end`: 1 s each at a few
thousand commits on FerretDB v1); `python -m shared.store_trace <dir>` prints a table.
"""
from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pymongo import monitoring

ENVIRONMENT = "KOPNET_STORE_TRACE"


def shape(command: Mapping[str, Any], name: str) -> str:
    """`find commits ['_id']`: the command, its collection and the fields its filter names."""
    collection = command.get(name)
    if name == "insert":
        return f"insert {collection} n={len(command.get('documents', []))}"
    if name in ("update", "delete"):
        statements = command.get("updates") or command.get("deletes") or []
        query = statements[0].get("q", {}) if statements else {}
        suffix = f" x{len(statements)}" if len(statements) > 1 else ""
        return f"{name} {collection} {sorted(query)}{suffix}"
    query = command.get("filter") or command.get("query") or {}
    return f"{name} {collection} {sorted(query) if isinstance(query, dict) else []}"


class StoreTrace(monitoring.CommandListener):
    def __init__(self, directory: Path, every: float = 0.5):
        self.path = directory / f"{os.getpid()}.json"
        self.every = every
        self.counts: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])  # shape -> [count, ms]
        self._started: dict[int, str] = {}
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self._started[event.request_id] = f"{event.database_name}: {shape(event.command, event.command_name)}"

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._count(event.request_id, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._count(event.request_id, event.duration_micros)

    def _count(self, request_id: int, micros: int) -> None:
        key = self._started.pop(request_id, None)
        if key is not None:
            with self._lock:
                entry = self.counts[key]
                entry[0] += 1
                entry[1] += micros / 1000

    def write(self) -> None:
        with self._lock:
            counts = {key: list(value) for key, value in self.counts.items()}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"argv": sys.argv, "counts": counts}))
        temporary.replace(self.path)

    def keep_writing(self) -> None:
        while True:
            time.sleep(self.every)
            self.write()


def install_from_environment() -> StoreTrace | None:
    """Registers the trace for every client created from now on, if KOPNET_STORE_TRACE is set."""
    directory = os.environ.get(ENVIRONMENT)
    if not directory:
        return None
    Path(directory).mkdir(parents=True, exist_ok=True)
    trace = StoreTrace(Path(directory))
    monitoring.register(trace)
    atexit.register(trace.write)
    threading.Thread(target=trace.keep_writing, name="store-trace", daemon=True).start()
    return trace


def read(directory: Path) -> dict[str, dict[str, list[float]]]:
    """Each traced process's counts, by the last word of its command line (`shared.cli run
    ledger`: ledger) and its pid."""
    found = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        found[f"{data['argv'][-1]} ({path.stem})"] = data["counts"]
    return found


def main(argv: list[str]) -> int:
    for process, counts in read(Path(argv[0])).items():
        print(f"== {process}: {sum(int(c) for c, _ in counts.values())} operations")
        for key, (count, ms) in sorted(counts.items(), key=lambda item: -item[1][0])[:15]:
            print(f"{int(count):8d} {ms:10.0f} ms {ms / max(count, 1):7.2f} ms/op  {key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
