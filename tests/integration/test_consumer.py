"""Event handlers fed by RabbitMQ: once per handler, retries without a hot loop, parking."""
from __future__ import annotations

import time

import amqp
import kombu
import pytest

from shared.broker import EVENTS_EXCHANGE, declare_events_exchange
from shared.consumer import Subscriber, Subscription, parked_messages
from shared.envelope import Envelope, new_id, utc_now
from tests.conftest import run_in_background, wait_for


def envelope(event_type: str = "bank.Deposited", amount: int = 1) -> Envelope:
    return Envelope(event_id=new_id(), event_type=event_type, schema_version=1, stream_type="Account",
                    stream_id="a1", stream_version=1, position=1, occurred_at=utc_now(),
                    cooperative_id="c1", correlation_id=new_id(), causation_id=None,
                    payload={"amount": amount})


def publish(amqp_uri: str, *bodies: bytes, routing_key: str = "bank.Deposited") -> None:
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        declare_events_exchange(channel)
        for body in bodies:
            channel.basic_publish(amqp.Message(body, delivery_mode=2), exchange=EVENTS_EXCHANGE,
                                  routing_key=routing_key)


def start(subscriber: Subscriber):
    worker = run_in_background(subscriber.run)
    wait_for(subscriber.ready.is_set, what="subscriber ready")
    return worker


def outcomes(subscriber: Subscriber, outcome: str) -> float:
    return subscriber.metrics.messages.labels(subscriber.service, subscriber.subscription.name,
                                              outcome)._value.get()


def test_a_redelivered_event_is_applied_once(database, amqp_uri, service_name):
    applied: list[str] = []
    subscriber = Subscriber(service_name, Subscription(
        "counter", ["bank.Deposited"], lambda event, context: applied.append(event.event_id)), database, amqp_uri)
    worker = start(subscriber)
    try:
        event = envelope()
        publish(amqp_uri, event.to_json(), event.to_json(), event.to_json())
        wait_for(lambda: outcomes(subscriber, "duplicate") == 2, what="two duplicates skipped")
        assert applied == [event.event_id]
        text = subscriber.metrics.exposition().decode()
        assert f'kopnet_handler_duration_seconds_count{{handler="counter",service="{service_name}"}} 1.0' in text
    finally:
        subscriber.stop()
        worker.wait()


def test_a_handler_idempotent_by_itself_runs_on_every_delivery_without_marks(database, amqp_uri, service_name):
    applied: list[str] = []
    subscriber = Subscriber(service_name, Subscription(
        "counter", ["bank.Deposited"], lambda event, context: applied.append(context.command_id),
        remember=False), database, amqp_uri)
    worker = start(subscriber)
    try:
        event = envelope()
        publish(amqp_uri, event.to_json(), event.to_json())
        wait_for(lambda: outcomes(subscriber, "applied") == 2, what="both deliveries handled")
        assert len(applied) == 2 and applied[0] == applied[1], "the same command id both times"
        assert database["processed"].count_documents({}) == 0
    finally:
        subscriber.stop()
        worker.wait()


def test_a_failing_handler_is_retried_later_then_succeeds(database, amqp_uri, service_name):
    calls: list[float] = []

    def flaky(event, context):
        import time

        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RuntimeError("store briefly unavailable")

    subscriber = Subscriber(service_name, Subscription(
        "flaky", ["bank.Deposited"], flaky, max_attempts=5, backoff_seconds=[0.3]), database, amqp_uri)
    worker = start(subscriber)
    try:
        publish(amqp_uri, envelope().to_json())
        wait_for(lambda: outcomes(subscriber, "applied") == 1, what="applied after retries")
        assert outcomes(subscriber, "retried") == 2
        gaps = [later - earlier for earlier, later in zip(calls, calls[1:])]
        assert all(gap >= 0.25 for gap in gaps), f"retries waited for the backoff, not a hot loop: {gaps}"
    finally:
        subscriber.stop()
        worker.wait()


def test_a_poisoned_message_is_parked_and_the_queue_goes_on(database, amqp_uri, service_name):
    good: list[int] = []

    def handler(event, context):
        if event.payload["amount"] == 13:
            raise ValueError("poisoned")
        good.append(event.payload["amount"])

    subscriber = Subscriber(service_name, Subscription(
        "picky", ["bank.Deposited"], handler, max_attempts=3, backoff_seconds=[0.05]), database, amqp_uri)
    worker = start(subscriber)
    try:
        publish(amqp_uri, envelope(amount=13).to_json(), b"not json at all", envelope(amount=7).to_json())
        wait_for(lambda: outcomes(subscriber, "parked") == 2, what="two messages parked")
        assert good == [7]
        assert outcomes(subscriber, "retried") == 2
        parked = parked_messages(amqp_uri, subscriber.queue)
        assert len(parked) == 2
        assert any("poisoned" in p["headers"]["x-kopnet-error"] for p in parked)
        assert subscriber.metrics.messages_parked.labels(service_name, "picky")._value.get() == 2
        text = subscriber.metrics.exposition().decode()
        assert f'kopnet_messages_parked{{handler="picky",service="{service_name}"}} 2.0' in text
    finally:
        subscriber.stop()
        worker.wait()


def test_a_barrier_is_handed_to_the_listeners_and_retried_after_an_outage(database, amqp_uri, service_name):
    from pymongo.errors import AutoReconnect

    from shared.consumer import barrier_message

    heard: list[str] = []

    def listener(token: str) -> None:
        heard.append(token)
        if len(heard) == 1:
            raise AutoReconnect("the store restarts")

    handled: list[str] = []
    subscriber = Subscriber(service_name, Subscription(
        "facts", ["bank.Deposited"], lambda event, context: handled.append(event.event_id),
        backoff_seconds=[0.2]), database, amqp_uri)
    subscriber.barrier_listeners.append(listener)
    worker = start(subscriber)
    try:
        with kombu.Connection(amqp_uri) as connection:
            connection.default_channel.basic_publish(barrier_message("b1"), exchange="",
                                                     routing_key=subscriber.queue)
        wait_for(lambda: heard == ["b1", "b1"], what="the barrier heard again after the outage")
        assert handled == [] and outcomes(subscriber, "retried") == 1
        assert subscriber.metrics.loop_failures.labels(service_name, "subscriber:facts")._value.get() == 0
    finally:
        subscriber.stop()
        worker.wait()


def batching(database, amqp_uri, service_name, batch, one_by_one: list[int], gather_seconds: float = 0.0,
             name: str = "batched"):
    """A started subscriber with `batch` as its batch handler; its handler notes each amount."""
    subscriber = Subscriber(service_name, Subscription(
        name, ["bank.Deposited"], lambda event, context: one_by_one.append(event.payload["amount"]),
        remember=False, batch_handler=batch, gather_seconds=gather_seconds), database, amqp_uri)
    return subscriber, start(subscriber)


@pytest.mark.parametrize("gather_seconds", [0.0, 3.0])
def test_a_batch_waits_its_gather_seconds_for_more_events(database, amqp_uri, service_name, gather_seconds):
    """Events published one after another, each once the last was delivered: without a gather
    window they are not all one batch; with one, the batch that starts with the first takes them
    all (membership's health records are stored so, a request for many)."""
    batches: list[list[int]] = []

    def batch(items):
        batches.append([event.payload["amount"] for event, _context in items])
        return [True] * len(items)

    subscriber, worker = batching(database, amqp_uri, service_name, batch, [], gather_seconds)
    try:
        with kombu.Connection(amqp_uri) as connection:
            channel = connection.channel()
            for n in range(1, 7):
                publish(amqp_uri, envelope(amount=n).to_json())
                # the next one only once the broker has handed this one to the subscriber
                wait_for(lambda: channel.queue_declare(subscriber.queue, passive=True).message_count == 0,
                         what=f"event {n} delivered")
        wait_for(lambda: sum(map(len, batches)) == 6, what="all 6 delivered")
        if gather_seconds:
            assert batches == [[1, 2, 3, 4, 5, 6]]
        else:
            assert len(batches) > 1 and sum(batches, []) == [1, 2, 3, 4, 5, 6], batches
    finally:
        subscriber.stop()
        worker.wait()


def test_a_batch_handler_gets_the_events_delivered_together_and_the_handler_what_it_left(
        database, amqp_uri, service_name):
    import threading

    batches: list[list[int]] = []
    one_by_one: list[int] = []
    release = threading.Event()

    def batch(items):
        release.wait(10)  # the first batch waits, so the others queue up behind it
        batches.append([event.payload["amount"] for event, _context in items])
        return [event.payload["amount"] % 2 == 0 for event, _context in items]

    subscriber, worker = batching(database, amqp_uri, service_name, batch, one_by_one)
    try:
        publish(amqp_uri, *[envelope(amount=n).to_json() for n in range(1, 21)])
        release.set()
        wait_for(lambda: outcomes(subscriber, "applied") == 20, what="all 20 handled")
        done_in_batches = sorted(n for sizes in batches for n in sizes if n % 2 == 0)
        assert done_in_batches == list(range(2, 21, 2))
        assert one_by_one == list(range(1, 21, 2)), "what a batch left goes one by one, in queue order"
        assert max(len(sizes) for sizes in batches) > 1, batches
    finally:
        subscriber.stop()
        worker.wait()


def test_a_failing_batch_handler_leaves_every_event_to_the_handler(database, amqp_uri, service_name):
    one_by_one: list[int] = []

    def batch(items):
        raise RuntimeError("the batch handler's bug")

    subscriber, worker = batching(database, amqp_uri, service_name, batch, one_by_one)
    try:
        publish(amqp_uri, *[envelope(amount=n).to_json() for n in range(1, 6)])
        wait_for(lambda: outcomes(subscriber, "applied") == 5, what="all 5 handled one by one")
        assert one_by_one == [1, 2, 3, 4, 5]
    finally:
        subscriber.stop()
        worker.wait()


def test_a_batch_handler_needs_a_handler_idempotent_by_itself():
    import pytest

    with pytest.raises(ValueError, match="remember=False"):
        Subscription("batched", ["bank.Deposited"], lambda event, context: None,
                     batch_handler=lambda items: [True] * len(items))
