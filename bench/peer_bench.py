"""kopnet's kernel against the event-sourcing library a Python user would pick instead
(pyeventsourcing, the `eventsourcing` package), on the same workload in the same process:
100 accounts, 3,000 deposits, each a load of the account and an append of one event.

kopnet runs on the local store (MONGODB_URI), pyeventsourcing on a SQLite file (its own
`eventsourcing.sqlite` persistence module, default settings: no aggregate cache, no
snapshots), as each would be used out of the box. Deposits go round-robin over the
accounts so every load finds a stream that grew since it was last touched.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from eventsourcing.application import Application as PeerApplication
from eventsourcing.domain import Aggregate as PeerAggregate
from eventsourcing.domain import event

from shared.application import Application
from shared.eventstore import EventStore, connect
from tests.support.bankservice.domain import Account
from tests.support.bankservice.schemas import registry

ACCOUNTS = 100
DEPOSITS = 3000


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


def _peer_rate(directory: Path) -> tuple[float, int]:
    bank = PeerBank(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                         "SQLITE_DBNAME": str(directory / "peer.sqlite")})
    ids = [bank.open(f"coop-{n % 10}", f"owner-{n}") for n in range(ACCOUNTS)]
    started = time.perf_counter()
    for n in range(DEPOSITS):
        bank.deposit(ids[n % ACCOUNTS], n + 1)
    rate = DEPOSITS / (time.perf_counter() - started)
    return rate, sum(bank.repository.get(account_id).balance for account_id in ids)


def _kopnet_rate(mongodb_uri: str, run_id: str) -> tuple[float, int]:
    database = connect(mongodb_uri, f"bench_peer_{run_id}")
    try:
        application = Application(EventStore(database, registry), registry)
        ids = [f"acct-{n}" for n in range(ACCOUNTS)]
        for n, account_id in enumerate(ids):
            application.execute(Account, account_id, lambda a, n=n: a.open(f"coop-{n % 10}", f"owner-{n}"))
        started = time.perf_counter()
        for n in range(DEPOSITS):
            application.execute(Account, ids[n % ACCOUNTS], lambda a, n=n: a.deposit(n + 1))
        rate = DEPOSITS / (time.perf_counter() - started)
        total = sum(application.load(Account, account_id, fresh=True).balance for account_id in ids)
        return rate, total
    finally:
        database.client.drop_database(database.name)


def peer_ratio(amqp_uri: str, mongodb_uri: str, run_id: str) -> dict:
    expected = DEPOSITS * (DEPOSITS + 1) // 2
    with tempfile.TemporaryDirectory(prefix="kopnet-peer-") as directory:
        peer_rate, peer_total = _peer_rate(Path(directory))
    kopnet_rate, kopnet_total = _kopnet_rate(mongodb_uri, run_id)
    if peer_total != expected or kopnet_total != expected:  # both did all the work, or no figure
        raise AssertionError(f"balances {kopnet_total} (kopnet) / {peer_total} (peer) != {expected}")
    return {
        "peer_ratio": {"value": kopnet_rate / peer_rate, "aim": ">= 1.0",
                       "detail": f"kopnet {kopnet_rate:,.0f} commands/s (local store) vs pyeventsourcing "
                                 f"{peer_rate:,.0f}/s (SQLite file); {ACCOUNTS} accounts, "
                                 f"{DEPOSITS:,} load+append deposits each"},
    }


FIGURES = [("peer_ratio", peer_ratio)]
