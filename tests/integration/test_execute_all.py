"""Several commands stored in one request (Application.execute_all over EventStore.append_all):
a commit per command under its own command id, a stream's order kept, and what is not stored
left to `execute`, so that a redelivery grouped otherwise stores nothing twice."""
from __future__ import annotations

from shared.application import Application, CommandContext
from shared.envelope import derived_id
from shared.eventstore import EventStore, NewEvent
from tests.support.bankservice.domain import Account


def context(event_id: str) -> CommandContext:
    return CommandContext(command_id=derived_id("test-batch", event_id), correlation_id=event_id,
                          causation_id=event_id)


def deposit(amount: int):
    return lambda account: account.deposit(amount)


def opened(app: Application, *accounts: str) -> None:
    for account in accounts:
        app.execute(Account, account, lambda a: a.open("c1", "owner"), context(f"open-{account}"))


def amounts(store: EventStore, account: str) -> list[int]:
    return [event.payload["amount"] for event in store.read_stream("Account", account)
            if event.event_type == "bank.Deposited"]


def test_each_command_is_a_commit_of_its_own_and_they_go_in_one_request(store, bank_registry):
    app = Application(store, bank_registry)
    opened(app, "a", "b")
    rounds = store._group.rounds
    done = app.execute_all(Account, [("a", deposit(1), context("e1")), ("b", deposit(2), context("e2")),
                                     ("a", deposit(3), context("e3"))])
    assert done == [True, True, True]
    assert store._group.rounds == rounds + 1  # one insert for the three commits
    assert amounts(store, "a") == [1, 3] and amounts(store, "b") == [2]
    for event_id, account, version in (("e1", "a", 2), ("e2", "b", 2), ("e3", "a", 3)):
        commit = store.find_command(derived_id("test-batch", event_id))
        assert commit is not None and (commit.stream_id, commit.first_version) == (account, version)
    # the cache holds what was stored: the next command follows on
    app.execute(Account, "a", deposit(4), context("e4"))
    assert amounts(store, "a") == [1, 3, 4]
    assert app.load(Account, "a", fresh=True).balance == 8


def test_a_redelivery_grouped_otherwise_stores_nothing_twice(store, bank_registry):
    app = Application(store, bank_registry)
    opened(app, "a")
    assert app.execute_all(Account, [("a", deposit(n), context(f"e{n}")) for n in (1, 2, 3)]) == [True] * 3
    again = [("a", deposit(n), context(f"e{n}")) for n in (2, 3, 4)]
    done = app.execute_all(Account, again)
    # e2 is refused as stored before; e3 and e4 came after it on the stream, so none was sent
    assert done == [False, False, False]
    for (stream, command, ctx), was_done in zip(again, done, strict=True):
        if not was_done:
            app.execute(Account, stream, command, ctx)  # what the subscriber does with them
    assert amounts(store, "a") == [1, 2, 3, 4]


def test_a_refused_command_stops_its_stream_there_and_the_rest_is_stored(store, bank_registry):
    app = Application(store, bank_registry)
    opened(app, "a", "b")
    done = app.execute_all(Account, [("a", deposit(5), context("e1")), ("a", deposit(-1), context("e2")),
                                     ("a", deposit(7), context("e3")), ("b", deposit(9), context("e4"))])
    assert done == [True, False, False, True]
    assert amounts(store, "a") == [5] and amounts(store, "b") == [9]
    assert app.load(Account, "a", fresh=True).balance == 5


def test_a_commit_refused_by_the_store_keeps_its_stream_later_commits_out(store, database, bank_registry):
    app = Application(store, bank_registry)
    opened(app, "a", "b")
    app.load(Account, "a")  # cached at version 1
    # another process moves "a" on meanwhile
    elsewhere = EventStore(database, bank_registry)
    elsewhere.append("Account", "a", 1, [NewEvent("bank.Deposited", {"amount": 100})], command_id="elsewhere")
    done = app.execute_all(Account, [("a", deposit(1), context("e1")), ("a", deposit(2), context("e2")),
                                     ("b", deposit(3), context("e3"))])
    assert done == [False, False, True]
    assert amounts(store, "a") == [100]  # neither version 2 (taken) nor 3 (made on top of it) stored
    assert amounts(store, "b") == [3]
    # the cache forgot "a": `execute` then runs on what the store holds
    app.execute(Account, "a", deposit(1), context("e1"))
    app.execute(Account, "a", deposit(2), context("e2"))
    assert amounts(store, "a") == [100, 1, 2]


def test_append_all_answers_none_for_what_it_did_not_store(store, database, bank_registry):
    from shared.commits import PendingCommit

    store.append("Account", "x", 0, [NewEvent("bank.AccountOpened", {"cooperative_id": "c1", "owner": "o"})],
                 command_id="open-x")
    deposit_event = [NewEvent("bank.Deposited", {"amount": 1})]
    stored = store.append_all([PendingCommit("Account", "x", 1, deposit_event, "c1"),
                               PendingCommit("Account", "x", 1, deposit_event, "c2"),  # version 2 again
                               PendingCommit("Account", "x", 2, deposit_event, "c3")])
    assert stored[0] is not None and stored[0].first_version == 2
    assert stored[1] is None and stored[2] is None
    assert [e.stream_version for e in store.read_stream("Account", "x")] == [1, 2]
