"""What localinfra installs from Debian rather than PyPI, and the one of it that runs as a server:
apt_install (also PostgreSQL's installer), Prometheus and promtool (`--observe` starts and stops
Prometheus with deploy/prometheus/prometheus.yml; tests/ops runs promtool), and Chromium, which the
dashboard's browser tests drive through playwright.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

from infra.processes import InfraError, State, await_start, done, kill_entry, record, say, spawn
from infra.settings import HOST, REPO
from infra.wire import port_open

PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
PROMETHEUS_TIMEOUT = 30.0


def apt_install(package: str, otherwise: str = "") -> None:
    """`apt-get install` of a Debian package (as root); `otherwise` names the way around it (", or
    set AMQP_URI") in what the error says."""
    if os.geteuid() != 0:
        raise InfraError(f"{package} is not installed and this is not root: run "
                         f"`sudo apt-get install -y --no-install-recommends {package}`{otherwise}")
    say(f"{package} not installed; installing it with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update"],
                 ["apt-get", "install", "-y", "--no-install-recommends", package]):
        say("$ " + " ".join(argv))
        r = subprocess.run(argv, check=False, env=env)
        if r.returncode:
            raise InfraError(f"`{' '.join(argv)}` failed (exit {r.returncode}); fix apt or "
                             f"install {package} by hand{otherwise}")


def ensure_prometheus_installed() -> None:
    """Debian's `prometheus` package brings both prometheus and promtool."""
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        apt_install("prometheus")
        if not (shutil.which("prometheus") and shutil.which("promtool")):
            raise InfraError("installed Debian's prometheus but prometheus/promtool are not on PATH")


def prometheus_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/-/ready", timeout=1) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def start_prometheus(state: State, ports: argparse.Namespace) -> None:
    port = ports.prometheus_port
    mine = state.get("prometheus")
    if mine and prometheus_ready(port):
        say(f"Prometheus already answers on {HOST}:{port} (started by localinfra, pid "
            f"{mine['pid']}); reusing it")
        return
    if mine:
        raise InfraError(f"Prometheus we started (pid {mine['pid']}) does not answer on {port}; "
                         f"run `localinfra.py down` and read {state.data}/prometheus.log")
    if port_open(port):
        raise InfraError(f"{HOST}:{port} is taken (another Prometheus?); pass --prometheus-port")
    ensure_prometheus_installed()
    log = state.data / "prometheus.log"
    t0 = time.monotonic()
    say(f"starting Prometheus on http://{HOST}:{port} ({PROMETHEUS_CONFIG.relative_to(REPO)}) ...",
        end="")
    proc = spawn(["prometheus", f"--config.file={PROMETHEUS_CONFIG}",
                  f"--storage.tsdb.path={state.data / 'prometheus'}",
                  f"--web.listen-address={HOST}:{port}"], log)
    state.procs["prometheus"] = record(proc.pid, port=port)
    state.save()
    await_start(proc, lambda: prometheus_ready(port), t0 + PROMETHEUS_TIMEOUT, log, "Prometheus",
                f"Prometheus not ready on {port} within {PROMETHEUS_TIMEOUT:.0f}s; read {log}")
    done(t0)


def stop_prometheus(state: State) -> None:
    entry = state.get("prometheus")
    if entry:
        say(f"stopping Prometheus (pid {entry['pid']})")
        kill_entry("Prometheus", entry)
    state.procs.pop("prometheus", None)
    state.save()


def ensure_chromium_installed() -> None:
    """Debian's `chromium`, for tests/e2e/test_dashboard_browser.py (playwright's executable_path)."""
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        apt_install("chromium")
        if not shutil.which("chromium"):
            raise InfraError("installed Debian's chromium but `chromium` is not on PATH")
