"""Authentication (401) and the role matrix (403) over HTTP: every role against every route."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.gateway.routes import ROUTES
from tests.conftest import wait_for

from .conftest import assert_error

EVERYONE_BUT_PARTNERS = {
    "network_admin",
    "coop_admin_a",
    "member_a1",
    "member_a2",
    "coop_admin_b",
    "member_b1",
}
ACTIONS = ["admit_member", "reject_member", "suspend_member", "reinstate_member", "exit_member",
           "correct_member"]
#: who may call each route on cooperative A and its member m1 (http-api.md, Membership)
MATRIX = {
    "register_cooperative": {"network_admin"},
    "list_cooperatives": EVERYONE_BUT_PARTNERS,
    "get_cooperative": {"network_admin", "coop_admin_a", "member_a1", "member_a2"},
    "dissolve_cooperative": {"network_admin"},
    "apply_member": {"coop_admin_a"},
    "list_members": {"coop_admin_a"},
    "get_member": {"coop_admin_a", "member_a1"},
    **{action: {"coop_admin_a"} for action in ACTIONS},
    "record_annual_meeting": {"coop_admin_a"},
    "correct_annual_meeting": {"coop_admin_a"},
    "network_health": {"network_admin"},
    "cooperative_health": {"network_admin", "coop_admin_a"},
    "network_dashboard": {"network_admin"},
}
#: routes read from a projection that learns of cooperative A from an event (eventually)
PROJECTED = {"cooperative_health"}
#: A body that fails validation: an allowed caller gets 400 (nothing changes), others 403.
INVALID_BODY = {"date": "not-a-date", "unexpected": True}
ROLES = ["network_admin", "coop_admin_a", "member_a1", "member_a2", "coop_admin_b", "member_b1", "partner"]


def test_the_matrix_covers_every_route():
    # the Ledger routes' matrix is in test_ledger_http.py
    assert set(MATRIX) == {name for name, route in ROUTES.items() if route.service == "membership"}


@pytest.mark.parametrize("route", sorted(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(stack, world, role, route):
    spec = ROUTES[route]
    path = "/api/v1" + spec.path  # fill the template with cooperative A and its member m1
    path = path.replace("{cooperative_id}", world.a).replace("{member_id}", world.m1)
    path = path.replace("{fiscal_year}", "2025").removeprefix("/api/v1")
    body = INVALID_BODY if spec.method in ("POST", "PATCH") else None
    answer = stack.call(spec.method, path, world.tokens[role], body)
    if role in MATRIX[route] and route in PROJECTED:
        def known() -> object:
            again = stack.call(spec.method, path, world.tokens[role])
            return again.status_code != 404 and again

        answer = wait_for(known, what=f"{route} of cooperative A in its projection")
    if role in MATRIX[route]:
        assert answer.status_code == (400 if spec.method in ("POST", "PATCH") else 200), answer.text
    else:
        assert_error(answer, 403, "forbidden")


def test_a_principal_of_one_cooperative_gets_403_on_anything_of_another(stack, world):
    for path in [
        f"/cooperatives/{world.b}",
        f"/cooperatives/{world.b}/members",
        f"/cooperatives/{world.b}/members/{world.b1}",
    ]:
        assert_error(stack.call("GET", path, world.board_a), 403, "forbidden")
    assert_error(
        stack.call("POST", f"/cooperatives/{world.b}/members/{world.b1}/admit", world.board_a),
        403,
        "forbidden",
    )
    assert_error(stack.call("GET", "/cooperatives/does-not-exist", world.board_a), 403, "forbidden")


@pytest.mark.parametrize("case", ["missing", "garbage", "not bearer", "expired", "wrong key", "no role ids"])
def test_401_unless_a_valid_token(stack, world, case):
    headers = {}
    if case == "garbage":
        headers["Authorization"] = "Bearer abc.def.ghi"
    elif case == "not bearer":
        headers["Authorization"] = f"Basic {world.admin}"
    elif case == "expired":
        headers["Authorization"] = "Bearer " + stack.token("network_admin", ttl=timedelta(seconds=-1))
    elif case == "wrong key":
        headers["Authorization"] = "Bearer " + stack.token("network_admin", secret="another-secret-" * 3)
    elif case == "no role ids":
        import jwt

        claims = {"role": "coop_admin", "iss": "kopnet", "exp": 4102444800}
        headers["Authorization"] = "Bearer " + jwt.encode(claims, stack.secret, algorithm="HS256")
    for method, path in [("GET", "/cooperatives"), ("POST", "/cooperatives"), ("GET", "/network/health")]:
        assert_error(stack.call(method, path, headers=headers, json={}), 401, "unauthenticated")
