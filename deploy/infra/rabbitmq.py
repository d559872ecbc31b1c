"""RabbitMQ for localinfra: Debian's rabbitmq-server (apt-get installs it when missing and we are
root), run directly as node kopnet@localhost with its mnesia, logs, plugins and config under
`<data>/rabbitmq` and the management and rabbitmq_prometheus plugins enabled; started, awaited and
stopped (rabbitmqctl stop, signals as the fallback), and the epmd daemon the node spawns, which is
ours to stop only when none ran before.
"""

from __future__ import annotations

import argparse
import os
import secrets
import string
import subprocess
import time
from pathlib import Path

from infra.processes import (
    InfraError,
    State,
    done,
    find_pids,
    kill_entry,
    record,
    say,
    spawn,
    tail,
    wait_gone,
)
from infra.settings import HOST, STOP_TIMEOUT
from infra.tools import apt_install
from infra.wire import amqp_answers, mgmt_answers, port_open

NODENAME = "kopnet@localhost"
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")  # run directly: /usr/sbin wrappers `su rabbitmq`
RABBIT_TIMEOUT = 120.0


def rabbit_paths(data: Path) -> dict[str, Path]:
    base = data / "rabbitmq"
    return {
        "base": base, "mnesia": base / "mnesia", "logs": base / "log",
        "plugins": base / "enabled_plugins", "config": base / "rabbitmq.conf",
        "envconf": base / "rabbitmq-env.conf", "stdout": base / "log" / "server.out",
        "log": base / "log" / f"{NODENAME}.log",
    }


def ensure_rabbit_installed() -> None:
    if (RABBIT_BIN / "rabbitmq-server").exists():
        return
    apt_install("rabbitmq-server", otherwise=", or set AMQP_URI")
    # Debian's postinst may start a system node (no-op without systemd); ours is separate.
    if not (RABBIT_BIN / "rabbitmq-server").exists():
        raise InfraError(f"installed rabbitmq-server but {RABBIT_BIN}/rabbitmq-server is missing")


def ensure_cookie() -> None:
    """Server and rabbitmqctl both read $HOME/.erlang.cookie; create it before either
    runs so they cannot race to create two different ones."""
    cookie = Path.home() / ".erlang.cookie"
    if not cookie.exists():
        cookie.write_text("".join(secrets.choice(string.ascii_uppercase) for _ in range(20)))
        cookie.chmod(0o400)


def rabbit_env(data: Path, ports: argparse.Namespace) -> dict[str, str]:
    p = rabbit_paths(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
    env.update(
        RABBITMQ_NODENAME=NODENAME,
        RABBITMQ_NODE_IP_ADDRESS=HOST,
        RABBITMQ_NODE_PORT=str(ports.amqp_port),
        RABBITMQ_DIST_PORT=str(ports.amqp_port + 20000),
        RABBITMQ_MNESIA_BASE=str(p["mnesia"]),
        RABBITMQ_LOG_BASE=str(p["logs"]),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(p["plugins"]),
        RABBITMQ_CONFIG_FILE=str(p["config"]),
        RABBITMQ_CONF_ENV_FILE=str(p["envconf"]),  # not /etc/rabbitmq/rabbitmq-env.conf
        ERL_EPMD_ADDRESS=HOST,
    )
    return env


def rabbitmqctl(args: list[str], timeout: float, data: Path,
                ports: argparse.Namespace) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", NODENAME, *args],
        env=rabbit_env(data, ports), capture_output=True, text=True, timeout=timeout, check=False,
    )


def start_rabbit(state: State, ports: argparse.Namespace) -> None:
    if os.environ.get("AMQP_URI"):
        say(f"AMQP_URI is set ({os.environ['AMQP_URI']}); not starting RabbitMQ")
        return
    mine = state.get("rabbitmq")
    if amqp_answers(ports.amqp_port):
        how = f"started by localinfra, pid {mine['pid']}" if mine else "not started by us"
        if not mgmt_answers(ports.mgmt_port):
            say(f"warning: RabbitMQ answers on {HOST}:{ports.amqp_port} but its management "
                f"API on {ports.mgmt_port} does not (enable rabbitmq_management there)")
        say(f"RabbitMQ already answers on {HOST}:{ports.amqp_port} ({how}); reusing it")
        return
    if mine:
        raise InfraError(f"RabbitMQ we started (pid {mine['pid']}) runs but does not answer "
                         f"on {ports.amqp_port}; run `localinfra.py down` and look at "
                         f"{rabbit_paths(state.data)['log']}")
    if port_open(ports.amqp_port):
        raise InfraError(f"{HOST}:{ports.amqp_port} is taken by something that is not "
                         "RabbitMQ; free the port or set AMQP_URI")

    for port, what in ((ports.mgmt_port, "management"), (ports.amqp_port + 20000, "distribution"),
                       (ports.rabbit_metrics_port, "prometheus")):
        if port_open(port):
            raise InfraError(f"RabbitMQ's {what} port {HOST}:{port} is taken by another "
                             "program; free it or set AMQP_URI to a running RabbitMQ")
    ensure_rabbit_installed()
    ensure_cookie()
    p = rabbit_paths(state.data)
    for d in (p["mnesia"], p["logs"]):
        d.mkdir(parents=True, exist_ok=True)
    p["plugins"].write_text("[rabbitmq_management,rabbitmq_prometheus].\n")
    p["config"].write_text(
        f"management.tcp.ip = {HOST}\n"
        f"management.tcp.port = {ports.mgmt_port}\n"
        f"prometheus.tcp.ip = {HOST}\n"
        f"prometheus.tcp.port = {ports.rabbit_metrics_port}\n"
    )
    p["envconf"].write_text("# kopnet: deliberately empty; settings come from the env\n")
    epmd_before = find_pids("epmd")

    t0 = time.monotonic()
    say(f"starting RabbitMQ {NODENAME} on {HOST}:{ports.amqp_port} "
        f"(management {ports.mgmt_port}) ...", end="")
    proc = spawn([str(RABBIT_BIN / "rabbitmq-server")], p["stdout"], rabbit_env(state.data, ports))
    state.procs["rabbitmq"] = record(proc.pid, amqp_port=ports.amqp_port,
                                     mgmt_port=ports.mgmt_port)
    state.save()

    try:
        wait_rabbit(proc, p, t0, state.data, ports)
    finally:  # epmd is a daemon the node spawned; ours to stop if none ran before
        epmd = find_pids("epmd")
        if not epmd_before and len(epmd) == 1:
            state.procs["epmd"] = record(epmd[0])
        state.save()


def wait_rabbit(proc: subprocess.Popen, p: dict[str, Path], t0: float, data: Path,
                ports: argparse.Namespace) -> None:
    deadline = t0 + RABBIT_TIMEOUT
    while True:
        if proc.poll() is not None:
            print(flush=True)
            raise InfraError(f"rabbitmq-server exited with status {proc.returncode} while "
                             f"starting; read {p['log']} and {p['stdout']}:\n"
                             f"{tail(p['stdout'])}")
        if amqp_answers(ports.amqp_port) and mgmt_answers(ports.mgmt_port):
            break
        if time.monotonic() > deadline:
            print(flush=True)
            raise InfraError(f"RabbitMQ did not answer AMQP on {ports.amqp_port} and the "
                             f"management API on {ports.mgmt_port} within {RABBIT_TIMEOUT:.0f}s;"
                             f" read {p['log']} (and {p['stdout']}); "
                             "`localinfra.py down` stops it")
        time.sleep(0.25)
    # rabbitmqctl must be able to reach the node (cookie, node name): down relies on it.
    r = rabbitmqctl(["await_startup", "--timeout", "30"], 40, data, ports)
    if r.returncode:
        print(flush=True)
        say(f"warning: RabbitMQ answers but rabbitmqctl cannot talk to {NODENAME}: "
            f"{(r.stderr or r.stdout).strip()[:300]}; `down` will fall back to signals")
    done(t0)


def stop_rabbit(state: State, ports: argparse.Namespace) -> None:
    entry = state.get("rabbitmq")
    if not entry:
        state.procs.pop("rabbitmq", None)
        return
    ports = argparse.Namespace(**{**vars(ports), "amqp_port": entry.get("amqp_port",
                                                                        ports.amqp_port)})
    t0 = time.monotonic()
    say(f"stopping RabbitMQ (pid {entry['pid']}) ...", end="")
    try:
        r = rabbitmqctl(["stop"], STOP_TIMEOUT, state.data, ports)
        ok = r.returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    if not ok or not wait_gone(entry, STOP_TIMEOUT):
        print(" rabbitmqctl stop did not work; signalling ...", end="", flush=True)
        kill_entry("RabbitMQ", entry)
    print(f" stopped in {time.monotonic() - t0:.1f}s", flush=True)
    state.procs.pop("rabbitmq", None)
    state.save()


def stop_epmd(state: State) -> None:
    entry = state.get("epmd")
    state.procs.pop("epmd", None)
    if entry:
        say(f"stopping epmd (pid {entry['pid']}) we started")
        kill_entry("epmd", entry, group=False)
    state.save()
