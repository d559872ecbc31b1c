"""The Feed slice of the gateway with a fake feed: who may read and rotate, what the answers carry,
and the helper that gives POST /partners its feed access."""
from __future__ import annotations

import json
from typing import Any

from werkzeug.test import EnvironBuilder

from services.gateway.application import Gateway
from services.gateway.auth import Principal, sign
from services.gateway.feed_routes import PartnerRegistration, register_partner_with_feed
from services.gateway.routing import Call
from shared.aggregate import DomainError
from tests.unit.test_gateway_application import FakeKeys

SECRET = "unit-test-secret-that-is-32-bytes-or-more"
ITEM = {"event_id": "e1", "event_type": "ledger.JournalEntryPosted", "schema_version": 1,
        "stream_type": "Books", "stream_id": "c1", "stream_version": 1, "position": 9,
        "occurred_at": "2026-04-01T00:00:00.000Z", "cooperative_id": "c1", "correlation_id": "x",
        "causation_id": None, "payload": {"a": 1}, "feed_position": 1}
ACCESS = {"feed": {"amqp_uri": "amqp://kopnet-partner-p1:secret@broker:5672/%2F", "queue": "partner.p1"}}


class FakeFeed:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def replay(self, partner_id: str, after: int, limit: int) -> dict[str, Any]:
        self.calls.append(("replay", partner_id, after, limit))
        return {"items": [ITEM], "next": 1}

    def rotate_credentials(self, partner_id: str, context: dict) -> dict[str, Any]:
        self.calls.append(("rotate", partner_id))
        if partner_id == "unknown":
            raise DomainError("not_found", "partner unknown does not exist")
        return ACCESS

    def issue_credentials(self, partner_id: str, context: dict) -> dict[str, Any]:
        self.calls.append(("issue", partner_id))
        return ACCESS


def send(feed: FakeFeed, route: str, principal: Principal, method: str, query: dict | None = None,
         **path: str) -> tuple[int, Any]:
    builder = EnvironBuilder(method=method, path="/api/v1/x", query_string=query,
                             headers={"Authorization": f"Bearer {sign(principal, SECRET)}"})
    response = Gateway(SECRET, FakeKeys()).handle(builder.get_request(), route, feed, **path)
    return response.status_code, json.loads(response.get_data())


def test_a_partner_reads_its_own_feed_only_the_id_comes_from_its_token():
    feed = FakeFeed()
    status, body = send(feed, "read_feed", Principal("partner", partner_id="p1"), "GET",
                        {"after": "0", "limit": "50"})
    assert (status, body) == (200, {"items": [ITEM], "next": 1})
    assert feed.calls == [("replay", "p1", 0, 50)]


def test_only_partners_read_a_feed_and_limits_are_checked():
    for principal in [Principal("network_admin"), Principal("coop_admin", cooperative_id="c1")]:
        assert send(FakeFeed(), "read_feed", principal, "GET")[0] == 403
    status, body = send(FakeFeed(), "read_feed", Principal("partner", partner_id="p1"), "GET", {"limit": "501"})
    assert status == 400 and "limit" in body["error"]["fields"]


def test_rotation_is_the_network_admins_and_answers_the_new_access():
    feed = FakeFeed()
    assert send(feed, "rotate_feed_credentials", Principal("network_admin"), "POST", partner_id="p1") == (
        200, ACCESS)
    assert send(feed, "rotate_feed_credentials", Principal("partner", partner_id="p1"), "POST",
                partner_id="p1")[0] == 403
    assert send(feed, "rotate_feed_credentials", Principal("network_admin"), "POST",
                partner_id="unknown")[0] == 404


class FakeFinancing:
    def register_partner(self, body: dict, context: dict) -> dict[str, Any]:
        return {"id": "p1", **body}


def test_registration_answer_gains_the_feed_access_of_the_new_partner():
    feed = FakeFeed()
    run = register_partner_with_feed(lambda rpc, c: rpc.register_partner(c.body, c.context))
    call = Call(Principal("network_admin"), {}, {}, {"name": "BSI", "kind": "bank_syariah"}, {"command_id": "c"})
    answer = run(PartnerRegistration(FakeFinancing(), feed), call)
    assert answer == {"id": "p1", "name": "BSI", "kind": "bank_syariah", **ACCESS}
    assert feed.calls == [("issue", "p1")]
