"""The shipped client (clients/partner_feed.py) end to end, against the real broker, the feed
service and the gateway: a partner offline while events happen reconnects and handles every
entitled event exactly once, in feed order; what it may not see never reaches it."""
from __future__ import annotations

import threading
import uuid

from clients.partner_feed import PartnerFeedClient, State
from tests.conftest import wait_for
from tests.integration.feed_support import at, envelope, publish


def test_offline_partner_catches_up_then_follows_its_queue_exactly_once_in_order(stack, tmp_path):
    partner, coop, stranger_coop = f"p{uuid.uuid4().hex[:10]}", str(uuid.uuid4()), str(uuid.uuid4())
    amqp_uri, admin = stack.env["AMQP_URI"], stack.token("network_admin")
    publish(amqp_uri, envelope("financing.PartnerRegistered", {"partner_id": partner, "name": "BSI",
                                                               "kind": "bank_syariah"}),
            envelope("networking.PartnershipActivated", {
                "partnership_id": str(uuid.uuid4()), "feed_entitled": True, "activated_on": "2026-04-01",
                "parties": [{"cooperative_id": coop}, {"partner_id": partner}]}, occurred_at=at(-60)))
    access = wait_for(lambda: (r := stack.call("POST", f"/partners/{partner}/feed-credentials", admin))
                      .status_code == 200 and r.json()["feed"], timeout=30, what="feed credentials")
    token = stack.token("partner", partner_id=partner)

    def events(count: int) -> list[str]:
        sent = [envelope("ledger.JournalEntryPosted", {"cooperative_id": coop}, coop) for _ in range(count)]
        publish(amqp_uri, *sent, envelope("ledger.JournalEntryPosted", {"cooperative_id": stranger_coop},
                                          stranger_coop))
        return [e.event_id for e in sent]

    def fed(count: int) -> None:
        wait_for(lambda: len(stack.call("GET", "/feed?limit=500", token).json()["items"]) >= count,
                 timeout=60, what=f"{count} events fed")

    handled: list[dict] = []
    state = tmp_path / "state.json"

    def client() -> PartnerFeedClient:
        return PartnerFeedClient(access["amqp_uri"], access["queue"], stack.base, token, State(state),
                                 handled.append)

    expected = events(3)
    fed(3)
    client().run(idle_exit=1.0)  # online: the replay, then the queue (its three are duplicates)
    assert [e["event_id"] for e in handled] == expected
    expected += events(4)  # offline: they wait on the queue and in the replay
    fed(7)
    client().run(idle_exit=1.0)
    assert [e["event_id"] for e in handled] == expected
    assert [e["feed_position"] for e in handled] == list(range(1, 8))
    assert {e["cooperative_id"] for e in handled} == {coop}
    following = threading.Thread(target=client().run, kwargs={"idle_exit": 8.0})
    following.start()  # online, following the queue: the replay has nothing yet when it starts
    expected += events(2)
    following.join(timeout=60)
    assert [e["event_id"] for e in handled] == expected
    assert State(state).position == 9
