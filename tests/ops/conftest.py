"""Ops tests: real tools (promtool, prometheus, hadolint, kubernetes-validate, yamllint,
check-jsonschema) against the project's deploy/ and k8s/ files, and a live stack: Debian's
Prometheus on loopback scraping real kopnet service processes.

The tools come from `make test` itself: Python ones from the `dev` extra, Prometheus from
`deploy/localinfra.py tools` (apt). A missing tool fails the test and says how to get it.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from eventlet import tpool

from tests.conftest import BROKER_URI, MONGODB_URI, _session_vhost, free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
BANK = "tests.ops.bankprocess.service"


def tool(name: str) -> str:
    """Path of a command-line tool: the venv's bin first (pip tools), then PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        how = ("python3 deploy/localinfra.py tools (apt-get install prometheus)"
               if name in ("promtool", "prometheus") else "pip install -e '.[dev]' (make venv)")
        pytest.fail(f"{name} is not installed; `make test` installs it: {how}")
    return found


# Processes are started with os.posix_spawn and their output goes to files: nothing here
# waits on a pipe through eventlet's hub, where a listener that an earlier test left on a
# since reused file descriptor fails the read ("Second simultaneous read on fileno N").

def spawn(argv: list[str], out: int, err: int, cwd: Path = REPO) -> int:
    """Starts `argv` (argv[0] an absolute path) in `cwd`, stdin /dev/null; returns its pid."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, err, 2)]
    return os.posix_spawn("/bin/sh", ["sh", "-c", 'cd "$0" && exec "$@"', str(cwd), *argv],
                          dict(os.environ), file_actions=actions)


def reap(pid: int, timeout: float) -> int | None:
    """Waits up to `timeout` for `pid` to end; its exit code, or None if it still runs."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def execute(argv: list[str], timeout: float = 60, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Runs a tool to its end and returns what it did."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = spawn(argv, out.fileno(), err.fileno(), cwd)
        code = reap(pid, timeout)
        if code is None:
            os.kill(pid, signal.SIGKILL)
            reap(pid, 10)
            pytest.fail(f"`{' '.join(argv)}` did not finish in {timeout}s")
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, code, out.read().decode(), err.read().decode())


def run(argv: list[str], timeout: float = 60, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Runs a tool; fails the test with its output unless it exits 0."""
    result = execute(argv, timeout, cwd)
    if result.returncode != 0:
        pytest.fail(f"`{' '.join(argv)}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# -- a real Prometheus ------------------------------------------------------------------------

@dataclass
class Prometheus:
    url: str
    pid: int
    log: Path

    def api(self, path: str, **params: str) -> Any:
        status, body = http_get(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
        reply = json.loads(body)
        assert status == 200 and reply["status"] == "success", f"{path} {params}: {status} {reply}"
        return reply["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def value(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else float("nan")


def local_config(kopnet_targets: dict[str, int], interval: str = "1s") -> dict:
    """The project's deploy/prometheus/prometheus.yml, pointed at the ports of this test."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    config["rule_files"] = [str(PROMETHEUS_DIR / rule) for rule in config["rule_files"]]
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "kopnet")
    job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"], "labels": {"service": name}}
                             for name, port in kopnet_targets.items()]
    return config


def start_prometheus(config: dict, workdir: Path) -> Prometheus:
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    run([tool("promtool"), "check", "config", str(config_file)])
    port = free_port()
    log = workdir / "prometheus.log"
    with open(log, "wb") as out:
        pid = spawn([tool("prometheus"), f"--config.file={config_file}",
                     f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                     "--storage.tsdb.retention.time=1h"], out.fileno(), out.fileno())
    prometheus = Prometheus(f"http://127.0.0.1:{port}", pid, log)
    deadline = time.monotonic() + 30
    while True:
        try:
            if http_get(f"{prometheus.url}/-/ready", timeout=1)[0] == 200:
                return prometheus
        except OSError:
            pass
        if reap(pid, 0) is not None or time.monotonic() > deadline:
            stop(pid)
            pytest.fail(f"Prometheus did not become ready:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if reap(pid, 10) is None:
        os.kill(pid, signal.SIGKILL)
        reap(pid, 10)


# -- real service processes beside it ----------------------------------------------------------

def config_variable(service: str, key: str) -> str | None:
    """The environment variable a service's config.yml reads for `key` (`KEY: ${VAR:...}`)."""
    from shared.supervisor import service_module

    config = Path(service_module(service).__file__ or ".").with_name("config.yml").read_text()
    match = re.search(rf"\b{key}:\s*\"?\$\{{(\w+)[:}}]", config)
    return match.group(1) if match else None


@dataclass
class Stack:
    prometheus: Prometheus
    amqp_uri: str
    ports: dict[str, int]                      # service -> metrics port
    gateway_url: str | None = None
    jwt_secret: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    def wait(self, expr: str, check, timeout: float = 20, what: str = "") -> float:
        seen: list[float] = []  # the values as they came: a check may pass on 0

        def passed() -> bool:
            seen.append(self.prometheus.value(expr))
            return bool(check(seen[-1]))
        try:
            wait_for(passed, timeout=timeout, interval=0.25, what=what or expr)
        except pytest.fail.Exception:
            pytest.fail(f"Prometheus: {what or expr} = {seen[-1] if seen else None} after {timeout}s")
        return seen[-1]


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory) -> Iterator[Stack]:
    """Every service under services/ plus the test bank service, twice (a replica sharing its
    store), as real processes (`shared.supervisor.start_processes`), on free ports, in a
    RabbitMQ vhost and databases of their own, and a real Prometheus scraping them with the
    project's scrape config."""
    from shared.supervisor import service_names, start_processes, stop_processes

    names = [*service_names(), BANK]
    prefix = f"test_ops_{secrets.token_hex(4)}"
    amqp_uri, _vhost = _session_vhost(BROKER_URI)
    env = {"AMQP_URI": amqp_uri, "MONGODB_URI": MONGODB_URI, "KOPNET_DB_PREFIX": prefix,
           "KOPNET_BANK_DATABASE": f"{prefix}_bank", "KOPNET_JWT_SECRET": secrets.token_urlsafe(40),
           "KOPNET_NIK_KEY": secrets.token_urlsafe(40), "KOPNET_LOG_LEVEL": "WARNING"}
    ports: dict[str, int] = {}
    gateway_url = None
    for name in names:
        variable = config_variable(name, "METRICS_PORT")
        assert variable, f"{name}'s config.yml has no METRICS_PORT: ${{VAR:default}}"
        ports["bank" if name == BANK else name] = port = free_port()
        env[variable] = str(port)
        address = config_variable(name, "WEB_SERVER_ADDRESS")
        if address:
            env[address] = f"127.0.0.1:{free_port()}"
            gateway_url = f"http://{env[address]}"
    replica_env = {**env, config_variable(BANK, "METRICS_PORT") or "": str(free_port())}
    ports["bank-replica"] = int(replica_env[config_variable(BANK, "METRICS_PORT") or ""])
    prometheus = start_prometheus(local_config(ports), tmp_path_factory.mktemp("prometheus"))
    processes: list = []

    def start(names: list[str], env: dict[str, str]) -> list | SystemExit:
        try:
            return start_processes(names, env=env, timeout=60)
        except SystemExit as error:
            return error

    try:
        # in a native thread, whose own eventlet hub has no listeners another test left behind
        for group, group_env in ((names, env), ([BANK], replica_env)):
            started = tpool.execute(start, group, group_env)
            if isinstance(started, SystemExit):
                pytest.fail(f"services did not start: {started}")
            processes += started
        yield Stack(prometheus, amqp_uri, ports, gateway_url, env["KOPNET_JWT_SECRET"])
    finally:
        stop_processes(processes)
        stop(prometheus.pid)
        from shared.eventstore import connect

        client = connect(MONGODB_URI, f"{prefix}_bank").client
        for database in client.list_database_names():
            if database.startswith(prefix):
                client.drop_database(database)
