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
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import string
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FERRET_SRC = REPO / "deploy" / "ferretdb"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kopnet"

HOST = "127.0.0.1"
NODENAME = "kopnet@localhost"
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")  # run directly: /usr/sbin wrappers `su rabbitmq`
RABBIT_TIMEOUT = 120.0
STORE_TIMEOUT = 60.0
PG_TIMEOUT = 60.0
STORE_BACKENDS = ("sqlite", "pg")
PG_USER = "kopnet"  # the PostgreSQL role initdb creates (trust auth, loopback only)
PG_DATABASE = "ferretdb"  # FerretDB keeps each MongoDB database as a schema inside it
PG_RUN_AS_ROOT = "postgres"  # Debian's postgresql package creates this system user
STOP_TIMEOUT = 30.0
PROMETHEUS_TIMEOUT = 30.0


class InfraError(Exception):
    pass


def say(msg: str, end: str = "\n") -> None:
    print(f"[infra] {msg}", end=end, flush=True)


def done(t0: float) -> None:
    print(f" ready in {time.monotonic() - t0:.1f}s", flush=True)


# ---------------------------------------------------------------- processes


def proc_start_time(pid: int) -> str | None:
    """Kernel start time of `pid` (guards against pid reuse), or None if gone/zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def alive(entry: dict) -> bool:
    return proc_start_time(entry["pid"]) == entry.get("start")


def record(pid: int, **extra: object) -> dict:
    return {"pid": pid, "start": proc_start_time(pid), **extra}


def wait_gone(entry: dict, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:  # reap if it is our child (restart within one invocation)
            os.waitpid(entry["pid"], os.WNOHANG)
        except ChildProcessError:
            pass
        if not alive(entry):
            return True
        time.sleep(0.1)
    return not alive(entry)


def kill_entry(name: str, entry: dict, group: bool = True) -> None:
    """SIGTERM (to the process group if we made one), wait, then SIGKILL."""
    if not alive(entry):
        return
    pid = entry["pid"]

    def send(sig: int) -> None:
        try:
            if group and os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    send(signal.SIGTERM)
    if not wait_gone(entry, STOP_TIMEOUT):
        say(f"{name} (pid {pid}) ignored SIGTERM for {STOP_TIMEOUT:.0f}s; sending SIGKILL")
        send(signal.SIGKILL)
        wait_gone(entry, 5)


def find_pids(comm: str) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "comm").read_text().strip() == comm and proc_start_time(int(p.name)):
                    pids.append(int(p.name))  # (zombies excluded)
            except OSError:
                pass
    return pids


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None,
          user: str | None = None) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env, start_new_session=True, cwd=log.parent, user=user,
        )


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "    (no log)"
    return "\n".join("    " + (ln if len(ln) <= 200 else ln[:200] + " ...") for ln in text)


def await_start(proc: subprocess.Popen, ready: Callable[[], bool], deadline: float, log: Path,
                exited: str, late: str) -> None:
    """Polls `ready` until it holds. `exited` names the process in the error when it ends first,
    `late` is the whole error when `deadline` (a monotonic time) passes."""
    while not ready():
        if proc.poll() is not None:
            print(flush=True)
            raise InfraError(f"{exited} exited with status {proc.returncode} while starting; "
                             f"read {log}:\n{tail(log)}")
        if time.monotonic() > deadline:
            print(flush=True)
            raise InfraError(late)
        time.sleep(0.1)


# ---------------------------------------------------------------- state


class State:
    def __init__(self, data: Path):
        self.data = data
        self.file = data / "pids.json"
        try:
            self.procs: dict[str, dict] = json.loads(self.file.read_text())
        except (OSError, ValueError):
            self.procs = {}

    def save(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        live = {k: v for k, v in self.procs.items() if alive(v)}
        if live:
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps(live, indent=2) + "\n")
            tmp.replace(self.file)
        else:
            self.file.unlink(missing_ok=True)
        self.procs = live

    def get(self, name: str) -> dict | None:
        e = self.procs.get(name)
        return e if e and alive(e) else None


# ---------------------------------------------------------------- probes


def amqp_answers(port: int, timeout: float = 1.0) -> bool:
    """AMQP 0-9-1 protocol header -> expect a Connection.Start method frame."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            head = s.recv(11)
    except OSError:
        return False
    # frame type 1 (method), channel 0, ..., class 10 (connection), method 10 (start)
    return len(head) >= 11 and head[0] == 1 and head[7:11] == b"\x00\x0a\x00\x0a"


def mgmt_answers(port: int, timeout: float = 2.0) -> bool:
    req = urllib.request.Request(f"http://{HOST}:{port}/api/overview")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status == 200 and "rabbitmq_version" in json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def bson_encode(doc: dict) -> bytes:
    body = b""
    for key, value in doc.items():
        k = key.encode() + b"\x00"
        if isinstance(value, bool):
            body += b"\x08" + k + (b"\x01" if value else b"\x00")
        elif isinstance(value, int):
            body += b"\x10" + k + struct.pack("<i", value)
        elif isinstance(value, str):
            v = value.encode() + b"\x00"
            body += b"\x02" + k + struct.pack("<i", len(v)) + v
        else:
            raise TypeError(f"bson_encode: unsupported {type(value).__name__}")
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def bson_decode_top(data: bytes) -> dict:
    """Top-level scalars of a BSON document; nested values are skipped."""
    (total,) = struct.unpack_from("<i", data, 0)
    out: dict = {}
    i = 4
    while i < total - 1:
        t = data[i]
        j = data.index(b"\x00", i + 1)
        key = data[i + 1:j].decode()
        i = j + 1
        if t == 0x01:
            out[key] = struct.unpack_from("<d", data, i)[0]
            i += 8
        elif t == 0x02 or t == 0x0D or t == 0x0E:
            (n,) = struct.unpack_from("<i", data, i)
            out[key] = data[i + 4:i + 3 + n].decode(errors="replace")
            i += 4 + n
        elif t in (0x03, 0x04):
            (n,) = struct.unpack_from("<i", data, i)
            i += n
        elif t == 0x05:
            (n,) = struct.unpack_from("<i", data, i)
            i += 5 + n
        elif t == 0x07:
            i += 12
        elif t == 0x08:
            out[key] = data[i] == 1
            i += 1
        elif t in (0x09, 0x11, 0x12):
            out[key] = struct.unpack_from("<q", data, i)[0]
            i += 8
        elif t in (0x0A, 0x06, 0xFF, 0x7F):
            out[key] = None
        elif t == 0x10:
            out[key] = struct.unpack_from("<i", data, i)[0]
            i += 4
        elif t == 0x13:
            i += 16
        else:
            raise ValueError(f"bson: unsupported element type {t:#x}")
    return out


def mongo_ping(port: int, timeout: float = 2.0) -> bool:
    """OP_MSG {ping: 1, $db: "admin"}; True only if the reply says ok: 1."""
    doc = bson_encode({"ping": 1, "$db": "admin"})
    payload = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0, body
    request_id = secrets.randbits(31)
    msg = struct.pack("<iiii", 16 + len(payload), request_id, 0, 2013) + payload
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(msg)
            buf = b""
            while len(buf) < 4 or len(buf) < struct.unpack_from("<i", buf)[0]:
                chunk = s.recv(65536)
                if not chunk:
                    return False
                buf += chunk
    except OSError:
        return False
    try:
        _length, _rid, response_to, opcode = struct.unpack_from("<iiii", buf)
        if opcode != 2013 or response_to != request_id or buf[20] != 0:
            return False
        return bson_decode_top(buf[21:]).get("ok") == 1
    except (ValueError, IndexError, struct.error):
        return False


# ---------------------------------------------------------------- RabbitMQ


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
    if os.geteuid() != 0:
        raise InfraError("RabbitMQ is not installed and this is not root: run "
                         "`sudo apt-get install -y rabbitmq-server`, or set AMQP_URI")
    say("rabbitmq-server not installed; installing it with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update"],
                 ["apt-get", "install", "-y", "--no-install-recommends", "rabbitmq-server"]):
        say("$ " + " ".join(argv))
        r = subprocess.run(argv, check=False, env=env)
        if r.returncode:
            raise InfraError(f"`{' '.join(argv)}` failed (exit {r.returncode}); fix apt "
                             "or install rabbitmq-server by hand, or set AMQP_URI")
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


# ---------------------------------------------------------------- store


FERRET_MODULE = "github.com/FerretDB/FerretDB"


def ferret_binary() -> Path:
    """The launcher, built once per content of deploy/ferretdb (sources and patches) and cached.

    FerretDB v1 is built from the Go module proxy with deploy/ferretdb/patches applied to a copy
    of the module (the launcher's go.mod is pointed at that copy by a `replace` in the build
    directory only); each patch says why it exists.
    """
    h = hashlib.sha256()
    patches = sorted((FERRET_SRC / "patches").glob("*.patch"))
    for f in [FERRET_SRC / "main.go", FERRET_SRC / "go.mod", FERRET_SRC / "go.sum", *patches]:
        if f.exists():
            h.update(f.name.encode() + f.read_bytes())
    binary = CACHE_DIR / f"ferretdb-{h.hexdigest()[:16]}"
    if binary.exists():
        say(f"using cached {binary}")
        return binary
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists()
                                else None)
    if not go:
        raise InfraError("Go is needed once to build the FerretDB launcher in deploy/ferretdb "
                         "(go.mod wants go >= 1.24) and `go` is not on PATH; install Go, "
                         "or set MONGODB_URI to a running MongoDB/FerretDB")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    build = CACHE_DIR / f"build-{os.getpid()}"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir()
    t0 = time.monotonic()
    say(f"building the FerretDB launcher (once; a few minutes on a cold Go cache) -> {binary}")
    try:
        for name in ("main.go", "go.mod", "go.sum"):
            if (FERRET_SRC / name).exists():
                shutil.copy(FERRET_SRC / name, build / name)
        if not (build / "go.sum").exists():
            _go(go, ["mod", "tidy"], build)
        if patches:
            _patched_module(go, build, patches)
        tmp = binary.with_name(binary.name + f".tmp{os.getpid()}")
        _go(go, ["build", "-trimpath", "-o", str(tmp), "."], build)
        tmp.replace(binary)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    say(f"built FerretDB launcher in {time.monotonic() - t0:.1f}s")
    return binary


def _go(go: str, args: list[str], cwd: Path) -> str:
    say("$ go " + " ".join(args))
    r = subprocess.run([go, *args], check=False, cwd=cwd, stdout=subprocess.PIPE, text=True)
    if r.returncode:
        raise InfraError(f"`go {' '.join(args)}` for the FerretDB launcher failed (exit {r.returncode}); "
                         f"see the Go output above; sources in {FERRET_SRC}")
    return r.stdout


def _patched_module(go: str, build: Path, patches: list[Path]) -> None:
    """Copies FerretDB's module (from the module cache) into `build`, applies `patches`."""
    info = json.loads(_go(go, ["mod", "download", "-json", FERRET_MODULE], build))
    source = build / "ferretdb-src"
    shutil.copytree(info["Dir"], source)
    for path in source.rglob("*"):  # the module cache is read-only
        path.chmod(path.stat().st_mode | 0o200)
    for patch in patches:
        say(f"$ patch -p1 < {patch.relative_to(REPO)}")
        r = subprocess.run(["patch", "-p1", "--forward", "--quiet", "-i", str(patch)],
                           check=False, cwd=source)
        if r.returncode:
            raise InfraError(f"{patch} does not apply to {FERRET_MODULE} {info['Version']}; "
                             "rewrite it for that version or drop it")
    _go(go, ["mod", "edit", f"-replace={FERRET_MODULE}=./ferretdb-src"], build)


def ferret_argv(binary: Path, backend: str, listen: str, sqlite_dir: Path,
                pg_url: str | None = None) -> list[str]:
    """The launcher's command line (deploy/ferretdb/main.go) for `backend` (sqlite or pg)."""
    if backend == "sqlite":
        return [str(binary), "-listen", listen, "-handler", "sqlite", "-data", str(sqlite_dir)]
    if backend == "pg":
        if not pg_url:
            raise InfraError("the pg store backend needs a PostgreSQL URL (start_postgres gives it)")
        return [str(binary), "-listen", listen, "-handler", "pg", "-postgresql-url", pg_url]
    raise InfraError(f"unknown store backend {backend!r}; use one of {', '.join(STORE_BACKENDS)}")


def start_store(state: State, ports: argparse.Namespace) -> None:
    if os.environ.get("MONGODB_URI"):
        say(f"MONGODB_URI is set ({os.environ['MONGODB_URI']}); not starting the store")
        return
    run_store(state, ports)


def run_store(state: State, ports: argparse.Namespace) -> None:
    """FerretDB on `ports.store_backend` at `ports.store_port`, whatever MONGODB_URI says
    (bench/store_bench.py starts a pair of its own beside the one MONGODB_URI names)."""
    backend = getattr(ports, "store_backend", "sqlite")
    mine = state.get("store")
    if mongo_ping(ports.store_port):
        how = (f"started by localinfra, pid {mine['pid']}, on {mine.get('backend', 'sqlite')}"
               if mine else "not started by us, backend unknown")
        say(f"store already answers ping on {HOST}:{ports.store_port} ({how}); reusing it")
        if mine and mine.get("backend", "sqlite") != backend:
            say(f"warning: asked for the {backend} backend but the running store is on "
                f"{mine.get('backend', 'sqlite')}; `localinfra.py down` first to switch")
        return
    if mine:
        raise InfraError(f"store we started (pid {mine['pid']}) runs but does not answer "
                         f"ping; run `localinfra.py down` and read {state.data}/ferretdb.log")
    if port_open(ports.store_port):
        raise InfraError(f"{HOST}:{ports.store_port} is taken by something that does not "
                         "answer a MongoDB ping; free the port or set MONGODB_URI")
    binary = ferret_binary()
    pg = start_postgres(state, ports) if backend == "pg" else None
    log = state.data / "ferretdb.log"
    t0 = time.monotonic()
    say(f"starting FerretDB ({backend}) on {HOST}:{ports.store_port} ...", end="")
    proc = spawn(ferret_argv(binary, backend, f"{HOST}:{ports.store_port}",
                             state.data / "ferretdb", pg), log)
    state.procs["store"] = record(proc.pid, port=ports.store_port, binary=str(binary),
                                  backend=backend)
    state.save()
    await_start(proc, lambda: mongo_ping(ports.store_port), t0 + STORE_TIMEOUT, log, "FerretDB",
                f"FerretDB did not answer ping on {ports.store_port} within {STORE_TIMEOUT:.0f}s; "
                f"read {log}; `localinfra.py down` stops it")
    done(t0)


# ---------------------------------------------------------------- PostgreSQL (store backend pg)


def pg_bin_dir() -> Path | None:
    """Debian's newest /usr/lib/postgresql/<major>/bin (pg_ctl on PATH is a symlink into it)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).resolve().parent if pg_ctl else None


def pg_url(port: int, user: str = PG_USER, database: str = PG_DATABASE) -> str:
    return f"postgres://{user}@{HOST}:{port}/{database}"


def pg_initdb_argv(bin_dir: Path, data_dir: Path) -> list[str]:
    # trust, like the SQLite FerretDB (no auth either): a local dev store that listens on
    # loopback alone (pg_server_argv), so nothing off this machine can connect
    return [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", PG_USER, "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8"]


def pg_server_argv(bin_dir: Path, data_dir: Path, port: int) -> list[str]:
    """`postgres` in the foreground (so its pid is the one we record), TCP on loopback only
    and no Unix socket (whose default directory /var/run/postgresql may not be writable).
    fsync, synchronous_commit and full_page_writes are PostgreSQL's defaults, spelt out: a
    commit is on disk when it returns, as with FerretDB's SQLite (synchronous=FULL)."""
    return [str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port),
            "-c", f"listen_addresses={HOST}", "-c", "unix_socket_directories=",
            "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on"]


def pg_run_as() -> str | None:
    """The user to run PostgreSQL as: None (ourselves) unless we are root, which postgres refuses."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_RUN_AS_ROOT)
    except KeyError:
        raise InfraError(f"running as root and there is no `{PG_RUN_AS_ROOT}` user to run "
                         "PostgreSQL as (postgres refuses root); install Debian's postgresql "
                         "or run as a normal user") from None
    return PG_RUN_AS_ROOT


def ensure_postgres_installed() -> Path:
    bin_dir = pg_bin_dir()
    if not bin_dir:
        apt_install("postgresql")
        bin_dir = pg_bin_dir()
        if not bin_dir:
            raise InfraError("installed Debian's postgresql but found no /usr/lib/postgresql/*/bin")
    return bin_dir


def pg_answers(bin_dir: Path, port: int) -> bool:
    r = subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(port)],
                       check=False, capture_output=True)
    return r.returncode == 0


def start_postgres(state: State, ports: argparse.Namespace) -> str:
    """PostgreSQL for FerretDB's pg backend under <data>/postgres; returns FerretDB's URL to it."""
    mine = state.get("postgres")
    port = mine["port"] if mine else ports.pg_port  # restart-store: the one already running
    url = pg_url(port)
    bin_dir = ensure_postgres_installed()
    if mine and pg_answers(bin_dir, port):
        say(f"PostgreSQL already answers on {HOST}:{port} (started by localinfra, pid "
            f"{mine['pid']}); reusing it")
        return url
    if mine:
        raise InfraError(f"PostgreSQL we started (pid {mine['pid']}) does not answer on {port}; "
                         f"run `localinfra.py down` and read {state.data}/postgres.log")
    if port_open(port):
        raise InfraError(f"{HOST}:{port} is taken (another PostgreSQL?); pass --pg-port")
    user = pg_run_as()
    data_dir = state.data / "postgres"
    log = state.data / "postgres.log"
    if not (data_dir / "PG_VERSION").exists():
        t0 = time.monotonic()
        say(f"initdb {data_dir} (first use of the pg store backend) ...", end="")
        shutil.rmtree(data_dir, ignore_errors=True)  # a half-made one from an interrupted initdb
        data_dir.mkdir(parents=True)
        if user:
            shutil.chown(data_dir, user, user)
        with open(log, "ab") as out:
            r = subprocess.run(pg_initdb_argv(bin_dir, data_dir), check=False, user=user,
                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                               cwd=data_dir)
        if r.returncode:
            print(flush=True)
            raise InfraError(f"initdb failed (exit {r.returncode}); read {log}:\n{tail(log)}\n"
                             f"    (as root it runs as `{PG_RUN_AS_ROOT}`, who must be able to "
                             f"reach {data_dir}: pass a --data outside /root)")
        done(t0)
    t0 = time.monotonic()
    say(f"starting PostgreSQL on {HOST}:{port} ({data_dir}) ...", end="")
    proc = spawn(pg_server_argv(bin_dir, data_dir, port), log, user=user)
    state.procs["postgres"] = record(proc.pid, port=port)
    state.save()
    await_start(proc, lambda: pg_answers(bin_dir, port), t0 + PG_TIMEOUT, log, "postgres",
                f"PostgreSQL did not answer on {port} within {PG_TIMEOUT:.0f}s; read {log}; "
                "`localinfra.py down` stops it")
    psql = [str(bin_dir / "psql"), "-h", HOST, "-p", str(port), "-U", PG_USER, "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-tAc"]
    exists = subprocess.run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"],
                            check=False, capture_output=True, text=True)
    if exists.returncode == 0 and exists.stdout.strip() != "1":
        exists = subprocess.run([*psql, f"CREATE DATABASE {PG_DATABASE}"], check=False,
                                capture_output=True, text=True)
    if exists.returncode:
        print(flush=True)
        raise InfraError(f"cannot create database {PG_DATABASE} on {HOST}:{port}: "
                         f"{(exists.stderr or exists.stdout).strip()[:300]}; read {log}")
    done(t0)
    return url


def stop_postgres(state: State) -> None:
    """SIGINT is PostgreSQL's fast shutdown (SIGTERM's smart one waits for every client)."""
    entry = state.get("postgres")
    if entry:
        t0 = time.monotonic()
        say(f"stopping PostgreSQL (pid {entry['pid']}) ...", end="")
        try:
            os.kill(entry["pid"], signal.SIGINT)
        except ProcessLookupError:
            pass
        if not wait_gone(entry, STOP_TIMEOUT):
            kill_entry("PostgreSQL", entry)
        print(f" stopped in {time.monotonic() - t0:.1f}s", flush=True)
    state.procs.pop("postgres", None)
    state.save()


def stop_store(state: State) -> None:
    entry = state.get("store")
    if entry:
        t0 = time.monotonic()
        say(f"stopping FerretDB (pid {entry['pid']}) ...", end="")
        kill_entry("FerretDB", entry)
        print(f" stopped in {time.monotonic() - t0:.1f}s", flush=True)
    state.procs.pop("store", None)
    state.save()


# ---------------------------------------------------------------- Prometheus (opt-in)


def apt_install(package: str) -> None:
    if os.geteuid() != 0:
        raise InfraError(f"{package} is not installed and this is not root: run "
                         f"`sudo apt-get install -y --no-install-recommends {package}`")
    say(f"{package} not installed; installing it with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update"],
                 ["apt-get", "install", "-y", "--no-install-recommends", package]):
        say("$ " + " ".join(argv))
        r = subprocess.run(argv, check=False, env=env)
        if r.returncode:
            raise InfraError(f"`{' '.join(argv)}` failed (exit {r.returncode}); fix apt or "
                             f"install {package} by hand")


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


def cmd_tools() -> None:
    ensure_prometheus_installed()
    ensure_chromium_installed()
    for tool in ("prometheus", "promtool", shutil.which("chromium") or "chromium-browser"):
        r = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
        say(f"{tool}: {(r.stdout or r.stderr).splitlines()[0] if (r.stdout or r.stderr) else '?'}")


# ---------------------------------------------------------------- commands


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


def hard_kill(state: State, name: str, entry: dict) -> None:
    """Crash-style stop for fault injection: SIGKILL the whole process group."""
    say(f"killing {name} (pid {entry['pid']}) with SIGKILL")
    try:
        os.killpg(entry["pid"], signal.SIGKILL)
    except ProcessLookupError:
        pass
    wait_gone(entry, 10)
    state.procs.pop(name, None)
    state.save()


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
