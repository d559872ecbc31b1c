"""Kernel hardening (issue 10) against the real store (and broker, for the projection lock)."""
from __future__ import annotations

import pytest
from pymongo.errors import AutoReconnect

from shared.application import Application, CommandContext
from shared.broker import LockLost, check_lock, connect, try_exclusive_lock
from shared.eventstore import CommandIdReused, EventStore, NewEvent, OutcomeUnknown
from shared.projection import ProjectionRunner, View, read_model, store_changes
from tests.support.bankservice.domain import Account
from tests.support.bankservice.service import definition

OPENED = NewEvent("bank.AccountOpened", {"cooperative_id": "c", "owner": "o"})


def test_point4_a_projection_write_never_goes_backwards(database):
    """A runner that read a document, paused, and writes after its successor wrote a newer one."""
    target = database["notes__g1"]
    target.insert_many([{"_id": "n1", "_position": 5, "text": "old"}])
    view = View(lambda _collection, doc_id: target.find_one({"_id": doc_id}))
    view.position = 8
    view.put("notes", "n1", {**(view.get("notes", "n1") or {}), "text": "paused runner"})
    target.replace_one({"_id": "n1"}, {"_id": "n1", "_position": 12, "text": "successor"})  # meanwhile
    store_changes(database, 1, view)
    assert target.find_one({"_id": "n1"}) == {"_id": "n1", "_position": 12, "text": "successor"}


def test_point4_a_runner_that_lost_its_lock_writes_nothing(database, bank_registry, amqp_uri, service_name):
    store = EventStore(database, bank_registry)
    Application(store, bank_registry).execute(Account, "a1", lambda a: a.open("coop-1", "siti"))
    runner = ProjectionRunner(store, definition.projections, amqp_uri, service_name)
    connection = connect(amqp_uri)
    lock = f"kopnet.lock.{database.name}.projections"
    assert try_exclusive_lock(connection, lock)
    from shared.broker import check_lock

    runner.fence = lambda: check_lock(connection, lock)
    connection.release()  # the lock is gone (a partition, a missed heartbeat)
    successor = connect(amqp_uri)
    try:
        assert try_exclusive_lock(successor, lock)
        with pytest.raises(LockLost):
            runner.catch_up_once()
    finally:
        successor.release()
    assert read_model(database, "balances", "balances").find_one({"_id": "a1"}) is None


def test_point4_a_round_checks_the_lock_once_before_its_first_write(database, bank_registry, amqp_uri,
                                                                    service_name):
    store = EventStore(database, bank_registry)
    application = Application(store, bank_registry)
    application.execute(Account, "a1", lambda a: a.open("coop-1", "siti"))
    application.execute(Account, "a1", lambda a: a.deposit(100))
    runner = ProjectionRunner(store, definition.projections, amqp_uri, service_name)
    connection = connect(amqp_uri)
    lock = f"kopnet.lock.{database.name}.projections"
    checks: list[int] = []

    def fence():
        # what each projection has stored when the lock is checked
        checks.append(sum(read_model(database, p.name, c).count_documents({})
                          for p in definition.projections for c in p.collections))
        check_lock(connection, lock)

    try:
        assert try_exclusive_lock(connection, lock)
        runner.fence = fence
        assert runner.catch_up_once()
        assert checks == [0], "one check, before anything was written"
        assert read_model(database, "balances", "balances").find_one({"_id": "a1"})["balance"] == 100
        assert read_model(database, "cooperative_totals", "cooperative_totals").count_documents({}) == 1
        application.execute(Account, "a1", lambda a: a.deposit(50))
        assert runner.catch_up_once() and len(checks) == 2, "and again in the next round"
    finally:
        connection.release()


def test_point5_a_command_id_reused_for_another_stream_is_an_error(store):
    store.append("Account", "a1", 0, [OPENED], command_id="c-1")
    assert store.append("Account", "a1", 0, [OPENED], command_id="c-1").duplicate
    with pytest.raises(CommandIdReused):
        store.append("Account", "a2", 0, [OPENED], command_id="c-1")
    assert store.read_stream("Account", "a2") == []


def test_point5_an_application_reports_the_reuse_too(store, bank_registry):
    application = Application(store, bank_registry)
    context = CommandContext.new(command_id="c-2")
    application.execute(Account, "a1", lambda a: a.open("coop-1", "siti"), context)
    with pytest.raises(CommandIdReused):
        application.execute(Account, "a2", lambda a: a.open("coop-1", "budi"), context)


class Counting:
    """A collection whose insert_many calls are counted (and can be made to fail after storing)."""

    def __init__(self, collection, fail_after_insert: bool = False):
        self._collection, self.inserts, self.fail_after_insert = collection, 0, fail_after_insert

    def insert_many(self, *args, **kwargs):
        self.inserts += 1
        result = self._collection.insert_many(*args, **kwargs)
        if self.fail_after_insert:
            self.fail_after_insert = False
            raise AutoReconnect("connection reset after the write was sent")
        return result

    def __getattr__(self, name):
        return getattr(self._collection, name)


def test_point6_a_stale_head_is_read_again_after_two_misses(database, bank_registry):
    stale = EventStore(database, bank_registry)
    stale.append("Account", "s0", 0, [OPENED])  # its writer's head: 1
    other = EventStore(database, bank_registry)
    for n in range(20):
        other.append("Account", f"o{n}", 0, [OPENED])
    stale.commits = Counting(stale.commits)  # type: ignore[assignment]
    stale.append("Account", "s1", 0, [OPENED])
    assert stale.commits.inserts <= 3, f"{stale.commits.inserts} inserts: the head was walked"


def test_point9_an_unknown_write_outcome_is_not_reported_as_nothing_stored(database, bank_registry):
    store = EventStore(database, bank_registry)
    application = Application(store, bank_registry)
    store.commits = Counting(store.commits, fail_after_insert=True)  # type: ignore[assignment]
    context = CommandContext.new(command_id="c-unknown")
    try:
        outcome = application.execute(Account, "a1", lambda a: a.open("coop-1", "siti"), context)
        assert outcome.commit is not None and not outcome.duplicate  # resolved: it was stored
    except OutcomeUnknown as error:
        assert error.command_id == "c-unknown" and "same command id" in str(error)
    again = application.execute(Account, "a1", lambda a: a.open("coop-1", "siti"), context)
    assert again.commit is not None
    assert len(store.read_stream("Account", "a1")) == 1, "one effect, however often it is retried"


def test_point9_an_unresolvable_outcome_answers_unknown_with_the_command_id(database, bank_registry):
    store = EventStore(database, bank_registry)

    class Down(Counting):
        def find_one(self, *args, **kwargs):
            if self.inserts:  # down from the moment the insert was sent
                raise AutoReconnect("still down")
            return self._collection.find_one(*args, **kwargs)

    store.commits = Down(store.commits, fail_after_insert=True)  # type: ignore[assignment]
    with pytest.raises(OutcomeUnknown) as unknown:
        store.append("Account", "a1", 0, [OPENED], command_id="c-9")
    assert unknown.value.command_id == "c-9" and unknown.value.retry_after > 0
