"""PostgreSQL for the store's pg backend: Debian's newest PostgreSQL (apt-get installs it when
missing), initdb'd under `<data>/postgres` with a trust-auth role, listening on loopback TCP only
and run as the `postgres` user when localinfra runs as root; its command lines, its start (which
also creates FerretDB's database) and its fast shutdown. Only ferretdb.py's pg backend starts it.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from infra.processes import (
    InfraError,
    State,
    await_start,
    done,
    kill_entry,
    record,
    say,
    spawn,
    tail,
    wait_gone,
)
from infra.settings import HOST, STOP_TIMEOUT
from infra.tools import apt_install
from infra.wire import port_open

PG_TIMEOUT = 60.0
PG_USER = "kopnet"  # the PostgreSQL role initdb creates (trust auth, loopback only)
PG_DATABASE = "ferretdb"  # FerretDB keeps each MongoDB database as a schema inside it
PG_RUN_AS_ROOT = "postgres"  # Debian's postgresql package creates this system user


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
