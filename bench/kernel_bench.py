"""Kernel benchmarks: append, relay and rebuild, each against its raw baseline."""
from __future__ import annotations

import time
from collections.abc import Callable

import amqp
import kombu

from shared.broker import EVENTS_EXCHANGE, declare_events_exchange
from shared.eventstore import EventStore, NewEvent, connect
from shared.projection import rebuild
from shared.relay import OutboxRelay
from shared.store_scan import following
from tests.support.bankservice.projections import Balances
from tests.support.bankservice.schemas import registry

APPENDS = 3000
APPEND_ROUNDS = 12
RELAYED = 10000
PAD = "x" * 200


def _event(n: int) -> NewEvent:
    return NewEvent("bank.AccountOpened", {"cooperative_id": f"coop-{n % 50}", "owner": f"{n}{PAD}"})


def append_ratio(amqp_uri: str, mongodb_uri: str, run_id: str) -> dict:
    database = connect(mongodb_uri, f"bench_append_{run_id}")
    try:
        store = EventStore(database, registry)
        store.append("Account", "warmup", 0, [_event(0)])
        sample = database["commits"].find_one({"end": {"$gte": 1}})  # a commit, not an index entry
        raw = database["raw"]
        raw.insert_one({"_id": "warmup"})

        def raw_inserts(numbers: range) -> None:
            for n in numbers:
                raw.insert_one({**sample, "_id": f"raw-{n}"})

        def appends(numbers: range) -> None:
            for n in numbers:
                store.append("Account", f"s{n}", 0, [_event(n)])

        # Interleaved in blocks, each side first in every other round: the machine's speed changes
        # within minutes, and one side measured whole after the other carried that drift.
        seconds = {raw_inserts: 0.0, appends: 0.0}
        block = APPENDS // APPEND_ROUNDS
        for number in range(APPEND_ROUNDS):
            numbers = range(number * block, (number + 1) * block)
            for side in (raw_inserts, appends) if number % 2 == 0 else (appends, raw_inserts):
                started = time.perf_counter()
                side(numbers)
                seconds[side] += time.perf_counter() - started
        raw_rate, kernel_rate = APPENDS / seconds[raw_inserts], APPENDS / seconds[appends]
    finally:
        database.client.drop_database(database.name)
    return {
        "append_ratio": {"value": kernel_rate / raw_rate, "aim": ">= 0.6",
                         "detail": f"{kernel_rate:,.0f} appends/s vs raw insert_one {raw_rate:,.0f}/s, "
                                   f"interleaved in {APPEND_ROUNDS} rounds"},
        "append_per_s": {"value": kernel_rate, "detail": "one event per commit, many streams"},
    }


def _raw_publish_rate(amqp_uri: str, body: bytes, queue: str) -> float:
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        declare_events_exchange(channel)
        started = time.perf_counter()
        for _ in range(RELAYED):
            channel.basic_publish(amqp.Message(body, delivery_mode=2), exchange=EVENTS_EXCHANGE,
                                  routing_key="bench.Raw")
        # wait until the broker has taken every message, so the baseline is not just buffering
        while channel.queue_declare(queue, passive=True).message_count < RELAYED:
            time.sleep(0.01)
        return RELAYED / (time.perf_counter() - started)


def _confirm_each_rate(amqp_uri: str, body: bytes, count: int = 2000) -> float:
    """What nameko's EventDispatcher does: a persistent publish that waits for its confirm."""
    with kombu.Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        producer = kombu.Producer(connection.channel())
        started = time.perf_counter()
        for _ in range(count):
            producer.publish(body, exchange=EVENTS_EXCHANGE, routing_key="bench.Unbound", delivery_mode=2)
        return count / (time.perf_counter() - started)


def relay_ratio(amqp_uri: str, mongodb_uri: str, run_id: str) -> dict:
    database = connect(mongodb_uri, f"bench_relay_{run_id}")
    service = f"bench{run_id}"
    queue = f"bench.relay.{run_id}"
    try:
        store = EventStore(database, registry)
        for n in range(RELAYED):
            store.append("Account", f"s{n}", 0, [_event(n)])
        body = store.read_all(limit=1)[0].to_json()
        with kombu.Connection(amqp_uri) as connection:
            channel = connection.channel()
            declare_events_exchange(channel)
            channel.queue_declare(queue, durable=True, auto_delete=False)
            channel.queue_bind(queue, EVENTS_EXCHANGE, "bench.Raw")
            raw_rate = _raw_publish_rate(amqp_uri, body, queue)
            confirm_each_rate = _confirm_each_rate(amqp_uri, body)
            channel.queue_purge(queue)
            channel.queue_unbind(queue, EVENTS_EXCHANGE, "bench.Raw")
            channel.queue_bind(queue, EVENTS_EXCHANGE, "bank.*")
        # one cursor over the commits the relay reads, right before it (the relay reads two ranges
        # at a time, store_scan.chunks_from: it can outrun this)
        started = time.perf_counter()
        relays_query = following(0, at_commit_end=False)
        scanned = sum(len(document["events"]) for document in
                      database["commits"].find(relays_query).batch_size(1000))
        scan_rate = scanned / (time.perf_counter() - started)
        relay = OutboxRelay(EventStore(database, registry), amqp_uri, service)
        import eventlet

        started = time.perf_counter()
        worker = eventlet.spawn(relay.run)
        published = relay.metrics.events_published.labels(service)
        while published._value.get() < RELAYED:
            time.sleep(0.005)
        relay_rate = RELAYED / (time.perf_counter() - started)
        relay.stop()
        worker.wait()
        with kombu.Connection(amqp_uri) as connection:
            channel = connection.channel()
            delivered = channel.queue_declare(queue, passive=True).message_count
            channel.queue_delete(queue)
    finally:
        database.client.drop_database(database.name)
    return {
        "relay_events_per_s": {"value": relay_rate, "aim": ">= 5000",
                               "detail": f"{RELAYED:,} events read from the store, persistent, confirmed; "
                                         f"{delivered:,} in the queue"},
        "relay_ratio": {"value": relay_rate / raw_rate, "aim": ">= 0.3",
                        "detail": f"raw publish without confirms {raw_rate:,.0f}/s"},
        "relay_vs_confirm_each": {"value": relay_rate / confirm_each_rate,
                                  "detail": f"publish waiting for each confirm (as nameko's "
                                            f"EventDispatcher) {confirm_each_rate:,.0f}/s"},
        "relay_vs_store_scan": {"value": relay_rate / scan_rate,
                                "detail": f"one raw cursor over the same commits {scan_rate:,.0f} events/s "
                                          f"(the relay reads two ranges of them at a time)"},
    }


def _read_stream_ms(store: EventStore, stream_id: str, reads: int = 200) -> float:
    started = time.perf_counter()
    for _ in range(reads):
        store.read_stream("Account", stream_id)
    return (time.perf_counter() - started) / reads * 1000


def rebuild_ratio(amqp_uri: str, mongodb_uri: str, run_id: str) -> dict:
    """Also how reading one stream grows with the store (on FerretDB v1 any query but a lookup
    by _id scans every document; stream reads follow stream_index by _id)."""
    database = connect(mongodb_uri, f"bench_rebuild_{run_id}")
    try:
        store = EventStore(database, registry)
        store.append("Account", "probe", 0, [_event(0), *(NewEvent("bank.Deposited", {"amount": 1}),) * 4])
        for n in range(100):
            store.append("Account", f"s{n}", 0, [_event(n)])
        small_ms = _read_stream_ms(store, "probe")
        for n in range(100, RELAYED):
            store.append("Account", f"s{n}", 0, [_event(n)])
        large_ms = _read_stream_ms(store, "probe")
        started = time.perf_counter()
        scanned = sum(len(document["events"]) for document in  # the rebuild's own query
                      database["commits"].find(following(0, at_commit_end=False)))
        raw_rate = scanned / (time.perf_counter() - started)
        started = time.perf_counter()
        rebuilt = rebuild(store, Balances())
        rebuild_rate = rebuilt / (time.perf_counter() - started)
    finally:
        database.client.drop_database(database.name)
    rebuilt_detail = f"rebuild {rebuild_rate:,.0f} events/s vs raw cursor scan {raw_rate:,.0f}/s"
    growth_detail = (f"reading a 5-event stream among {RELAYED:,} commits {large_ms:.2f} ms "
                     f"vs among 101 commits {small_ms:.2f} ms")
    return {
        "rebuild_ratio": {"value": rebuild_rate / raw_rate, "aim": ">= 0.5", "detail": rebuilt_detail},
        "stream_read_growth": {"value": large_ms / small_ms, "aim": "<= 1.5", "detail": growth_detail},
    }


FIGURES: list[tuple[str, Callable[[str, str, str], dict]]] = [
    ("append_ratio", append_ratio),
    ("relay_ratio", relay_ratio),
    ("rebuild_ratio", rebuild_ratio),
]
