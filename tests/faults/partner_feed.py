"""The partner feed under faults: a partner funds one of the workload's contracts, so every
payment on it is an event the partner is entitled to; the feed is killed between store and
publish (and lives through the other faults); afterwards its queue and GET /feed must agree.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import pika

from services.feed.feedstore import FeedStore
from tests.conftest import wait_for

from .conftest import FaultStack

VARIANT = "tests.support.pausable_feed.service"


class PartnerFeed:
    """A partner registered through POST /partners, with the feed access it was answered."""

    def __init__(self, stack: FaultStack):
        self.stack = stack
        answer = stack.call("POST", "/partners", stack.token("network_admin"),
                            {"name": "Bank Syariah Uji", "kind": "bank_syariah"})
        assert answer.status_code == 201, answer.text
        self.id: str = answer.json()["id"]
        self.access: dict[str, str] = answer.json()["feed"]
        self.token = stack.token("partner", partner_id=self.id)
        self.funding = {"partner_id": self.id, "partner_share_percent": 40}
        self.contract: str | None = None  # the one it funds (set by the test)
        self.summary: dict[str, int] = {}

    def head(self) -> int:
        """The last feed_position stored for the partner (the feed store's own view)."""
        entries: list[dict[str, Any]] = []
        after = 0
        store = FeedStore(self.stack.database("feed"))
        while page := store.read(self.id, after, 500):
            entries, after = page, page[-1]["feed_position"]
        return entries[-1]["feed_position"] if entries else 0

    def kill_between_store_and_publish(self) -> None:
        """kill -9 the feed, run it with its relay held until it stored entries it never published
        (payments on the funded contract keep coming), kill -9 that one, start the real feed."""
        pause = self.stack.env["KOPNET_RELAY_PAUSE_FILE"]
        open(pause, "w").close()
        self.stack.kill("feed")
        before = self.head()  # what the killed feed stored; the held one publishes nothing after it
        self.stack.start(VARIANT)
        held = wait_for(lambda: (h := self.head()) >= before + 3 and h, timeout=90, interval=0.5,
                        what="the held feed storing entries it does not publish")
        print(f"[faults] feed held: positions {before + 1}..{held} stored, not published", flush=True)
        self.stack.kill(VARIANT)
        os.unlink(pause)
        self.stack.start("feed")

    # -- after recovery ----------------------------------------------------------------------------
    def replay(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        after = 0
        while page := self.stack.call("GET", f"/feed?after={after}&limit=200", self.token).json()["items"]:
            items += page
            after = page[-1]["feed_position"]
        return items

    def queued(self) -> list[dict[str, Any]]:
        """Every message on the partner's queue, read with its own credentials (not acknowledged:
        closing the connection puts them back)."""
        connection = pika.BlockingConnection(pika.URLParameters(self.access["amqp_uri"]))
        try:
            channel = connection.channel()
            bodies: list[dict[str, Any]] = []
            while (message := channel.basic_get(self.access["queue"]))[0] is not None:
                bodies.append(json.loads(message[2]))
            return bodies
        finally:
            connection.close()

    def problems(self) -> list[str]:
        found = []
        financing = self.stack.database("financing")["commits"].find({"end": {"$gte": 1}})
        entitled = {e["event_id"] for c in financing for e in c["events"]
                    if e["payload"].get("contract_id") == self.contract}
        replayed = self.replay()
        positions = [e["feed_position"] for e in replayed]
        if positions != list(range(1, len(replayed) + 1)):
            found.append(f"GET /feed positions are not 1..{len(replayed)}: {positions[:20]}...")
        once = Counter(e["event_id"] for e in replayed)
        if [i for i, n in once.items() if n > 1]:
            found.append(f"GET /feed has events twice: {[i for i, n in once.items() if n > 1][:5]}")
        if set(once) != entitled:
            found.append(f"GET /feed: {len(set(once) & entitled)} of {len(entitled)} entitled events, "
                         f"{len(set(once) - entitled)} not entitled")
        # the relay is at least once (a crash after publish re-sends the same entry): a position
        # may come twice on the queue, never with two events, and nothing may miss
        queued: dict[int, set[str]] = {}
        messages = self.queued()
        for message in messages:
            queued.setdefault(message["feed_position"], set()).add(message["event_id"])
        if two := [p for p, ids in queued.items() if len(ids) > 1]:
            found.append(f"queue: positions with two events {two[:10]}")
        replayed_at = {e["feed_position"]: {e["event_id"]} for e in replayed}
        if queued != replayed_at:
            found.append(f"queue holds {len(queued)} positions ({sorted(set(queued) - set(replayed_at))[:5]} "
                         f"not in GET /feed, {sorted(set(replayed_at) - set(queued))[:5]} missing), "
                         f"GET /feed 1..{len(replayed)}")
        self.summary.update(feed_entitled_events=len(entitled), feed_replayed=len(replayed),
                            feed_queue_messages=len(messages))  # more than replayed: re-sent ones
        return found
