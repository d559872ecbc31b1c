"""The role matrix of http-api.md (Membership), decided from the token alone."""

import pytest

from services.gateway.auth import Principal
from services.gateway.routes import ROUTES

A, B = "coop-a", "coop-b"
PRINCIPALS = {
    "network_admin": Principal("network_admin"),
    "coop_admin_a": Principal("coop_admin", cooperative_id=A),
    "member_a1": Principal("member", cooperative_id=A, member_id="m1"),
    "member_a2": Principal("member", cooperative_id=A, member_id="m2"),
    "coop_admin_b": Principal("coop_admin", cooperative_id=B),
    "member_b1": Principal("member", cooperative_id=B, member_id="m1"),
    "partner": Principal("partner", partner_id="p1"),
}
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
#: route -> who may call it on cooperative A (and its member m1)
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


def test_the_matrix_covers_every_route():
    # the Ledger routes' matrix is in test_gateway_ledger_access.py
    assert set(MATRIX) == {name for name, route in ROUTES.items() if route.service == "membership"}


@pytest.mark.parametrize("route", sorted(MATRIX))
@pytest.mark.parametrize("who", sorted(PRINCIPALS))
def test_role_matrix(route, who):
    path = {name: {"cooperative_id": A, "member_id": "m1", "fiscal_year": "2025"}[name]
            for name in ROUTES[route].path_names}
    assert ROUTES[route].allow(PRINCIPALS[who], path) is (who in MATRIX[route])


def test_a_member_id_alone_does_not_open_another_cooperatives_member():
    same_member_id_elsewhere = Principal("member", cooperative_id=B, member_id="m1")
    assert not ROUTES["get_member"].allow(same_member_id_elsewhere, {"cooperative_id": A, "member_id": "m1"})
