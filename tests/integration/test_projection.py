"""Projections: checkpointed, in order, idempotent, and rebuilt equal to live."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import MongoClient, monitoring

from shared import cli
from shared.application import Application
from shared.checkpoints import PROJECTIONS, Checkpoints
from shared.eventstore import EventStore
from shared.projection import ProjectionRunner, View, generation, read_model, store_changes
from tests.conftest import MONGODB_URI, run_in_background, wait_for
from tests.support.bankservice.domain import Account
from tests.support.bankservice.service import definition


def read_models(database) -> dict:
    return {
        (projection.name, collection): sorted(
            read_model(database, projection.name, collection).find(), key=lambda d: d["_id"])
        for projection in definition.projections
        for collection in projection.collections
    }


def busy_history(application: Application, accounts: int = 30, seed: int = 7) -> None:
    rng = random.Random(seed)
    for n in range(accounts):
        application.execute(Account, f"a{n}", lambda a, n=n: a.open(f"coop-{n % 4}", f"owner-{n}"))
    for _ in range(150):
        account = application.load(Account, f"a{rng.randrange(accounts)}")
        if account.status != "open":
            continue
        choice = rng.random()
        if choice < 0.6:
            application.execute(Account, account.id, lambda a: a.deposit(rng.randint(1, 500)))
        elif choice < 0.9 and account.balance:
            application.execute(Account, account.id, lambda a: a.withdraw(rng.randint(1, a.balance)))
        else:
            application.execute(Account, account.id, lambda a: a.close())


def test_a_rebuilt_projection_equals_the_live_one(database, bank_registry, amqp_uri, service_name, monkeypatch):
    store = EventStore(database, bank_registry)
    application = Application(store, bank_registry)
    runner = ProjectionRunner(store, definition.projections, amqp_uri, service_name, batch_size=37)
    worker = run_in_background(runner.run)
    try:
        busy_history(application)  # applied live, in small batches, while commands run
        head = store.head()
        checkpoints = Checkpoints(database, group=PROJECTIONS)
        wait_for(lambda: all(checkpoints.load(runner.checkpoint_name(p)) == head for p in definition.projections),
                 what="live projections to catch up")
        live = read_models(database)
        assert live[("balances", "balances")], "the history produced read-model documents"

        monkeypatch.setenv("KOPNET_BANK_DATABASE", database.name)
        for projection in definition.projections:
            assert cli.main(["projections", "rebuild", "tests.support.bankservice.service", projection.name]) == 0
            assert generation(database, projection.name) == 2
        assert read_models(database) == live

        # the live runner carries on in the new generation
        application.execute(Account, "late", lambda a: a.open("coop-9", "late"))
        application.execute(Account, "late", lambda a: a.deposit(42))
        wait_for(lambda: (read_model(database, "balances", "balances").find_one({"_id": "late"}) or {}
                          ).get("balance") == 42, what="live runner to follow the new generation")
    finally:
        runner.stop()
        worker.wait()


def test_reapplying_a_batch_after_a_crash_changes_nothing(database, bank_registry, amqp_uri, service_name):
    store = EventStore(database, bank_registry)
    application = Application(store, bank_registry)
    busy_history(application, accounts=8, seed=3)
    runner = ProjectionRunner(store, definition.projections, amqp_uri, service_name, batch_size=10_000)
    while runner.catch_up_once():
        pass
    before = read_models(database)
    checkpoints = Checkpoints(database, group=PROJECTIONS)
    for projection in definition.projections:  # as if the process died before saving checkpoints
        checkpoints.save(runner.checkpoint_name(projection), 0)
    runner = ProjectionRunner(store, definition.projections, amqp_uri, service_name, batch_size=10_000)
    while runner.catch_up_once():  # the restarted process
        pass
    assert read_models(database) == before
    totals = {d["_id"]: d for d in before[("cooperative_totals", "cooperative_totals")]}
    balances = before[("balances", "balances")]
    for coop, doc in totals.items():
        open_balance = sum(b["balance"] for b in balances if b["cooperative_id"] == coop)
        assert doc["deposits"] - doc["withdrawals"] - doc["returned"] == open_balance



def test_a_created_document_applied_again_keeps_its_later_changes(database):
    """View.create does not read first; applying its event again after a crash must not undo a
    later event already applied to the document, and must repair an older one."""
    target = database["notes__g1"]
    target.insert_many([{"_id": "newer", "_position": 12, "text": "edited"},
                        {"_id": "older", "_position": 5, "text": "stale"}])
    view = View(lambda _collection, doc_id: pytest.fail(f"{doc_id} was read"))
    view.position = 10
    view.create("notes", "newer", {"text": "created"})
    view.create("notes", "older", {"text": "created"})
    view.create("notes", "fresh", {"text": "created"})
    store_changes(database, 1, view)
    assert {doc["_id"]: (doc["_position"], doc["text"]) for doc in target.find()} == {
        "newer": (12, "edited"), "older": (10, "created"), "fresh": (10, "created")}


def test_projections_take_this_process_s_commits_from_memory_without_reading_the_store(
        database, bank_registry, amqp_uri, service_name):
    store = EventStore(database, bank_registry)
    application = Application(store, bank_registry)
    application.execute(Account, "a0", lambda a: a.open("coop-1", "siti"))
    reads: list[int] = []
    read_following = store.read_following
    store.read_following = lambda *a, **k: (reads.append(1), read_following(*a, **k))[1]  # type: ignore[method-assign]
    runner = ProjectionRunner(store, definition.projections, amqp_uri, service_name)
    worker = run_in_background(runner.run)
    try:
        wait_for(lambda: read_model(database, "balances", "balances").find_one({"_id": "a0"}), what="caught up")
        before = len(reads)
        for n in range(30):
            application.execute(Account, "a0", lambda a, n=n: a.deposit(n + 1))
        wait_for(lambda: read_model(database, "balances", "balances").find_one({"_id": "a0"})["balance"] == 465,
                 what="the deposits applied")
    finally:
        runner.stop()
        worker.wait()
    # Taking a commit from memory waits at most 0.1 s for this process's own append to reach the
    # runner; when a wait runs out that batch is read from the store instead (correct, only
    # slower): up to a third of the batches were seen to, on a store busy with other databases.
    # Without the memory path every one of the 30 would be read.
    assert len(reads) - before < 15, "most commits this process appended are taken from memory"


def test_on_a_store_that_can_roll_back_a_position_missing_under_later_ones_is_passed_after_the_hole_timeout(
        database, bank_registry, amqp_uri, service_name):
    store = EventStore(database, bank_registry)
    application = Application(store, bank_registry)
    for n in range(3):  # positions 1, 2, 3
        application.execute(Account, f"h{n}", lambda a, n=n: a.open("coop-h", f"owner-{n}"))
    store.commits.delete_one({"_id": "2".zfill(20)})  # as a replica set's rollback would leave it
    store.pairs_atomic = False  # MongoDB's rule (FerretDB, one node, never rolls back)
    runner = ProjectionRunner(store, definition.projections, amqp_uri, service_name, idle_wait=0.05,
                              hole_timeout=1.0)
    balances = read_model(database, "balances", "balances")
    worker = run_in_background(runner.run)
    try:
        wait_for(lambda: balances.find_one({"_id": "h0"}), what="position 1 applied")
        wait_for(lambda: balances.find_one({"_id": "h2"}), timeout=15, what="position 3 applied past the hole")
    finally:
        runner.stop()
        worker.wait()
    assert runner.holes.declared == [2]
    assert balances.find_one({"_id": "h1"}) is None


def test_a_backlog_is_read_by_a_scan_after_the_first_commits_by_id_and_a_late_position_is_waited_for(
        database, bank_registry, amqp_uri, service_name):
    store = EventStore(database, bank_registry)
    application = Application(store, bank_registry)
    for n in range(100):  # positions 1..100, stored before the runner starts: a backlog
        application.execute(Account, f"b{n}", lambda a, n=n: a.open("coop-b", f"owner-{n}"))
    late = store.commits.find_one({"_id": "60".zfill(20)})
    store.commits.delete_one({"_id": late["_id"]})  # still on its way when the runner reads
    scans: list[int] = []
    read_all = store.read_all
    store.read_all = lambda *a, **k: (scans.append(1), read_all(*a, **k))[1]  # type: ignore[method-assign]
    runner = ProjectionRunner(store, definition.projections, amqp_uri, service_name, idle_wait=0.05)
    balances = read_model(database, "balances", "balances")
    worker = run_in_background(runner.run)
    try:
        wait_for(lambda: balances.find_one({"_id": "b58"}), what="the backlog up to the late position")
        assert scans, "the backlog beyond the first commits was read by a scan"
        assert balances.find_one({"_id": "b60"}) is None, "nothing after a position not visible yet"
        store.commits.insert_one(late)
        wait_for(lambda: balances.find_one({"_id": "b99"}), what="the rest once it is visible")
    finally:
        runner.stop()
        worker.wait()
    assert balances.count_documents({}) == 100 and runner.holes.declared == []


class FindsOf(monitoring.CommandListener):
    """Counts the `find` commands sent to one collection."""

    def __init__(self, collection: str):
        self.collection, self.count = collection, 0

    def started(self, event) -> None:
        if event.command_name == "find" and event.command.get("find") == self.collection:
            self.count += 1

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def test_a_runner_reads_a_document_it_wrote_from_memory_until_a_write_of_it_is_refused(
        database, database_name, bank_registry, amqp_uri, service_name):
    finds = FindsOf("cooperative_totals__g1")  # the runner's finds (the test reads through `database`)
    store = EventStore(MongoClient(MONGODB_URI, event_listeners=[finds])[database_name], bank_registry)
    application = Application(store, bank_registry)
    runner = ProjectionRunner(store, definition.projections, amqp_uri, service_name)
    application.execute(Account, "a1", lambda a: a.open("coop-1", "siti"))
    for amount in (10, 20, 30):
        application.execute(Account, "a1", lambda a, amount=amount: a.deposit(amount))
        assert runner.catch_up_once()  # one batch per deposit
    totals = read_model(database, "cooperative_totals", "cooperative_totals")
    assert totals.find_one({"_id": "coop-1"})["deposits"] == 60
    assert finds.count == 1, "the cooperative's totals were read from the store once, then from memory"

    # another writer (only possible once the lock is lost) stored a newer document meanwhile
    newer = {**totals.find_one({"_id": "coop-1"}), "deposits": 1000, "_position": 1000}
    totals.replace_one({"_id": "coop-1"}, newer)
    application.execute(Account, "a1", lambda a: a.deposit(5))
    runner.catch_up_once()
    assert totals.find_one({"_id": "coop-1"})["deposits"] == 1000, "never written over a newer document"
    reads = finds.count
    application.execute(Account, "a1", lambda a: a.deposit(7))
    runner.catch_up_once()
    assert finds.count == reads + 1, "after a refused write the document is read from the store again"


def test_a_rebuild_writes_every_document_of_a_model_larger_than_one_insert(store, database):
    """The rebuild's inserts of 1,000 documents each run two at a time (shared/rebuild.py): all
    2,500 balances are there, each with its own deposits, and readers follow the new generation."""
    from shared.eventstore import NewEvent
    from shared.projection import rebuild
    from tests.support.bankservice.projections import Balances

    for n in range(2500):
        store.append("Account", f"a{n}", 0, [NewEvent("bank.AccountOpened", {"cooperative_id": "c", "owner": "o"}),
                                             *[NewEvent("bank.Deposited", {"amount": 1})] * (n % 3)])
    before = generation(database, Balances.name)
    assert rebuild(store, Balances()) == sum(1 + n % 3 for n in range(2500))
    assert generation(database, Balances.name) == before + 1
    balances = {doc["_id"]: doc["balance"] for doc in read_model(database, Balances.name, "balances").find()}
    assert balances == {f"a{n}": n % 3 for n in range(2500)}


def test_each_batch_observes_its_oldest_event_s_age_once_its_read_models_are_stored(
        database, bank_registry, amqp_uri, service_name, monkeypatch):
    """kopnet_projection_event_age_seconds: how far behind a reader could have been (the
    sustained bench's read-model lag). The batch's oldest event decides, not its newest."""
    def stored_seconds_ago(seconds: float) -> None:
        at = datetime.now(UTC) - timedelta(seconds=seconds)
        stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        monkeypatch.setattr("shared.eventstore.utc_now", lambda: stamp)

    store = EventStore(database, bank_registry)
    application = Application(store, bank_registry)
    stored_seconds_ago(3.2)
    application.execute(Account, "aged", lambda a: a.open("coop-1", "owner"))
    stored_seconds_ago(0.1)
    application.execute(Account, "aged", lambda a: a.deposit(10))
    runner = ProjectionRunner(store, definition.projections, amqp_uri, service_name)
    assert runner.catch_up_once()
    assert read_model(database, "balances", "balances").find_one({"_id": "aged"})["balance"] == 10

    def batches(projection: str, up_to: str) -> float | None:
        return runner.metrics.registry.get_sample_value("kopnet_projection_event_age_seconds_bucket", {
            "service": service_name, "projection": projection, "le": up_to})

    for projection in definition.projections:  # one batch each, its oldest event 3.2 s old
        assert batches(projection.name, "+Inf") == 1
        assert batches(projection.name, "5.0") == 1
        assert batches(projection.name, "2.5") == 0
