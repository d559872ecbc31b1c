"""The outbox relay against the real store and RabbitMQ, including crashes."""
from __future__ import annotations

import subprocess
import sys

import pytest

from shared.broker import BrokerUnavailable
from shared.broker import connect as connect_broker
from shared.consumer import Subscriber, Subscription
from shared.envelope import Envelope
from shared.eventstore import EventStore, NewEvent
from shared.relay import OutboxRelay
from tests.conftest import run_in_background, wait_for
from tests.support.tcpproxy import TcpProxy


def fill(store: EventStore, accounts: int = 10, deposits: int = 4, prefix: str = "a") -> list[str]:
    for n in range(accounts):
        store.append("Account", f"{prefix}{n}", 0, [NewEvent("bank.AccountOpened", {"cooperative_id": "c", "owner": "o"})])
        for d in range(deposits):
            store.append("Account", f"{prefix}{n}", 1 + d, [NewEvent("bank.Deposited", {"amount": d + 1})])
    return [e.event_id for e in store.read_all(limit=10_000)]


def relay_process(mode: str, mongodb_uri: str, database: str, amqp_uri: str, service: str):
    return subprocess.Popen([sys.executable, "-m", "tests.support.relay_child", mode, mongodb_uri,
                             database, amqp_uri, service])


def test_the_relay_publishes_every_event_in_store_order(store, amqp_uri, service_name, tap):
    seen = tap("bank.*")
    stored = fill(store)
    relay = OutboxRelay(store, amqp_uri, service_name)
    worker = run_in_background(relay.run)
    try:
        wait_for(lambda: len(seen.drain()) >= len(stored), what="all events published")
    finally:
        relay.stop()
        worker.wait()
    bodies = [Envelope.from_json(m.body) for m in seen.messages]
    assert [e.event_id for e in bodies] == stored
    assert [e.position for e in bodies] == sorted(e.position for e in bodies)
    assert all(m.properties["delivery_mode"] == 2 for m in seen.messages)
    assert relay.metrics.events_published.labels(service_name)._value.get() == len(stored)


def test_the_relay_puts_back_stream_index_entries_another_writer_did_not_write(
        store, database, amqp_uri, service_name, tap):
    """A writer that died between its commit and the commit's index entry: the relay, which
    reads that commit from the store, restores the entry (readers of the stream see it)."""
    seen = tap("bank.*")
    stored = fill(store, accounts=3, deposits=2)
    database["commits"].delete_many({"_id": {"$regex": "a1\x1f3$"}})
    assert len(store.read_stream("Account", "a1")) == 2
    relayed = EventStore(database, store.registry)
    relayed.pairs_atomic = False  # as on MongoDB, where a writer can die between the two inserts
    relay = OutboxRelay(relayed, amqp_uri, service_name)
    worker = run_in_background(relay.run)
    try:
        wait_for(lambda: len(seen.drain()) >= len(stored), what="all events published")
    finally:
        relay.stop()
        worker.wait()
    assert [e.stream_version for e in store.read_stream("Account", "a1")] == [1, 2, 3]


def test_the_relay_takes_this_process_s_commits_from_memory_without_reading_the_store(
        store, amqp_uri, service_name, tap):
    seen = tap("bank.*")
    fill(store, accounts=2, deposits=1)
    scans: list[int] = []
    iterate_all = store.iterate_all
    store.iterate_all = lambda *a, **k: (scans.append(1), iterate_all(*a, **k))[1]  # type: ignore[method-assign]
    relay = OutboxRelay(store, amqp_uri, service_name)
    worker = run_in_background(relay.run)
    try:
        wait_for(lambda: len(seen.drain()) >= 4, what="the stored events published")
        assert len(scans) == 1, "one read of the store at start"
        for n in range(30):
            store.append("Account", f"live{n}", 0, [NewEvent("bank.AccountOpened", {"cooperative_id": "c",
                                                                                  "owner": "o"})])
        wait_for(lambda: len(seen.drain()) >= 34, what="the live events published")
    finally:
        relay.stop()
        worker.wait()
    assert len(scans) == 1, "no read of the store for commits this process appended"


@pytest.mark.parametrize("mode", ["before_publish", "after_publish"])
def test_a_relay_killed_mid_batch_loses_nothing_and_consumers_apply_once(
        mode, store, database, amqp_uri, mongodb_uri, service_name, tap):
    seen = tap("bank.*")
    effects = EventStore(database.client[f"{database.name}_fx"])
    subscriber = Subscriber(f"{service_name}fx", Subscription(
        "effects", ["bank.*"],
        lambda event, context: effects.append("Effect", event.event_id, 0, [
            NewEvent("bank.Deposited", {"amount": 1})], command_id=context.command_id),
    ), database, amqp_uri)
    consumer = run_in_background(subscriber.run)
    wait_for(subscriber.ready.is_set, what="subscriber ready")
    stored = fill(store)
    try:
        crashed = relay_process(mode, mongodb_uri, database.name, amqp_uri, service_name)
        assert crashed.wait(timeout=60) == -9, "the relay process was killed mid-batch"
        before_restart = {Envelope.from_json(m.body).event_id for m in seen.drain()}
        if mode == "before_publish":
            assert before_restart == set()
        else:
            assert before_restart, "the first batch was confirmed before the kill"
        restarted = relay_process("normal", mongodb_uri, database.name, amqp_uri, service_name)
        try:
            wait_for(lambda: {Envelope.from_json(m.body).event_id for m in seen.drain()} >= set(stored),
                     timeout=30, what="every stored event to reach RabbitMQ after the restart")
            wait_for(lambda: len(effects.read_all(limit=10_000)) >= len(stored), what="consumer effects")
        finally:
            restarted.terminate()
            restarted.wait(timeout=30)
        published = [Envelope.from_json(m.body).event_id for m in seen.messages]
        if mode == "after_publish":
            assert len(published) > len(stored), "the unconfirmed checkpoint made the relay re-send"
        wait_for(lambda: subscriber.metrics.messages.labels(subscriber.service, "effects", "duplicate")
                 ._value.get() + len(stored) >= len(published), what="duplicates to be skipped")
        effect_streams = sorted(e.stream_id for e in effects.read_all(limit=10_000))
        assert effect_streams == sorted(stored), "each event applied exactly once"
    finally:
        subscriber.stop()
        consumer.wait()
        database.client.drop_database(f"{database.name}_fx")


def test_only_one_relay_per_store_is_active(store, amqp_uri, service_name, tap):
    seen = tap("bank.*")
    first, second = OutboxRelay(store, amqp_uri, service_name), OutboxRelay(store, amqp_uri, service_name)
    workers = [run_in_background(first.run), run_in_background(second.run)]
    try:
        wait_for(lambda: first.active or second.active, what="a relay to take the lock")
        active, standby = (first, second) if first.active else (second, first)
        stored = fill(store, accounts=3, deposits=2)
        wait_for(lambda: len(seen.drain()) >= len(stored), what="events published")
        assert not standby.active
        active.stop()
        wait_for(lambda: standby.active, what="the standby to take over")
        more = fill(EventStore(store.database), accounts=1, deposits=0, prefix="late")
        assert more
        wait_for(lambda: len(seen.drain()) >= len(stored) + 1, what="the standby to publish")
        assert sorted(Envelope.from_json(m.body).event_id for m in seen.messages) == sorted(
            [e.event_id for e in store.read_all(limit=1000)])
    finally:
        first.stop()
        second.stop()
        for worker in workers:
            worker.wait()


def test_an_unreachable_broker_fails_clearly_and_the_relay_catches_up_later(store, amqp_uri, service_name, tap):
    with pytest.raises(BrokerUnavailable, match="AMQP_URI"):
        connect_broker("amqp://guest:guest@127.0.0.1:1/", timeout=1)
    host_port = amqp_uri.split("@")[1].split("/")[0]
    host, port = host_port.rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    seen = tap("bank.*")
    relay = OutboxRelay(store, amqp_uri.replace(host_port, f"127.0.0.1:{proxy.port}"), service_name)
    worker = run_in_background(relay.run)
    try:
        wait_for(lambda: relay.active, what="relay active")
        proxy.cut()
        stored = fill(store, accounts=2, deposits=2)  # appends never need the broker
        wait_for(lambda: not relay.active, what="the relay to notice the broker is gone")
        assert seen.drain() == []
        proxy.restore()
        wait_for(lambda: len(seen.drain()) >= len(stored), what="catch-up after the broker returns")
        assert {Envelope.from_json(m.body).event_id for m in seen.messages} == set(stored)
    finally:
        relay.stop()
        worker.wait()
        proxy.close()


def test_idle_lock_holders_keep_their_broker_connection(store, amqp_uri, service_name, tap, monkeypatch):
    """An idle relay and projection runner read the broker's heartbeats, so the connection
    that holds their lock is not dropped as dead (heartbeat 1 s, idle for 4 s)."""
    import time

    import shared.broker
    from shared.projection import ProjectionRunner
    from tests.support.bankservice.service import definition

    monkeypatch.setattr(shared.broker, "HEARTBEAT", 1)
    seen = tap("bank.*")
    relay = OutboxRelay(store, amqp_uri, service_name)
    runner = ProjectionRunner(store, definition.projections, amqp_uri, service_name)
    workers = [run_in_background(relay.run), run_in_background(runner.run)]
    try:
        wait_for(lambda: relay.active and runner.active, what="both hold their locks")
        dropped: list[str] = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            if not (relay.active and runner.active):
                dropped.append("lost")
            time.sleep(0.05)
        assert dropped == [], "an idle lock holder lost its broker connection"
        stored = fill(store, accounts=1, deposits=1)
        wait_for(lambda: len(seen.drain()) >= len(stored), what="publishing after the idle time")
    finally:
        relay.stop()
        runner.stop()
        for worker in workers:
            worker.wait()


def test_internal_events_are_stored_and_passed_by_never_published(database, amqp_uri, service_name, tap):
    """An internal event type (membership's HealthRecord facts) moves the relay's checkpoint but
    never reaches the broker, whether the relay reads it from the store or from memory; an
    operator's re-delivery does not send it either."""
    from marshmallow import Schema, fields

    from shared.checkpoints import Checkpoints
    from shared.redeliver import redeliver
    from shared.registry import EventRegistry
    from shared.topology import QueueSpec
    from tests.support.bankservice.schemas import AccountOpened

    class Noted(Schema):
        note = fields.String(required=True)

    registry = EventRegistry("bank")
    registry.register("AccountOpened", AccountOpened)
    registry.register("Noted", Noted, internal=True)
    store = EventStore(database, registry)

    def write(prefix: str) -> None:
        for n in range(3):
            store.append("Account", f"{prefix}{n}", 0, [NewEvent("bank.AccountOpened", {"cooperative_id": "c",
                                                                                       "owner": "o"}),
                                                        NewEvent("bank.Noted", {"note": "kept here"})])
            store.append("Account", f"{prefix}{n}", 2, [NewEvent("bank.Noted", {"note": "kept here"})])

    seen = tap("bank.#")
    write("stored")  # read from the store by a relay started after them
    relay = OutboxRelay(EventStore(database, registry), amqp_uri, service_name)
    worker = run_in_background(relay.run)
    try:
        wait_for(lambda: relay.checkpoints.load("relay") == 9, what="the relay past the stored events")
        relay.store.append("Account", "live", 0, [NewEvent("bank.Noted", {"note": "kept here"}),
                                                  NewEvent("bank.AccountOpened", {"cooperative_id": "c",
                                                                                  "owner": "o"})])
        wait_for(lambda: relay.checkpoints.load("relay") == 11, what="the relay past the live events")
    finally:
        relay.stop()
        worker.wait()
    wait_for(lambda: len(seen.drain()) >= 4, what="the published events on the tap")
    assert [Envelope.from_json(m.body).event_type for m in seen.drain()] == ["bank.AccountOpened"] * 4
    assert relay.metrics.events_published.labels(service_name)._value.get() == 4
    assert Checkpoints(database).load("relay") == 11
    spec = QueueSpec(f"{service_name}.again", ("bank.#",))
    assert redeliver(store, amqp_uri, spec, after=0) == 4
