"""POST /partners through the real gateway, financing and feed: the answer carries the partner's
RabbitMQ access once; those credentials read the partner's queue and nothing else; a replay of
the Idempotency-Key answers without them and nothing of the gateway stores the password; an
event of a contract the partner funds reaches its queue and GET /feed at the same feed_position;
rotation through HTTP makes the old password fail at once."""
from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

import pika
import pika.exceptions
import pytest

from tests.conftest import wait_for

MURABAHAH = {"cost": 6_000_000, "margin": 600_000, "tenor_months": 2, "first_due_on": "2026-02-28",
             "late_fee": 10_000}
REFUSED = (pika.exceptions.ChannelClosedByBroker,)


def connect(amqp_uri: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(amqp_uri))


def password_of(amqp_uri: str) -> str:
    return unquote(urlsplit(amqp_uri).password or "")


def refused(amqp_uri: str, act: Any) -> int:
    """Runs `act(channel)` on a fresh channel; answers the broker's reply code when it closed the
    channel for it (403: access refused), and fails when the broker allowed it."""
    connection = connect(amqp_uri)
    try:
        channel = connection.channel()
        with pytest.raises(REFUSED) as closed:
            act(channel)
        return closed.value.reply_code
    finally:
        if connection.is_open:
            connection.close()


def drain(amqp_uri: str, queue: str) -> list[dict[str, Any]]:
    """Every message now on `queue` (requeued on close: the queue keeps them)."""
    connection = connect(amqp_uri)
    try:
        channel = connection.channel()
        bodies: list[dict[str, Any]] = []
        while True:
            method, _properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                return bodies
            bodies.append(json.loads(body))
    finally:
        connection.close()


def stored_documents(database) -> list[str]:
    return [json.dumps(doc, default=str) for name in database.list_collection_names()
            for doc in database[name].find()]


def test_registration_answers_feed_access_once_and_it_reads_only_the_partners_queue(stack, world):
    admin, key = world.admin, str(uuid.uuid4())
    body = {"name": "Bank Syariah Umpan", "kind": "bank_syariah"}
    first = stack.call("POST", "/partners", admin, body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    partner = first.json()
    bank = partner["id"]
    access = partner["feed"]
    assert set(access) == {"amqp_uri", "queue"} and access["queue"] == f"partner.{bank}"
    password = password_of(access["amqp_uri"])
    assert len(password) >= 32

    # the same key again: the same partner, and its access is not given a second time
    again = stack.call("POST", "/partners", admin, body, headers={"Idempotency-Key": key})
    assert again.status_code == 201, again.text
    assert again.json() == {key_: partner[key_] for key_ in ("id", "name", "kind")}
    # the gateway stored the answer (the replay came from it) but never the password; nor the feed
    gateway = stored_documents(stack.database("gateway"))
    assert any(bank in doc for doc in gateway), "the stored Idempotency-Key answer names the partner"
    assert not [doc for doc in gateway if password in doc]
    assert not [doc for doc in stored_documents(stack.database("feed")) if password in doc]

    # another partner's queue exists: the first partner's credentials may not read it
    other = stack.call("POST", "/partners", admin, {"name": "BPRS Lain", "kind": "bprs"})
    assert other.status_code == 201, other.text
    other_queue = other.json()["feed"]["queue"]
    uri = access["amqp_uri"]
    connection = connect(uri)  # its own queue: consuming is allowed
    try:
        channel = connection.channel()
        channel.basic_consume(access["queue"], lambda *_: None)
        channel.basic_cancel(channel.consumer_tags[0])
    finally:
        connection.close()
    assert refused(uri, lambda ch: ch.basic_consume(other_queue, lambda *_: None)) == 403
    assert refused(uri, lambda ch: ch.basic_get(other_queue)) == 403
    assert refused(uri, lambda ch: ch.queue_declare("")) == 403  # configures nothing
    assert refused(uri, lambda ch: ch.queue_declare(f"x.{uuid.uuid4().hex}")) == 403

    def publish(channel, exchange: str, routing_key: str) -> None:
        channel.confirm_delivery()  # a refused publish then fails here, not on a later call
        channel.basic_publish(exchange, routing_key, b"{}")

    assert refused(uri, lambda ch: publish(ch, "kopnet.partner-feed", access["queue"])) == 403
    assert refused(uri, lambda ch: publish(ch, "kopnet.events", "financing.X")) == 403
    assert refused(uri, lambda ch: publish(ch, "", access["queue"])) == 403  # the default exchange


def test_an_entitled_event_reaches_the_queue_and_the_replay_and_rotation_ends_the_old_password(
        stack, world):
    admin = world.admin
    answer = stack.call("POST", "/partners", admin, {"name": "Bank Pendana", "kind": "bank_syariah"})
    assert answer.status_code == 201, answer.text
    bank, access = answer.json()["id"], answer.json()["feed"]
    token = stack.token("partner", partner_id=bank)
    coop = world.register()["id"]
    board = stack.token("coop_admin", cooperative_id=coop)
    member = world.apply(coop)["id"]
    world.act(coop, member, "admit")

    def apply(**funding: Any) -> dict[str, Any]:
        body = {"member_id": member, "product": "murabahah", "terms": MURABAHAH, "applied_on": "2026-01-05",
                **funding}
        # financing learns of the admission from membership's events: asynchronous
        created = wait_for(lambda: (r := stack.call("POST", f"/cooperatives/{coop}/financing", board, body))
                           .status_code == 201 and r.json(), timeout=60, what="a contract applied for")
        return created  # type: ignore[return-value]

    unfunded = apply()  # the same cooperative, no partner: none of its events is the bank's
    funded = apply(partner_id=bank, partner_share_percent=40)
    for step in ("approve", "sign"):
        done = stack.call("POST", f"/cooperatives/{coop}/financing/{funded['id']}/{step}", board,
                          {"date": "2026-01-06"})
        assert done.status_code == 200, done.text

    def replayed() -> list[dict[str, Any]]:
        return stack.call("GET", "/feed?limit=500", token).json()["items"]

    fed = wait_for(lambda: (items := replayed()) and len(items) >= 3 and items, timeout=60,
                   what="the funded contract's three events in GET /feed")
    assert [e["event_type"] for e in fed] == ["financing.ContractApplied", "financing.ContractApproved",
                                              "financing.ContractSigned"]
    assert {e["payload"]["contract_id"] for e in fed} == {funded["id"]}
    assert unfunded["id"] not in json.dumps(fed)
    assert [e["feed_position"] for e in fed] == [1, 2, 3]
    queued = wait_for(lambda: (m := drain(access["amqp_uri"], access["queue"])) and len(m) >= 3 and m,
                      timeout=30, what="the three on the partner's queue")
    assert [(m["feed_position"], m["event_id"]) for m in queued] == \
        [(e["feed_position"], e["event_id"]) for e in fed]

    held = connect(access["amqp_uri"])  # open before the rotation: closed by it
    rotated = stack.call("POST", f"/partners/{bank}/feed-credentials", admin, {})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["feed"]
    assert new["queue"] == access["queue"] and password_of(new["amqp_uri"]) != password_of(access["amqp_uri"])
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect(access["amqp_uri"])

    def closed() -> bool:
        try:
            held.process_data_events(time_limit=0.2)
        except pika.exceptions.AMQPConnectionError:
            return True
        return not held.is_open

    wait_for(closed, timeout=30, what="the connection opened with the old password closed")
    assert len(drain(new["amqp_uri"], new["queue"])) == 3  # the new password reads the same queue
