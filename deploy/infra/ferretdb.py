"""The store: FerretDB v1 through the launcher in deploy/ferretdb, built once with Go (FerretDB's
module from the Go module proxy with deploy/ferretdb/patches applied) and cached by content under
~/.cache/kopnet; the launcher's command line for either backend, SQLite or a PostgreSQL of its own
(postgres.py starts that first); and starting and stopping the store.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from infra.postgres import start_postgres
from infra.processes import InfraError, State, await_start, done, kill_entry, record, say, spawn
from infra.settings import HOST, REPO
from infra.wire import mongo_ping, port_open

FERRET_SRC = REPO / "deploy" / "ferretdb"
FERRET_MODULE = "github.com/FerretDB/FerretDB"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kopnet"
STORE_TIMEOUT = 60.0
STORE_BACKENDS = ("sqlite", "pg")


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


def stop_store(state: State) -> None:
    entry = state.get("store")
    if entry:
        t0 = time.monotonic()
        say(f"stopping FerretDB (pid {entry['pid']}) ...", end="")
        kill_entry("FerretDB", entry)
        print(f" stopped in {time.monotonic() - t0:.1f}s", flush=True)
    state.procs.pop("store", None)
    state.save()
