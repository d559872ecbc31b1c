"""The feed service in a real nameko container over the real broker and store: events published in
the contract's shape are decided, fed to each entitled partner, relayed to its queue, replayed;
credentials let a partner read its own queue and nothing else."""
from __future__ import annotations

import json
import urllib.parse
import uuid

import kombu
import pika
import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from services.feed.service import FeedKernelProvider
from shared.aggregate import DomainError
from shared.eventstore import connect
from tests.conftest import AMQP_URI, MONGODB_URI, wait_for
from tests.integration.feed_support import (
    FeedHandle,
    at,
    envelope,
    feed_config,
    isolated_feed_class,
    management_status,
)

SETTLE = 1.0  # seconds an event waits before it is decided (production: 2)


@pytest.fixture(scope="module")
def feed():
    name = f"feed_{uuid.uuid4().hex[:8]}"
    prefix = f"test_{uuid.uuid4().hex[:8]}"
    config = feed_config(AMQP_URI, MONGODB_URI, prefix, SETTLE)
    container = ServiceContainer(isolated_feed_class(name), config)
    container.start()
    kernel = next(d for d in container.dependencies if isinstance(d, FeedKernelProvider)).kernel
    wait_for(lambda: all(s.ready.is_set() for s in kernel.subscribers), what="subscriptions declared")
    with ClusterRpcProxy(config, timeout=30) as cluster:
        handle = FeedHandle(name, config, kernel, getattr(cluster, name))
        try:
            yield handle
        finally:
            handle.remove_users()
    container.stop()
    connect(MONGODB_URI, f"{prefix}_feed").client.drop_database(f"{prefix}_feed")


def contract_applied(coop: str, contract: str, funder: str | None, guarantor: str | None, **options):
    return envelope("financing.ContractApplied", {
        "contract_id": contract, "cooperative_id": coop, "member_id": "m1", "product": "murabahah",
        "terms": {"cost": 1000, "margin": 100, "tenor_months": 2, "first_due_on": "2026-05-01", "late_fee": 0},
        "partner_id": funder, "applied_on": "2026-04-01",
        "guarantee": {"partner_id": guarantor, "coverage_percent": 70, "fee": 10} if guarantor else None},
        coop, stream_type="Contract", stream_id=contract, **options)


def partnership(kind: str, partnership_id: str, coop: str, partner: str, feed_entitled: bool = True, **options):
    parties = [{"cooperative_id": coop}, {"partner_id": partner}]
    payload = {"partnership_id": partnership_id, "parties": parties, "feed_entitled": feed_entitled,
               **({"activated_on": "2026-04-01"} if kind == "Activated" else {"ended_on": "2026-04-02"})}
    return envelope(f"networking.Partnership{kind}", payload, None, stream_type="Partnership",
                    stream_id=partnership_id, **options)


def coop_event(coop: str, **options):
    return envelope("ledger.JournalEntryPosted", {"cooperative_id": coop, "entry_id": str(uuid.uuid4())},
                    coop, **options)


def test_entitlement_matrix_and_boundaries(feed):
    funder, guarantor, member, ended, unrelated, unentitled = (feed.partner() for _ in range(6))
    coop, other_coop, contract = (str(uuid.uuid4()) for _ in range(3))
    ps_member, ps_ended, ps_unentitled = (str(uuid.uuid4()) for _ in range(3))
    feed.publish(envelope("financing.PartnerRegistered", {"partner_id": funder, "name": "BSI", "kind": "bank_syariah"}))

    # the partnerships: one active, one that ends, one not feed_entitled; an event of the cooperative
    # that happened before any of them began, reaching the feed only now
    before = coop_event(coop, occurred_at=at(-60))
    feed.publish(partnership("Activated", ps_member, coop, member, occurred_at=at(-30)),
                 partnership("Activated", ps_ended, coop, ended, occurred_at=at(-30)),
                 partnership("Activated", ps_unentitled, coop, unentitled, feed_entitled=False,
                             occurred_at=at(-30)))
    feed.wait_opened(coop, member, ended)
    applied = contract_applied(coop, contract, funder, guarantor, occurred_at=at(-20))
    inside_ended = coop_event(coop, occurred_at=at(-10))  # reaches the feed after the end below
    end_instant = at(-5)
    # an event after the end, sent before the end itself: the settle delay lets the end be recorded first
    after_end = coop_event(coop)
    feed.publish(applied, before, after_end)
    feed.publish(partnership("Ended", ps_ended, coop, ended, occurred_at=end_instant), inside_ended)
    approved = envelope("financing.ContractApproved", {"contract_id": contract, "cooperative_id": coop},
                        coop, stream_type="Contract", stream_id=contract)
    elsewhere = coop_event(other_coop)
    marker = coop_event(coop)
    feed.publish(approved, elsewhere, marker)
    wait_for(lambda: marker.event_id in feed.replay_ids(member), timeout=30, what="the marker fed")
    wait_for(lambda: approved.event_id in feed.replay_ids(funder), timeout=30, what="the contract fed")

    ids = {name: feed.replay_ids(partner) for name, partner in [
        ("funder", funder), ("guarantor", guarantor), ("member", member), ("ended", ended),
        ("unrelated", unrelated), ("unentitled", unentitled)]}
    contract_events = [applied.event_id, approved.event_id]
    assert ids["funder"] == ids["guarantor"] == contract_events
    assert ids["member"] == [applied.event_id, after_end.event_id, inside_ended.event_id, approved.event_id,
                             marker.event_id]
    assert ids["ended"] == [applied.event_id, inside_ended.event_id]
    assert ids["unrelated"] == ids["unentitled"] == []
    for name, partner in [("unrelated", unrelated), ("unentitled", unentitled)]:
        assert feed.parts.store.head(partner) == 0, name


def test_an_activation_that_arrives_after_the_event_within_the_settle_delay_still_opens_it(feed):
    partner, coop, ps = feed.partner(), str(uuid.uuid4()), str(uuid.uuid4())
    early = coop_event(coop)  # happened after the activation below, reaches the feed before it
    activation = partnership("Activated", ps, coop, partner, occurred_at=at(-0.5))
    feed.publish(early)
    feed.publish(activation)
    wait_for(lambda: feed.replay_ids(partner) == [early.event_id], timeout=30, what="the early event fed")


def test_a_redelivered_event_is_fed_once_and_replay_pages_with_next(feed):
    partner, coop, ps = feed.partner(), str(uuid.uuid4()), str(uuid.uuid4())
    feed.publish(partnership("Activated", ps, coop, partner, occurred_at=at(-60)))
    feed.wait_opened(coop, partner)
    events = [coop_event(coop, occurred_at=at(-50 + i)) for i in range(5)]
    feed.publish(*events, events[2], events[0])
    last = coop_event(coop)
    feed.publish(last)
    expected = {e.event_id for e in [*events, last]}
    # all six fed (one may be retried after the others on a busy machine, so not by arrival order)
    wait_for(lambda: expected <= set(feed.replay_ids(partner)), timeout=30, what="fed")
    first = feed.rpc.replay(partner, 0, 2)
    assert [i["feed_position"] for i in first["items"]] == [1, 2] and first["next"] == 2
    rest = feed.rpc.replay(partner, first["next"], 100)
    assert [i["feed_position"] for i in rest["items"]] == [3, 4, 5, 6] and rest["next"] == 6
    assert feed.rpc.replay(partner, 6, 100) == {"items": [], "next": 6}
    fed = [i["event_id"] for i in first["items"] + rest["items"]]
    assert sorted(fed) == sorted(expected), "each event once, the redelivered ones too"


def queue_contents(amqp_uri: str, queue: str) -> list[dict]:
    """Everything on `queue`, read without removing it."""
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        found, tags = [], []
        while (message := channel.basic_get(queue, no_ack=False)) is not None:
            tags.append(message.delivery_tag)
            found.append({"body": json.loads(message.body), "properties": message.properties})
        for tag in tags:
            channel.basic_reject(tag, requeue=True)
    return found


def test_queue_carries_what_replay_reads_persistent_and_in_order(feed, amqp_uri):
    partner, coop, ps = feed.partner(), str(uuid.uuid4()), str(uuid.uuid4())
    feed.rpc.issue_credentials(partner)  # declares the queue
    feed.publish(partnership("Activated", ps, coop, partner, occurred_at=at(-60)))
    feed.wait_opened(coop, partner)
    feed.publish(*[coop_event(coop, occurred_at=at(-40 + i)) for i in range(6)])
    wait_for(lambda: len(feed.replay_ids(partner)) == 6, timeout=30, what="six fed")
    replayed = feed.rpc.replay(partner, 0, 100)["items"]
    messages = wait_for(lambda: (m := queue_contents(amqp_uri, f"partner.{partner}")) and len(m) >= 6 and m,
                        timeout=30, what="six on the queue")
    assert [m["body"] for m in messages] == replayed
    assert all(m["properties"]["delivery_mode"] == 2 for m in messages)
    assert [m["body"]["feed_position"] for m in messages] == [1, 2, 3, 4, 5, 6]


def connect_as(uri: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(uri))


def refused(action) -> int:
    """The AMQP reply code a broker answers `action` with (403: access refused)."""
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
        action()
    return closed.value.reply_code


def test_credentials_read_their_own_queue_only(feed, amqp_uri):
    mine, theirs = feed.partner(), feed.partner()
    access = feed.rpc.issue_credentials(mine)["feed"]
    feed.rpc.issue_credentials(theirs)
    assert access["queue"] == f"partner.{mine}"
    parsed = urllib.parse.urlsplit(access["amqp_uri"])
    assert urllib.parse.unquote(parsed.path[1:]) == urllib.parse.unquote(urllib.parse.urlsplit(amqp_uri).path[1:])
    connection = connect_as(access["amqp_uri"])
    try:
        channel = connection.channel()
        # its own queue: allowed (as is purging it: RabbitMQ checks `read` for that, and whoever may
        # consume a queue may empty it anyway)
        channel.basic_consume(access["queue"], lambda *args: None)
        for action in [
            lambda c: c.basic_consume(f"partner.{theirs}", lambda *args: None),
            lambda c: c.basic_get(f"partner.{theirs}"),
            lambda c: c.queue_declare(f"partner.{mine}.extra", durable=True),
            lambda c: c.queue_declare("", exclusive=True),
            lambda c: c.exchange_declare("mine", "topic"),
            lambda c: c.queue_bind(access["queue"], "kopnet.events", "#"),
        ]:
            channel = connection.channel()
            assert refused(lambda a=action, c=channel: a(c)) == 403
        for exchange, key in [("kopnet.partner-feed", f"partner.{mine}"), ("kopnet.events", "ledger.X"),
                              ("", f"partner.{mine}"), ("amq.topic", "x")]:
            channel = connection.channel()
            channel.confirm_delivery()
            assert refused(lambda c=channel, e=exchange, k=key: c.basic_publish(e, k, b"{}")) == 403
    finally:
        if connection.is_open:
            connection.close()
    assert management_status(amqp_uri, urllib.parse.unquote(parsed.username or ""),
                             urllib.parse.unquote(parsed.password or "")) == 401


def test_rotation_closes_old_connections_and_the_old_password_stops_working(feed):
    partner = feed.partner()
    feed.publish(envelope("financing.PartnerRegistered", {"partner_id": partner, "name": "BPRS", "kind": "bprs"}))
    old = feed.rpc.issue_credentials(partner)["feed"]["amqp_uri"]
    connection = connect_as(old)
    new = wait_for(lambda: _rotated(feed, partner), what="the partner known to the feed")["feed"]["amqp_uri"]
    assert new != old
    wait_for(lambda: _closed(connection), what="the old connection closed by the broker")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect_as(old)
    connect_as(new).close()


def _rotated(feed, partner):
    try:
        return feed.rpc.rotate_credentials(partner)
    except DomainError as error:
        assert error.code == "not_found"
        return None


def _closed(connection: pika.BlockingConnection) -> bool:
    try:
        connection.process_data_events(time_limit=0.1)
    except pika.exceptions.AMQPConnectionError:
        return True
    return not connection.is_open


def test_rotating_an_unknown_partner_is_not_found(feed):
    with pytest.raises(DomainError) as unknown:
        feed.rpc.rotate_credentials(f"nobody{uuid.uuid4().hex[:6]}")
    assert unknown.value.code == "not_found"


def test_events_delivered_together_read_their_cooperatives_access_once_for_the_batch(feed):
    partner, coop, ps = feed.partner(), str(uuid.uuid4()), str(uuid.uuid4())
    feed.publish(partnership("Activated", ps, coop, partner, occurred_at=at(-60)))
    feed.wait_opened(coop, partner)
    application = feed.kernel.application
    reads: list[str] = []
    load = application.load

    def counted(cls, stream_id, **options):
        if stream_id == coop:
            reads.append(cls.__name__)
        return load(cls, stream_id, **options)

    application.load = counted
    try:
        events = [coop_event(coop) for _ in range(8)]
        feed.publish(*events)  # in one go: the first batch waits out the settle delay, the rest queue
        wait_for(lambda: set(feed.replay_ids(partner)) == {e.event_id for e in events}, timeout=30,
                 what="all 8 fed")
    finally:
        del application.load  # the instance attribute: the class's method again
    assert feed.replay_ids(partner) == [e.event_id for e in events], "each once, in the order they came"
    assert 1 <= reads.count("CooperativeAccess") < len(events), reads
