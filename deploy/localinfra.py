#!/usr/bin/env python3
"""Local infrastructure for kopnet: RabbitMQ (with management) and FerretDB.

Stdlib only.  Usage:

    python3 deploy/localinfra.py up|down|status [--data DIR] [--observe]
    python3 deploy/localinfra.py restart-rabbitmq|restart-store [--pause SECONDS] [--kill]
    python3 deploy/localinfra.py exec [--data DIR] [--observe] -- COMMAND...
    python3 deploy/localinfra.py tools

`up` is idempotent: a RabbitMQ or store that already answers is reused, not
restarted.  `<data>/pids.json` records only what this script started, and
`down` stops exactly that.  `exec` runs `up`, runs COMMAND with AMQP_URI and
MONGODB_URI set (unless already set), then stops only what that `up` started
and exits with COMMAND's status.  Setting AMQP_URI skips RabbitMQ; setting
MONGODB_URI skips the store.  `--observe` also starts Debian's Prometheus on
127.0.0.1:9090 with deploy/prometheus/prometheus.yml (kopnet's default metrics ports
and RabbitMQ's rabbitmq_prometheus plugin on 127.0.0.1:15692, which `up` enables).
`tools` installs the tools `make test` needs outside PyPI: Prometheus and promtool (tests/ops),
and Chromium (the dashboard's browser tests drive Debian's chromium through playwright; no
browser is ever downloaded by playwright itself).

The store is FerretDB v1 on SQLite by default.  `--store-backend pg` (or KOPNET_STORE_BACKEND=pg)
runs it on a PostgreSQL of its own instead: Debian's PostgreSQL 15, initdb'd under
`<data>/postgres` on first use, listening on 127.0.0.1:<--pg-port> only, fsync on (as durable
as SQLite's synchronous=FULL), run as the `postgres` user when this script runs as root
(postgres refuses root).  docs/performance.md says which backend is faster and why SQLite stays
the default.

This file keeps the commands; their parts live in the package deploy/infra/ (processes and
pids.json, wire probes, rabbitmq, ferretdb, postgres, and tools for what comes from apt).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

# The parts live in the package deploy/infra/.  Run as a script, sys.path[0] is deploy/ already;
# loaded by path with importlib (tests/unit/test_localinfra_store.py, bench/store_bench.py) it is
# not, and deploy/ is no installed package: put this file's directory first on sys.path.
_DEPLOY = str(Path(__file__).resolve().parent)
if _DEPLOY not in sys.path:
    sys.path.insert(0, _DEPLOY)

from infra.ferretdb import (  # noqa: E402
    STORE_BACKENDS,
    ferret_argv,
    ferret_binary,
    run_store,
    start_store,
    stop_store,
)
from infra.postgres import PG_USER, pg_initdb_argv, pg_server_argv, pg_url, stop_postgres  # noqa: E402
from infra.processes import InfraError, State, hard_kill, say  # noqa: E402
from infra.rabbitmq import start_rabbit, stop_epmd, stop_rabbit  # noqa: E402
from infra.settings import HOST, REPO  # noqa: E402
from infra.tools import (  # noqa: E402
    ensure_chromium_installed,
    ensure_prometheus_installed,
    prometheus_ready,
    start_prometheus,
    stop_prometheus,
)
from infra.wire import amqp_answers, mgmt_answers, mongo_ping  # noqa: E402

# What other code uses as localinfra.<name>: tests/unit/test_localinfra_store.py and
# bench/store_bench.py load this file by path. The parts among them are re-exported from infra.
__all__ = [
    "PG_USER", "InfraError", "State", "cmd_down", "cmd_status", "ferret_argv", "ferret_binary",
    "main", "pg_initdb_argv", "pg_server_argv", "pg_url", "run_store", "say",
]


def cmd_tools() -> None:
    ensure_prometheus_installed()
    ensure_chromium_installed()
    for tool in ("prometheus", "promtool", shutil.which("chromium") or "chromium-browser"):
        r = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
        say(f"{tool}: {(r.stdout or r.stderr).splitlines()[0] if (r.stdout or r.stderr) else '?'}")


def cmd_up(state: State, ports: argparse.Namespace) -> None:
    t0 = time.monotonic()
    start_rabbit(state, ports)
    start_store(state, ports)
    if getattr(ports, "observe", False):
        start_prometheus(state, ports)
    say(f"up in {time.monotonic() - t0:.1f}s")


def cmd_down(state: State, only: set[str] | None = None) -> None:
    ports = argparse.Namespace(amqp_port=5672, mgmt_port=15672)
    names = set(state.procs) if only is None else only & set(state.procs)
    if not names:
        say("nothing started by localinfra is running")
    if "prometheus" in names:
        stop_prometheus(state)
    if "store" in names:
        stop_store(state)
    if "postgres" in names:
        stop_postgres(state)
    if "rabbitmq" in names:
        stop_rabbit(state, ports)
    if "epmd" in names:
        stop_epmd(state)
    state.save()


def cmd_status(state: State, ports: argparse.Namespace) -> int:
    ok = True
    mine = state.get("rabbitmq")
    if os.environ.get("AMQP_URI"):
        say(f"RabbitMQ: external, AMQP_URI={os.environ['AMQP_URI']}")
    else:
        amqp, mgmt = amqp_answers(ports.amqp_port), mgmt_answers(ports.mgmt_port)
        ok &= amqp
        who = f"started by localinfra, pid {mine['pid']}" if mine else "not started by us"
        say(f"RabbitMQ: AMQP {HOST}:{ports.amqp_port} {'up' if amqp else 'DOWN'}, management "
            f"{ports.mgmt_port} {'up' if mgmt else 'DOWN'}" + (f" ({who})" if amqp or mine else ""))
    mine = state.get("store")
    if os.environ.get("MONGODB_URI"):
        say(f"store: external, MONGODB_URI={os.environ['MONGODB_URI']}")
    else:
        ping = mongo_ping(ports.store_port)
        ok &= ping
        who = f"started by localinfra, pid {mine['pid']}" if mine else "not started by us"
        say(f"store: {HOST}:{ports.store_port} ping {'ok' if ping else 'DOWN'}"
            + (f" ({who})" if ping or mine else ""))
    mine = state.get("postgres")
    if mine:
        say(f"PostgreSQL (store backend pg): {HOST}:{mine['port']} (started by localinfra, "
            f"pid {mine['pid']})")
    if state.get("epmd"):
        say(f"epmd: started by localinfra, pid {state.procs['epmd']['pid']}")
    mine = state.get("prometheus")
    if mine:
        ready = prometheus_ready(mine["port"])
        say(f"Prometheus: http://{HOST}:{mine['port']} {'ready' if ready else 'NOT READY'} "
            f"(started by localinfra, pid {mine['pid']})")
    return 0 if ok else 1



def cmd_restart(state: State, ports: argparse.Namespace, name: str, pause: float,
                kill: bool) -> None:
    entry = state.get(name)
    if not entry:
        raise InfraError(f"restart-{'store' if name == 'store' else 'rabbitmq'}: no {name} "
                         f"started by localinfra under {state.data}; nothing to restart "
                         "(run `localinfra.py up` first; external servers are not touched)")
    # Restart on the ports it was started with, whatever AMQP_URI/MONGODB_URI say.
    os.environ.pop("AMQP_URI" if name == "rabbitmq" else "MONGODB_URI", None)
    if name == "rabbitmq":
        ports.amqp_port = entry.get("amqp_port", ports.amqp_port)
        ports.mgmt_port = entry.get("mgmt_port", ports.mgmt_port)
        if kill:
            hard_kill(state, name, entry)
            while amqp_answers(ports.amqp_port):  # children may hold the socket briefly
                time.sleep(0.1)
        else:
            stop_rabbit(state, ports)
        time.sleep(pause)
        start_rabbit(state, ports)
    else:
        ports.store_port = entry.get("port", ports.store_port)
        ports.store_backend = entry.get("backend", "sqlite")  # PostgreSQL, if any, keeps running
        hard_kill(state, name, entry) if kill else stop_store(state)
        time.sleep(pause)
        start_store(state, ports)


def cmd_exec(state: State, ports: argparse.Namespace, argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise InfraError("exec: give a command after --")
    before = {k for k in state.procs if state.get(k)}
    env = dict(os.environ)
    try:
        cmd_up(state, ports)
    except BaseException:
        cmd_down(state, set(state.procs) - before)
        raise
    started = {k for k in state.procs if state.get(k)} - before
    env.setdefault("AMQP_URI", f"amqp://guest:guest@{HOST}:{ports.amqp_port}/")
    env.setdefault("MONGODB_URI", f"mongodb://{HOST}:{ports.store_port}/")
    # The child shares our terminal's process group, so Ctrl-C reaches it directly;
    # we only outlive it and clean up.  SIGTERM is forwarded.
    child = subprocess.Popen(argv, env=env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    signal.signal(signal.SIGHUP, lambda *_: child.send_signal(signal.SIGHUP))
    rc = child.wait()
    # COMMAND may have restarted a server (restart-rabbitmq/restart-store, fault tests): its new
    # pid is on disk, not in this process's copy of the state.
    state = State(state.data)
    if started:
        cmd_down(state, started)
    elif before:
        say("leaving running what an earlier `up` started (`localinfra.py down` stops it)")
    return 128 - rc if rc < 0 else rc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["up", "down", "status", "restart-rabbitmq",
                                        "restart-store", "exec", "tools"])
    ap.add_argument("--data", default=str(REPO / ".run"),
                    help="state directory (default: .run/ at the repo root)")
    ap.add_argument("--amqp-port", type=int, default=5672,
                    help="AMQP port (distribution port is this + 20000)")
    ap.add_argument("--mgmt-port", type=int, default=15672)
    ap.add_argument("--store-port", type=int, default=27017)
    ap.add_argument("--store-backend", choices=STORE_BACKENDS,
                    default=os.environ.get("KOPNET_STORE_BACKEND") or "sqlite",
                    help="FerretDB's storage: sqlite (default) or pg (a PostgreSQL of its own; "
                         "default from KOPNET_STORE_BACKEND)")
    ap.add_argument("--pg-port", type=int, default=5433,
                    help="store backend pg: the PostgreSQL port (loopback only)")
    ap.add_argument("--rabbit-metrics-port", type=int, default=15692,
                    help="RabbitMQ's rabbitmq_prometheus endpoint (on a RabbitMQ we start)")
    ap.add_argument("--observe", action="store_true",
                    help="up/exec: also start Prometheus with deploy/prometheus/prometheus.yml")
    ap.add_argument("--prometheus-port", type=int, default=9090)
    ap.add_argument("--pause", type=float, default=0.0,
                    help="restart-*: seconds to stay down between stop and start")
    ap.add_argument("--kill", action="store_true",
                    help="restart-*: SIGKILL instead of a clean stop (a crash)")
    args, rest = ap.parse_known_args(argv)
    if rest and args.command != "exec":
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    state = State(Path(args.data).resolve())
    try:
        if args.command == "up":
            cmd_up(state, args)
        elif args.command == "down":
            cmd_down(state)
        elif args.command == "status":
            return cmd_status(state, args)
        elif args.command == "restart-rabbitmq":
            cmd_restart(state, args, "rabbitmq", args.pause, args.kill)
        elif args.command == "restart-store":
            cmd_restart(state, args, "store", args.pause, args.kill)
        elif args.command == "exec":
            return cmd_exec(state, args, rest)
        elif args.command == "tools":
            cmd_tools()
    except InfraError as e:
        print(f"[infra] ERROR: {e}", flush=True)
        return 1
    except KeyboardInterrupt:
        print("\n[infra] interrupted; `localinfra.py down` stops what was started", flush=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
