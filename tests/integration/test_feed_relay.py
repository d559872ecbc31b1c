"""The partner feed store and relay over the real store and broker: concurrent writers keep each
feed gap-free and each event once; a crash between store and publish, or between publish and
checkpoint, loses nothing and never gives one position two events."""
from __future__ import annotations

import threading
import uuid

import pytest

from services.feed.feedstore import FeedStore
from services.feed.partner_relay import PartnerFeedRelay
from tests.conftest import wait_for
from tests.integration.feed_support import envelope
from tests.integration.test_feed_service import queue_contents


def test_two_writers_keep_a_feed_gap_free_and_each_event_once(database):
    partner = f"p{uuid.uuid4().hex[:8]}"
    events = [envelope("ledger.X", {}, "c") for _ in range(30)]
    writers = [FeedStore(database), FeedStore(database)]  # two processes' stores

    def write(store: FeedStore) -> None:
        for event in events:
            store.append(partner, event)

    threads = [threading.Thread(target=write, args=(store,)) for store in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = writers[0].read(partner, 0, 500)
    assert [e["feed_position"] for e in entries] == list(range(1, 31))
    assert sorted(e["event_id"] for e in entries) == sorted(e.event_id for e in events)
    assert writers[1].append(partner, events[0]).duplicate


class Crash(Exception):
    pass


def test_crash_before_publish_and_before_checkpoint_lose_nothing(database, amqp_uri):
    partner = f"p{uuid.uuid4().hex[:8]}"
    store = FeedStore(database)
    for _ in range(5):  # stored; the process dies before its relay published them
        store.append(partner, envelope("ledger.X", {}, "c"))

    crashing = PartnerFeedRelay(FeedStore(database), database, amqp_uri, idle_wait=0.05)

    def crash(partner_id, entries):
        raise Crash("killed between publish and checkpoint")

    crashing.after_publish = crash  # type: ignore[method-assign]
    run = threading.Thread(target=lambda: pytest.raises(Crash, crashing._hold_lock_and_relay))
    run.start()
    run.join(timeout=30)
    restarted = PartnerFeedRelay(FeedStore(database), database, amqp_uri, idle_wait=0.05)
    thread = threading.Thread(target=restarted.run)
    thread.start()
    try:
        store.append(partner, envelope("ledger.X", {}, "c"))
        messages = wait_for(lambda: (m := queue_contents(amqp_uri, f"partner.{partner}")) and
                            {b["body"]["feed_position"] for b in m} == set(range(1, 7)) and m,
                            timeout=30, what="all six on the queue")
    finally:
        restarted.stop()
        thread.join(timeout=10)
    by_position: dict[int, set[str]] = {}
    for message in messages:
        by_position.setdefault(message["body"]["feed_position"], set()).add(message["body"]["event_id"])
    assert len(messages) > 6  # the crashed relay's five were published, then published again
    assert all(len(ids) == 1 for ids in by_position.values())  # a repeat is the same event
    replayed = {e["feed_position"]: e["event_id"] for e in store.read(partner, 0, 100)}
    assert {p: ids.pop() for p, ids in by_position.items()} == replayed
