"""The feed's entitlement watermark on the real broker and store: a wait returns only once every
fact that reached the entitlement facts queue before it has been recorded, including one the
broker had already pushed to a subscriber (neither ready in the queue nor in a handler's hand)
and one in another replica's hands."""
from __future__ import annotations

import time

import eventlet
import kombu

from services.feed.watermark import EntitlementWatermark
from shared.consumer import Subscriber, Subscription
from tests.conftest import wait_for
from tests.integration.test_consumer import envelope, publish, start


def ready_messages(amqp_uri: str, queue: str) -> int:
    with kombu.Connection(amqp_uri) as connection:
        return int(connection.default_channel.queue_declare(queue, passive=True)[1])


def replica(service_name, database, amqp_uri, handler=lambda event, context: None, **watermark):
    """One feed replica's entitlement facts subscriber and watermark (a single active consumer)."""
    facts = Subscriber(service_name, Subscription("entitlement-facts", ["bank.Deposited"], handler,
                                                  remember=False, single_active=True), database, amqp_uri)
    mark = EntitlementWatermark(amqp_uri, facts.queue, database, **watermark)
    facts.barrier_listeners.append(mark.passed)
    return facts, mark, start(facts)


def blocking_recorder():
    """A handler that holds the first fact until released, and the list of what it recorded."""
    release, recorded = eventlet.event.Event(), []

    def record(event, context):
        if not recorded:
            release.wait()
        recorded.append(event.payload["amount"])
    return record, release, recorded


def assert_the_wait_ends_only_after_both_facts(amqp_uri, queue, watermark, release, recorded) -> None:
    """Two facts published while the consuming replica holds the first: a wait for now (on
    `watermark`) sends its barrier and has not returned; released, both facts are recorded by the
    time it returns."""
    publish(amqp_uri, envelope(amount=1).to_json(), envelope(amount=2).to_json())
    wait_for(lambda: ready_messages(amqp_uri, queue) == 0,
             what="both facts pushed to the consuming subscriber (none ready in the queue)")
    waiter = eventlet.spawn(watermark.wait_until_recorded, time.time())
    wait_for(lambda: watermark.barriers_sent == 1, what="the barrier sent")
    assert not waiter.dead, "the wait returned while a fact was still to be recorded"
    release.send()
    waiter.wait()
    assert recorded == [1, 2]


def test_a_fact_pushed_to_the_subscriber_but_not_read_is_recorded_before_the_wait_returns(
        database, amqp_uri, service_name):
    record, release, recorded = blocking_recorder()
    facts, watermark, worker = replica(service_name, database, amqp_uri, record)
    try:
        assert_the_wait_ends_only_after_both_facts(amqp_uri, facts.queue, watermark, release, recorded)
    finally:
        facts.stop()
        worker.wait()


def test_a_replica_waits_for_the_facts_in_another_replicas_hands(database, amqp_uri, service_name):
    """Replica A consumes (the single active consumer) and holds two facts; replica B's wait sends
    its barrier behind them, and hears from the store when A has passed it."""
    record, release, recorded = blocking_recorder()
    facts_a, _mark_a, worker_a = replica(service_name, database, amqp_uri, record)
    facts_b, mark_b, worker_b = replica(service_name, database, amqp_uri)
    try:
        assert_the_wait_ends_only_after_both_facts(amqp_uri, facts_a.queue, mark_b, release, recorded)
        assert mark_b.recorded_until >= 1 and database["feed_watermark"].find_one()["recorded_until"] >= 1
    finally:
        for facts, worker in ((facts_a, worker_a), (facts_b, worker_b)):
            facts.stop()
            worker.wait()


def test_one_barrier_answers_every_wait_up_to_its_moment(database, amqp_uri, service_name):
    facts, watermark, worker = replica(service_name, database, amqp_uri, gap=0.5)
    try:
        moments = [time.time() - 1 + n / 10 for n in range(10)]  # all already past
        pool = eventlet.GreenPool(10)
        for moment in moments:
            pool.spawn(watermark.wait_until_recorded, moment)
        pool.waitall()
        assert watermark.barriers_sent == 1 and watermark.recorded_until >= max(moments)
        watermark.wait_until_recorded(time.time())  # a later moment needs a later barrier
        assert watermark.barriers_sent == 2
    finally:
        facts.stop()
        worker.wait()


def test_a_barrier_is_no_event_for_the_handler(database, amqp_uri, service_name):
    handled = []
    facts, watermark, worker = replica(service_name, database, amqp_uri,
                                       lambda event, context: handled.append(event))
    try:
        watermark.wait_until_recorded(time.time())
        assert handled == [] and database["processed"].count_documents({}) == 0
        assert facts.metrics.messages_parked.labels(service_name, "entitlement-facts")._value.get() == 0
    finally:
        facts.stop()
        worker.wait()
