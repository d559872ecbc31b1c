"""deploy/localinfra.py's store command lines: FerretDB on SQLite or on a PostgreSQL of its own
(deploy/infra/ferretdb.py and postgres.py, which localinfra.py re-exports)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("localinfra", REPO / "deploy" / "localinfra.py")
assert _spec and _spec.loader
localinfra = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(localinfra)


def test_sqlite_store_runs_the_sqlite_handler_on_its_data_dir() -> None:
    argv = localinfra.ferret_argv(Path("/bin/ferret"), "sqlite", "127.0.0.1:27017", Path("/d/ferretdb"))
    assert argv == ["/bin/ferret", "-listen", "127.0.0.1:27017", "-handler", "sqlite",
                    "-data", "/d/ferretdb"]


def test_pg_store_runs_the_pg_handler_on_the_postgresql_url_not_the_data_dir() -> None:
    url = localinfra.pg_url(5433)
    argv = localinfra.ferret_argv(Path("/bin/ferret"), "pg", "127.0.0.1:27017", Path("/d/ferretdb"), url)
    assert argv == ["/bin/ferret", "-listen", "127.0.0.1:27017", "-handler", "pg",
                    "-postgresql-url", "postgres://kopnet@127.0.0.1:5433/ferretdb"]
    assert "-data" not in argv


def test_pg_store_without_a_url_and_unknown_backends_are_refused() -> None:
    with pytest.raises(localinfra.InfraError, match="PostgreSQL URL"):
        localinfra.ferret_argv(Path("/bin/ferret"), "pg", "127.0.0.1:27017", Path("/d"))
    with pytest.raises(localinfra.InfraError, match="unknown store backend 'mongo'"):
        localinfra.ferret_argv(Path("/bin/ferret"), "mongo", "127.0.0.1:27017", Path("/d"))


def _settings(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "-c")


def test_postgresql_listens_on_loopback_only_and_commits_durably() -> None:
    argv = localinfra.pg_server_argv(Path("/pg/bin"), Path("/d/postgres"), 5433)
    assert argv[:5] == ["/pg/bin/postgres", "-D", "/d/postgres", "-p", "5433"]
    settings = _settings(argv)
    # initdb's trust auth is only acceptable because nothing but this machine can connect
    assert settings["listen_addresses"] == "127.0.0.1"
    assert settings["unix_socket_directories"] == ""
    # as durable as FerretDB's SQLite (synchronous=FULL): the comparison is like for like
    assert settings["fsync"] == settings["synchronous_commit"] == settings["full_page_writes"] == "on"


def test_initdb_creates_the_role_the_url_names() -> None:
    argv = localinfra.pg_initdb_argv(Path("/pg/bin"), Path("/d/postgres"))
    assert argv[0] == "/pg/bin/initdb"
    assert argv[argv.index("-U") + 1] == localinfra.PG_USER
    assert localinfra.pg_url(5433).startswith(f"postgres://{localinfra.PG_USER}@")


def test_store_backend_comes_from_the_environment_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    monkeypatch.setenv("KOPNET_STORE_BACKEND", "pg")
    monkeypatch.setattr(localinfra, "cmd_status", lambda state, args: seen.update(vars(args)) or 0)
    assert localinfra.main(["status"]) == 0
    assert seen["store_backend"] == "pg"
    monkeypatch.delenv("KOPNET_STORE_BACKEND")
    assert localinfra.main(["status", "--store-backend", "sqlite"]) == 0
    assert seen["store_backend"] == "sqlite"
