"""Every route through real HTTP, with the answers http-api.md promises."""

from __future__ import annotations

import requests

from services.gateway.routes import ROUTES
from tests.conftest import wait_for

from .conftest import application, assert_error, registration, unique_digits


def test_a_cooperative_from_registration_to_dissolution(stack, world):
    body = registration(
        unique_digits(16),
        name="Kopontren Al-Hikmah",
        kind="produsen",
        regency="kabupaten-garut",
        is_pesantren=True,
        bylaws={"pokok_amount": 50000, "wajib_amount": 10000, "quorum_percent": 60},
    )
    created = stack.call("POST", "/cooperatives", world.admin, body)
    assert created.status_code == 201, created.text
    profile = created.json()
    assert profile["id"] and profile["status"] == "active" and profile["is_pesantren"] is True
    assert profile["bylaws"] == body["bylaws"]
    assert set(profile["health"]) == {"active", "rat_compliant", "reporting_online", "healthy"}
    fetched = stack.call("GET", f"/cooperatives/{profile['id']}", world.admin)
    assert fetched.status_code == 200 and fetched.json()["registration_number"] == body["registration_number"]
    dissolved = stack.call("POST", f"/cooperatives/{profile['id']}/dissolve", world.admin)
    assert dissolved.status_code == 200 and dissolved.json()["status"] == "dissolved"
    assert_error(stack.call("POST", f"/cooperatives/{profile['id']}/dissolve", world.admin), 409, "conflict")
    board = stack.token("coop_admin", cooperative_id=profile["id"])
    refused = stack.call(
        "POST", f"/cooperatives/{profile['id']}/members", board, application(unique_digits(16))
    )
    assert_error(refused, 422, "cooperative_dissolved")


def test_bylaws_have_defaults_and_pesantren_is_optional(stack, world):
    body = registration(unique_digits(16))
    del body["is_pesantren"]
    profile = stack.call("POST", "/cooperatives", world.admin, body).json()
    assert profile["is_pesantren"] is False
    assert set(profile["bylaws"]) == {"pokok_amount", "wajib_amount", "quorum_percent"}


def test_a_member_through_every_state(stack, world):
    board = world.board_a
    applied = stack.call("POST", f"/cooperatives/{world.a}/members", board, application(unique_digits(16)))
    assert applied.status_code == 201, applied.text
    member = applied.json()
    assert (member["status"], member["cooperative_id"]) == ("applied", world.a)
    path = f"/cooperatives/{world.a}/members/{member['id']}"
    for action, status in [
        ("admit", "admitted"),
        ("suspend", "suspended"),
        ("reinstate", "admitted"),
        ("suspend", "suspended"),
        ("exit", "exited"),
    ]:
        answer = stack.call(
            "POST", f"{path}/{action}", board, {"date": "2024-06-01"} if action == "admit" else None
        )
        assert (answer.status_code, answer.json()["status"]) == (200, status), answer.text
    wait_for(lambda: stack.call("GET", path, board).json()["status"] == "exited", what="the read model")
    assert_error(stack.call("POST", f"{path}/admit", board), 422, "illegal_transition")


def test_lists_page_with_limit_and_cursor(stack, world):
    for _ in range(3):
        world.apply(world.b)

    def every_page() -> list[list[str]]:
        pages, cursor = [], None
        while True:
            query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = stack.call("GET", f"/cooperatives/{world.b}/members", world.board_b, params=query)
            assert page.status_code == 200, page.text
            body = page.json()
            assert set(body) == {"items", "next"} and len(body["items"]) <= 2
            pages.append([member["id"] for member in body["items"]])
            cursor = body["next"]
            if cursor is None:
                return pages

    pages = wait_for(lambda: (lambda p: p if sum(map(len, p)) >= 4 else None)(every_page()), what="4 members")
    seen = [member for page in pages for member in page]
    assert len(seen) == len(set(seen)) and len(pages) >= 2
    applied = stack.call(
        "GET", f"/cooperatives/{world.b}/members", world.board_b, params={"status": "applied"}
    )
    assert {m["status"] for m in applied.json()["items"]} == {"applied"}


def test_cooperative_filters_and_own_cooperative_scope(stack, world):
    everything = stack.call("GET", "/cooperatives", world.admin, params={"limit": 200}).json()["items"]
    assert {world.a, world.b} <= {c["id"] for c in everything}
    garut = stack.call(
        "GET", "/cooperatives", world.admin, params={"regency": "kabupaten-garut", "limit": 200}
    )
    assert {c["regency"] for c in garut.json()["items"]} <= {"kabupaten-garut"}
    for params in [{"kind": "ksp"}, {"status": "active"}, {"healthy": "false"}]:
        listed = stack.call("GET", "/cooperatives", world.admin, params={**params, "limit": 200})
        assert listed.status_code == 200, listed.text
    for who in ("coop_admin_a", "member_a1"):
        own = stack.call("GET", "/cooperatives", world.tokens[who]).json()
        assert [c["id"] for c in own["items"]] == [world.a]


def test_an_annual_meeting_and_the_network_view(stack, world):
    cooperative = world.register(regency="kota-tasikmalaya", kind="kspps")["id"]
    members = [world.apply(cooperative)["id"] for _ in range(3)]
    for member in members:
        world.act(cooperative, member, "admit", {"date": "2024-06-01"})  # admitted when the RAT was held
    board = stack.token("coop_admin", cooperative_id=cooperative)
    meeting = {
        "fiscal_year": 2024,
        "held_on": "2025-03-15",
        "attendees": 1,
        "shu_allocation": {
            "reserve": 40,
            "jasa_modal": 20,
            "jasa_usaha": 25,
            "board": 5,
            "staff": 5,
            "education": 3,
            "social": 2,
        },
    }
    assert_error(
        stack.call("POST", f"/cooperatives/{cooperative}/annual-meetings", board, meeting),
        422,
        "quorum_not_reached",
    )
    held = stack.call(
        "POST", f"/cooperatives/{cooperative}/annual-meetings", board, {**meeting, "attendees": 2}
    )
    assert held.status_code == 201, held.text
    assert held.json()["quorum_reached"] is True and held.json()["admitted_members"] == 3
    assert held.json()["shu_allocation"] == meeting["shu_allocation"]
    health = stack.call("GET", "/network/health", world.admin)
    assert health.status_code == 200
    rows = {(row["regency"], row["kind"]): row for row in health.json()["items"]}
    assert rows[("kota-tasikmalaya", "kspps")]["registered"] >= 1


def test_not_found_validation_and_duplicates(stack, world):
    assert_error(stack.call("GET", "/cooperatives/no-such-cooperative", world.admin), 404, "not_found")
    assert_error(
        stack.call("GET", f"/cooperatives/{world.a}/members/no-such-member", world.board_a), 404, "not_found"
    )
    assert_error(
        stack.call("POST", f"/cooperatives/{world.a}/members/no-such-member/admit", world.board_a),
        404,
        "not_found",
    )
    bad = assert_error(
        stack.call("POST", f"/cooperatives/{world.a}/members", world.board_a, application("12345")),
        400,
        "validation_error",
    )
    assert "nik" in bad["fields"]
    bad = assert_error(
        stack.call("POST", "/cooperatives", world.admin, registration("1234567890", regency="mars")),
        400,
        "validation_error",
    )
    assert "regency" in bad["fields"]
    body = registration(unique_digits(16))
    assert stack.call("POST", "/cooperatives", world.admin, body).status_code == 201
    assert_error(stack.call("POST", "/cooperatives", world.admin, body), 409, "conflict")
    for params in [{"limit": 0}, {"limit": 201}, {"limit": "x"}, {"kind": "bank"}, {"cursor": ""}]:
        bad = assert_error(
            stack.call("GET", "/cooperatives", world.admin, params=params), 400, "validation_error"
        )
        assert set(bad["fields"]) == set(params)


def test_unknown_paths_and_methods_answer_in_the_error_format(stack, world):
    assert_error(stack.call("GET", "/nothing-here", world.admin), 404, "not_found")
    assert_error(requests.get(stack.base.replace("/api/v1", "/"), timeout=5), 404, "not_found")
    answer = assert_error(stack.call("DELETE", "/cooperatives", world.admin), 405, "method_not_allowed")
    assert "POST" in answer["message"]


def test_the_openapi_document_lists_every_route_without_a_token(stack):
    answer = stack.call("GET", "/openapi.json")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    document = answer.json()
    assert document["openapi"].startswith("3.")
    listed = {
        (path, method.upper()) for path, operations in document["paths"].items() for method in operations
    }
    assert {("/api/v1" + route.path, route.method) for route in ROUTES.values()} | {
        ("/api/v1/openapi.json", "GET")
    } == listed
    assert "bearerAuth" in document["components"]["securitySchemes"]
    assert "Error" in document["components"]["schemas"]


def test_metrics_health_and_readiness(stack, world):
    stack.call("GET", f"/cooperatives/{world.a}", world.admin)
    metrics = requests.get(f"http://127.0.0.1:{stack.metrics_port}/metrics", timeout=5).text
    assert (
        'kopnet_http_requests_total{method="GET",route="/api/v1/cooperatives/{cooperative_id}",'
        'service="gateway",status="200"}'
    ) in metrics
    assert "kopnet_http_request_duration_seconds_bucket" in metrics
    assert requests.get(f"http://127.0.0.1:{stack.metrics_port}/health", timeout=5).json() == {
        "status": "alive"
    }
    assert requests.get(f"http://127.0.0.1:{stack.metrics_port}/ready", timeout=5).json()["ready"] is True
