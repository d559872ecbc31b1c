"""kopnet's kernel against the event-sourcing library a Python user would pick instead
(pyeventsourcing, the `eventsourcing` package), on the same workload in the same process:
100 accounts, 3,000 deposits, each a load of the account and an append of one event.

kopnet runs on the local store (MONGODB_URI), pyeventsourcing on a SQLite file (its own
`eventsourcing.sqlite` persistence module, default settings: no aggregate cache, no
snapshots), as each would be used out of the box. Deposits go round-robin over the
accounts so every load finds a stream that grew since it was last touched.

Measured twice: one caller at a time, and 8 callers at once (threads, each with its own
accounts, as a service's workers serve concurrent requests). The aim is on the second: a
service is never one caller at a time, and kopnet's group commit (shared/group_commit.py)
stores concurrent appends together where a SQLite file lets one writer in at a time. The
first is reported beside it: there a network round trip per command (kopnet's store is a
server) meets a library call (SQLite in the process).
"""
from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventsourcing.application import Application as PeerApplication
from eventsourcing.domain import Aggregate as PeerAggregate
from eventsourcing.domain import event

from shared.aggregate import Aggregate
from shared.application import Application
from shared.eventstore import EventStore, connect
from tests.support.bankservice.domain import Account
from tests.support.bankservice.schemas import registry


class BenchAccount(Account):
    """The kernel tests' account with the snapshot interval every kopnet aggregate has unless it
    says otherwise (the tests snapshot every 5 events to exercise snapshots)."""

    snapshot_every = Aggregate.snapshot_every


ACCOUNTS = 100
DEPOSITS = 3000
CALLERS = 8


class PeerAccount(PeerAggregate):
    @event("Opened")
    def __init__(self, cooperative_id: str, owner: str) -> None:
        self.cooperative_id = cooperative_id
        self.owner = owner
        self.balance = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount


class PeerBank(PeerApplication):
    def open(self, cooperative_id: str, owner: str) -> Any:
        account = PeerAccount(cooperative_id, owner)
        self.save(account)
        return account.id

    def deposit(self, account_id: Any, amount: int) -> None:
        account = self.repository.get(account_id)
        account.deposit(amount)
        self.save(account)


def _timed_deposits(deposit: Callable[[int, int], None], callers: int) -> float:
    """Deposits n+1 into account n % ACCOUNTS for n < DEPOSITS, from `callers` threads that each
    keep to their own accounts (no two callers race on one stream); deposits per second."""
    errors: list[BaseException] = []

    def caller(number: int) -> None:
        try:
            for n in range(number, DEPOSITS, callers):
                deposit(n % ACCOUNTS, n + 1)
        except BaseException as error:  # noqa: BLE001 - reported below, the figure is void
            errors.append(error)

    threads = [threading.Thread(target=caller, args=(number,)) for number in range(callers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return DEPOSITS / (time.perf_counter() - started)


def _peer_rate(directory: Path, callers: int) -> tuple[float, int]:
    bank = PeerBank(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(directory / f"peer-{callers}.sqlite")})
    ids = [bank.open(f"coop-{n % 10}", f"owner-{n}") for n in range(ACCOUNTS)]
    rate = _timed_deposits(lambda account, amount: bank.deposit(ids[account], amount), callers)
    return rate, sum(bank.repository.get(account_id).balance for account_id in ids)


def _kopnet_rate(mongodb_uri: str, run_id: str, callers: int) -> tuple[float, int]:
    database = connect(mongodb_uri, f"bench_peer_{run_id}_{callers}")
    try:
        application = Application(EventStore(database, registry), registry)
        ids = [f"acct-{n}" for n in range(ACCOUNTS)]
        for n, account_id in enumerate(ids):
            application.execute(BenchAccount, account_id,
                                lambda a, n=n: a.open(f"coop-{n % 10}", f"owner-{n}"))
        rate = _timed_deposits(lambda account, amount: application.execute(
            BenchAccount, ids[account], lambda a: a.deposit(amount)), callers)
        total = sum(application.load(BenchAccount, account_id, fresh=True).balance for account_id in ids)
        return rate, total
    finally:
        database.client.drop_database(database.name)


def peer_ratio(amqp_uri: str, mongodb_uri: str, run_id: str) -> dict:
    expected = DEPOSITS * (DEPOSITS + 1) // 2
    rates = {}
    for callers in (CALLERS, 1):
        with tempfile.TemporaryDirectory(prefix="kopnet-peer-") as directory:
            peer_rate, peer_total = _peer_rate(Path(directory), callers)
        kopnet_rate, kopnet_total = _kopnet_rate(mongodb_uri, run_id, callers)
        if peer_total != expected or kopnet_total != expected:  # both did all the work, or no figure
            raise AssertionError(f"balances {kopnet_total} (kopnet) / {peer_total} (peer) != {expected}")
        rates[callers] = kopnet_rate, peer_rate

    def detail(callers: int) -> str:
        kopnet_rate, peer_rate = rates[callers]
        return (f"kopnet {kopnet_rate:,.0f} commands/s (local store) vs pyeventsourcing {peer_rate:,.0f}/s "
                f"(SQLite file); {ACCOUNTS} accounts, {DEPOSITS:,} load+append deposits, "
                f"{callers} caller{'s' if callers > 1 else ''} at once")

    return {
        "peer_ratio": {"value": rates[CALLERS][0] / rates[CALLERS][1], "aim": ">= 1.0",
                       "detail": detail(CALLERS)},
        "peer_ratio_one_caller": {"value": rates[1][0] / rates[1][1], "detail": detail(1)},
    }


FIGURES = [("peer_ratio", peer_ratio)]
