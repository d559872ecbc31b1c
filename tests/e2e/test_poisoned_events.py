"""A poisoned message on a real service's queue (membership's `health-record` subscription, which
takes the ledger's events): parked in `<queue>.parked`, and the queue goes on to apply the next
event. The kernel's own retry-then-park sequence with backoff is in
tests/integration/test_consumer.py; here each poisoned message fails for good at once (unreadable),
or fails on what is already its last try (the attempts header says four were made before)."""

from __future__ import annotations

import json

import amqp
import kombu

from shared.broker import EVENTS_EXCHANGE
from shared.consumer import ATTEMPTS_HEADER, parked_messages
from shared.envelope import Envelope, new_id, utc_now
from tests.conftest import wait_for

QUEUE = "membership.health-record"


def event(cooperative_id: str, occurred_at: str | None = None, **payload) -> Envelope:
    return Envelope(event_id=new_id(), event_type="ledger.JournalEntryPosted", schema_version=1,
                    stream_type="Books", stream_id=cooperative_id, stream_version=1, position=1,
                    occurred_at=occurred_at or utc_now(), cooperative_id=cooperative_id,
                    correlation_id=new_id(), causation_id=None, payload=payload)


def publish(amqp_uri: str, body: bytes, headers: dict | None = None) -> None:
    with kombu.Connection(amqp_uri) as connection:
        connection.channel().basic_publish(
            amqp.Message(body, delivery_mode=2, content_type="application/json",
                         application_headers=headers or {}),
            exchange=EVENTS_EXCHANGE, routing_key="ledger.JournalEntryPosted")


def test_poisoned_events_are_parked_and_a_later_event_is_still_applied(stack, world):
    amqp_uri = stack.env["AMQP_URI"]
    cooperative = world.register()["id"]  # no activity recorded yet: the valid event records one
    unreadable = b'{"event_id": "poison-1", "this is": "no envelope"'
    no_envelope = json.dumps({"event_id": "poison-2", "payload": {}}).encode()
    # a readable event whose handler fails every time (a posting without lines), on its last try
    failing = event(cooperative, occurred_at="not-a-date", business_activity=True)
    publish(amqp_uri, unreadable)
    publish(amqp_uri, no_envelope)
    publish(amqp_uri, failing.to_json(), {ATTEMPTS_HEADER: 4})
    valid = event(cooperative, business_activity=True, date=utc_now()[:10], entry_id=new_id(), kind="manual",
                  lines=[{"account": "1101", "debit": 1_000, "credit": 0},
                         {"account": "4101", "debit": 0, "credit": 1_000}])
    publish(amqp_uri, valid.to_json())

    commits = stack.database("membership")["commits"]

    def recorded() -> list[dict]:
        return [e["payload"] for commit in commits.find({"stream_id": cooperative}) for e in commit["events"]
                if e["payload"].get("source_event_id") in (valid.event_id, failing.event_id)]

    [applied] = wait_for(recorded, what="the valid event applied after the poisoned ones")
    assert applied["source_event_id"] == valid.event_id

    def parked() -> list[dict]:
        ours = ("poison-2", failing.event_id)
        return [p for p in parked_messages(amqp_uri, QUEUE) if p["body"] in (unreadable, unreadable.decode())
                or (isinstance(p["body"], dict) and p["body"].get("event_id") in ours)]

    found = wait_for(lambda: (lambda p: p if len(p) == 3 else None)(parked()), what="three messages parked")
    errors = sorted(p["headers"]["x-kopnet-error"][:40] for p in found)
    assert sum(e.startswith("unreadable event") for e in errors) == 2, errors
    [last_try] = [p for p in found if isinstance(p["body"], dict) and p["body"]["event_id"] != "poison-2"]
    assert last_try["headers"][ATTEMPTS_HEADER] == 4 and "Traceback" in last_try["headers"]["x-kopnet-error"]
    assert recorded() == [applied]  # the failing event stored nothing
