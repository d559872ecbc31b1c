"""The networking routes' role matrix (http-api.md, Networking): who may call each order and product
route, decided by the gateway from the token (services/gateway/access.py) and then by the service
from the order's parties (services/networking/orders.py) — both run here, the service over the
in-memory store, so every route x every role is exercised on a real order.

The order is a B2C cash order of member m1 of cooperative b from cooperative s: its parties are the
seller's board, the member, and the member's cooperative's board.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from services.gateway.auth import Principal
from services.gateway.routes import ROUTES
from shared.aggregate import DomainError
from shared.envelope import new_id
from tests.unit.test_networking_compensation import Ledger, network

ROLES = {
    "network_admin": Principal("network_admin"),
    "seller_admin": Principal("coop_admin", cooperative_id="s"),
    "buyer_admin": Principal("coop_admin", cooperative_id="b"),
    "other_admin": Principal("coop_admin", cooperative_id="o"),
    "member_buyer": Principal("member", cooperative_id="b", member_id="m1"),
    "other_member": Principal("member", cooperative_id="b", member_id="m2"),
    "partner": Principal("partner", partner_id="p1"),
}
PARTIES = {"seller_admin", "buyer_admin", "member_buyer"}
MATRIX = {
    "place_order": {"member_buyer"},  # a B2C order: the member itself (a board places B2B orders)
    "confirm_order": {"seller_admin"},
    "ship_order": {"seller_admin"},
    "deliver_order": {"buyer_admin", "member_buyer"},
    "cancel_order": PARTIES,
    "get_order": PARTIES | {"network_admin"},
    "list_product": {"seller_admin"},
    "change_product": {"seller_admin"},
}
BEFORE = {"ship_order": ["confirm"], "deliver_order": ["confirm", "ship"]}  # steps that must come first
COFFEE = {"name": "Kopi Preanger", "category": "coffee", "unit": "kg", "price": 20_000, "stock": 5}


def call(route: str, who: str) -> bool:
    """True when `who` may: the gateway lets the token through and the service does the step."""
    networking, _store = network(Ledger())
    product = networking.catalog.list_product("s", COFFEE, {"command_id": new_id()})["id"]
    body = {"buyer": {"cooperative_id": "b", "member_id": "m1"}, "seller_cooperative_id": "s",
            "payment": "cash", "lines": [{"product_id": product, "quantity": 1}]}
    order = "" if route == "place_order" else networking.place_order(
        asdict(ROLES["member_buyer"]), body, {"command_id": new_id()})["id"]
    seller = asdict(ROLES["seller_admin"])
    for step in BEFORE.get(route, []):
        getattr(networking, f"{step}_order")(seller, order, {"command_id": new_id()})
    ids = {"order_id": order, "cooperative_id": "s", "product_id": product}
    path = {name: ids[name] for name in ROUTES[route].path_names}
    if not ROUTES[route].allow(ROLES[who], path):
        return False
    actor, context = asdict(ROLES[who]), {"command_id": new_id()}
    calls: dict[str, Any] = {
        "place_order": lambda: networking.place_order(actor, body, context),
        "get_order": lambda: networking.get_order(actor, order),
        "list_product": lambda: networking.catalog.list_product("s", COFFEE, context),
        "change_product": lambda: networking.catalog.change_product("s", product, {"price": 21_000}, context),
    }
    step = calls.get(route) or (lambda: getattr(networking, route)(actor, order, context))
    try:
        step()
    except DomainError as error:
        assert error.code in ("forbidden", "not_found"), error  # refused for who it is, not for what
        return False
    return True


@pytest.mark.parametrize("route", sorted(MATRIX))
@pytest.mark.parametrize("who", sorted(ROLES))
def test_networking_role_matrix(route, who):
    assert call(route, who) is (who in MATRIX[route])


def test_the_matrix_names_every_order_and_product_route():
    assert set(MATRIX) | {"search_catalog", "list_orders", "propose_partnership", "sign_partnership",
                          "end_partnership", "list_partnerships", "get_partnership"} == {
        name for name, route in ROUTES.items() if route.service == "networking"}
