"""Fault injection over real processes: the e2e Stack (membership, ledger, gateway as their own
processes, a unique database prefix, free ports, a RabbitMQ vhost) on a RabbitMQ and store that
`make test-faults` started for this run alone, so that restarting them touches nobody else.

`make test-faults` runs `deploy/localinfra.py <KOPNET_FAULTS_INFRA> exec -- pytest tests/faults`
and exports KOPNET_FAULTS_INFRA (the localinfra options of those servers: data directory and
ports) and RABBITMQ_MGMT_PORT; without them these tests are skipped (`make test` skips them).
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import eventlet
import pytest

from shared.supervisor import service_names
from tests.conftest import wait_for
from tests.e2e import conftest as e2e
from tests.e2e.conftest import Stack, VirtualHost

REPO = Path(__file__).resolve().parents[2]
INFRA_OPTIONS = os.environ.get("KOPNET_FAULTS_INFRA")

def infra(command: str, *options: str) -> None:
    """`deploy/localinfra.py COMMAND` on this run's own servers (restart-rabbitmq, restart-store)."""
    argv = [sys.executable, str(REPO / "deploy" / "localinfra.py"), *shlex.split(INFRA_OPTIONS or ""),
            command, *options]
    started = time.monotonic()
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    if result.returncode:
        pytest.fail(f"`{shlex.join(argv[1:])}` failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    print(f"[faults] localinfra {command} {' '.join(options)} took {time.monotonic() - started:.1f}s",
          flush=True)


class _ThisRunsVirtualHost(VirtualHost):
    """The e2e VirtualHost, on this run's RabbitMQ management port (not the default 15672)."""

    def __init__(self, amqp_uri: str, name: str):
        super().__init__(amqp_uri, name)
        self.api = self.api.replace(":15672/", f":{os.environ.get('RABBITMQ_MGMT_PORT', '15672')}/")


class FaultStack(Stack):
    def __init__(self, pause_file: Path):
        with mock.patch.object(e2e, "VirtualHost", _ThisRunsVirtualHost):
            super().__init__()
        self._supervising = False
        self.restarts: list[str] = []
        self.env["KOPNET_RELAY_PAUSE_FILE"] = str(pause_file)

    def supervise(self) -> None:
        """Restarts a service process that exited by itself, as Kubernetes (restartPolicy Always)
        or an operator would; `restarts` counts them."""
        self._supervising = True

        def watch() -> None:
            while self._supervising:
                for name, process in list(self.processes.items()):
                    if process.poll() is not None and self.processes.get(name) is process:
                        print(f"[faults] {name} exited by itself ({process.returncode}); restarting it",
                              flush=True)
                        self.restarts.append(name)
                        try:
                            self.processes.pop(name)
                            self.start(name)
                        except BaseException as error:  # noqa: BLE001 - reported, retried next round
                            print(f"[faults] restarting {name} failed: {error!r}", flush=True)
                eventlet.sleep(0.5)

        self._watcher = eventlet.spawn(watch)

    def running(self, *names: str, timeout: float = 60.0) -> None:
        """Waits until each of `names` runs (the supervisor may be restarting one)."""
        deadline = time.monotonic() + timeout
        while not all(name in self.processes and self.processes[name].poll() is None for name in names):
            if time.monotonic() > deadline:
                pytest.fail(f"{names} not all running after {timeout}s: {list(self.processes)}")
            eventlet.sleep(0.2)

    def close(self) -> None:
        self._supervising = False
        super().close()

    def kill(self, name: str) -> None:
        """kill -9: no shutdown code runs, connections drop, in-flight work is cut."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        print(f"[faults] killed {name} (pid {process.pid}) with SIGKILL", flush=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[FaultStack]:
    if not INFRA_OPTIONS:
        pytest.fail("fault injection restarts RabbitMQ and the store it started itself: run it with "
                    "`make test-faults` (make test leaves tests/faults out)")
    stack = FaultStack(tmp_path_factory.mktemp("faults") / "relay-paused")
    try:
        stack.start(*service_names())
        # each process is ready (its queues consumed); this waits for the whole path to answer once
        admin = stack.token("network_admin")
        wait_for(lambda: stack.call("GET", "/cooperatives", admin).status_code == 200,
                 what="the gateway answering through membership")
        yield stack
    finally:
        stack.close()
