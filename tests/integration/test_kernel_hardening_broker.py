"""Kernel hardening (issue 10) against the real RabbitMQ and store: loops that do not die,
events not lost before their consumer starts, retries that do not queue behind each other."""
from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from shared import topology
from shared.consumer import Subscriber, Subscription, parked_messages
from shared.envelope import Envelope
from shared.eventstore import EventStore, NewEvent, StoreUnavailable
from shared.kernel import Kernel, Settings
from shared.redeliver import redeliver
from shared.registry import EventRegistry
from shared.relay import OutboxRelay
from shared.topology import QueueSpec
from tests.conftest import run_in_background, wait_for
from tests.integration.test_consumer import envelope, outcomes, publish, start
from tests.integration.test_relay import fill

OPENED = {"cooperative_id": "c", "owner": "o"}


def test_point2_an_event_the_relay_cannot_publish_is_reported_and_passed(store, database, amqp_uri,
                                                                         service_name, tap):
    seen = tap("bank.*")
    fill(store, accounts=2, deposits=1)
    raw = EventStore(database)  # no registry: stores what a bug might (a date is not JSON)
    raw.append("Account", "poison", 0, [NewEvent("bank.AccountOpened", {"when": datetime.now(UTC)})])
    fill(store, accounts=2, deposits=1, prefix="b")
    relay = OutboxRelay(store, amqp_uri, service_name)
    worker = run_in_background(relay.run)
    try:
        wait_for(lambda: len(seen.drain()) >= 8, what="the other streams' events published")
        store.append("Account", "late", 0, [NewEvent("bank.AccountOpened", OPENED)])
        wait_for(lambda: len(seen.drain()) >= 9, what="the relay still running")
    finally:
        relay.stop()
        worker.wait()
    assert "poison" not in {Envelope.from_json(m.body).stream_id for m in seen.messages}
    assert relay.metrics.unpublishable_events.labels(service_name)._value.get() == 1
    assert database["relay_unpublishable"].find_one({"stream_id": "poison"})["error"].startswith("TypeError")


def test_point2_a_message_that_cannot_be_upcast_is_parked_and_the_loop_goes_on(database, amqp_uri,
                                                                               service_name):
    registry = EventRegistry("bank")
    registry.register("Deposited", __import__("tests.support.bankservice.schemas", fromlist=["x"]).Deposited,
                      version=2)  # and no upcaster from version 1: UnknownEvent, a LookupError
    good: list[int] = []
    subscriber = Subscriber(service_name, Subscription(
        "upcasts", ["bank.*"], lambda event, context: good.append(event.payload["amount"])),
        database, amqp_uri, registry=registry)
    worker = start(subscriber)
    try:
        fine = envelope("bank.Withdrawn", amount=3)
        publish(amqp_uri, envelope(amount=1).to_json(), routing_key="bank.Deposited")
        publish(amqp_uri, fine.to_json(), routing_key="bank.Withdrawn")
        wait_for(lambda: outcomes(subscriber, "parked") == 1 and good == [3], what="parked, then the next applied")
        assert "UnknownEvent" in parked_messages(amqp_uri, subscriber.queue)[0]["headers"]["x-kopnet-error"]
    finally:
        subscriber.stop()
        worker.wait()


def test_point2_a_subscriber_survives_a_failure_of_its_retry_publish(database, amqp_uri, service_name,
                                                                       monkeypatch):
    from shared import consumer
    from shared.broker import PublishFailed

    calls: list[int] = []

    def handler(event, context):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("fails once")

    subscriber = Subscriber(service_name, Subscription("flaky", ["bank.Deposited"], handler,
                                                       backoff_seconds=[0.05]), database, amqp_uri)
    original = consumer.ConfirmedPublisher.publish_all
    failures = iter([True])

    def publish_all(self, messages):
        if next(failures, False):
            raise PublishFailed("nacked")
        return original(self, messages)

    monkeypatch.setattr(consumer.ConfirmedPublisher, "publish_all", publish_all)
    worker = start(subscriber)
    try:
        publish(amqp_uri, envelope().to_json())
        wait_for(lambda: outcomes(subscriber, "applied") == 1, what="applied after the loop reconnected")
    finally:
        subscriber.stop()
        worker.wait()


def test_point3_events_stored_before_their_consumer_ever_started_reach_it(store, database, amqp_uri,
                                                                          service_name):
    consumer_service = f"{service_name}c"
    subscription = Subscription("follows", ["bank.Deposited"], lambda event, context: None)
    relay = OutboxRelay(store, amqp_uri, service_name, topology=[subscription.spec(consumer_service)])
    stored = fill(store, accounts=2, deposits=2)
    worker = run_in_background(relay.run)
    try:
        wait_for(lambda: relay.metrics.events_published.labels(service_name)._value.get() >= len(stored),
                 what="published before any consumer ran")
    finally:
        relay.stop()
        worker.wait()
    applied: list[str] = []
    subscriber = Subscriber(consumer_service, Subscription(
        "follows", ["bank.Deposited"], lambda event, context: applied.append(event.event_id)), database, amqp_uri)
    consumer_worker = start(subscriber)
    try:
        wait_for(lambda: len(applied) == 4, what="the consumer to receive what was stored before it started")
    finally:
        subscriber.stop()
        consumer_worker.wait()


def test_point3_an_operator_redelivers_a_range_of_stored_events_to_one_subscription(store, database, amqp_uri,
                                                                                   service_name):
    fill(store, accounts=3, deposits=2)  # positions 1..9: a1 opened at 1, deposits at 2, 3; ...
    applied: list[int] = []
    subscriber = Subscriber(service_name, Subscription(
        "again", ["bank.Deposited"], lambda event, context: applied.append(event.position)), database, amqp_uri)
    worker = start(subscriber)
    try:
        assert redeliver(store, amqp_uri, subscriber.spec, after=2, upto=6) == 3
        wait_for(lambda: sorted(applied) == [3, 5, 6], what="the deposits in (2, 6] delivered")
        assert redeliver(store, amqp_uri, subscriber.spec, after=2, upto=6) == 3
        wait_for(lambda: outcomes(subscriber, "duplicate") == 3, what="a second re-delivery skipped")
    finally:
        subscriber.stop()
        worker.wait()


def test_point3_every_service_s_subscriptions_are_in_the_declared_topology(mongodb_uri, amqp_uri, database_name):
    from shared.supervisor import service_module, service_names

    listed = topology.declared()
    definitions = [getattr(service_module(name), "definition", None) for name in service_names()]
    for definition in [found for found in definitions if found is not None]:  # the gateway has none
        kernel = Kernel(definition, Settings(amqp_uri, mongodb_uri, f"{database_name}_{definition.name}"))
        try:
            own = [subscriber.spec for subscriber in kernel.subscribers]
            assert own and topology.mismatches(own, listed) == []
            assert set(listed) <= set(kernel.relay.topology), "the relay declares the whole list"
        finally:
            kernel.database.client.drop_database(kernel.database.name)


def test_point10_a_short_retry_does_not_wait_behind_a_long_one(database, amqp_uri, service_name):
    tries: dict[int, list[float]] = {}

    def handler(event, context):
        tries.setdefault(event.payload["amount"], []).append(time.monotonic())
        raise ValueError("always fails")

    subscriber = Subscriber(service_name, Subscription(
        "delays", ["bank.Deposited"], handler, max_attempts=10, backoff_seconds=[0.2, 30.0]), database, amqp_uri)
    worker = start(subscriber)
    try:
        slow = envelope(amount=1)
        from shared.consumer import ATTEMPTS_HEADER
        import amqp
        import kombu

        with kombu.Connection(amqp_uri) as connection:  # a message on its second try: waits 30 s next
            connection.channel().basic_publish(amqp.Message(slow.to_json(), application_headers={
                ATTEMPTS_HEADER: 1}), exchange="kopnet.events", routing_key="bank.Deposited")
        wait_for(lambda: 1 in tries, what="the first message's try")
        publish(amqp_uri, envelope(amount=2).to_json())
        wait_for(lambda: len(tries.get(2, [])) >= 2, timeout=10, what="the short retry, not behind the long one")
    finally:
        subscriber.stop()
        worker.wait()


def test_point10_an_outage_of_the_store_does_not_use_up_attempts(database, amqp_uri, service_name):
    calls: list[int] = []

    def handler(event, context):
        calls.append(1)
        if len(calls) <= 6:  # more failures than max_attempts: a store outage
            raise StoreUnavailable("the store did not answer")

    subscriber = Subscriber(service_name, Subscription(
        "outage", ["bank.Deposited"], handler, max_attempts=3, backoff_seconds=[0.05]), database, amqp_uri)
    worker = start(subscriber)
    try:
        publish(amqp_uri, envelope().to_json())
        wait_for(lambda: outcomes(subscriber, "applied") == 1, what="applied once the store is back")
        assert outcomes(subscriber, "parked") == 0
    finally:
        subscriber.stop()
        worker.wait()


def test_point10_processed_marks_are_pruned_after_their_retention(database, amqp_uri, service_name):
    subscriber = Subscriber(service_name, Subscription("marks", ["bank.Deposited"], lambda e, c: None,
                                                       mark_retention=3600), database, amqp_uri)
    now = time.time()
    database["processed"].insert_many([
        {"_id": "marks:old", "handler": "marks", "at": now - 7200},
        {"_id": "marks:new", "handler": "marks", "at": now - 60},
        {"_id": "other:old", "handler": "other", "at": now - 7200}])
    assert subscriber.prune_marks(now) == 1
    assert sorted(d["_id"] for d in database["processed"].find()) == ["marks:new", "other:old"]


@pytest.mark.parametrize("binding,key,expected", [("bank.*", "bank.Deposited", True),
                                                  ("bank.Deposited", "bank.Withdrawn", False),
                                                  ("#", "bank.Deposited", True)])
def test_point3_topic_matching_of_redelivery(binding, key, expected):
    assert QueueSpec("q", (binding,)).routes(key) is expected
