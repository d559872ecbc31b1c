"""The catalog's search over real HTTP on a small Indonesian product set, and partnerships."""
from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import wait_for

from .conftest import assert_error

PRODUCTS = [
    {"name": "Kopi Arabika Preanger", "category": "coffee", "description": "biji kopi pilihan dari Garut"},
    {"name": "Kopi Luwak Liar", "category": "coffee", "description": "sangrai sedang"},
    {"name": "Dodol Garut Asli", "category": "food_drink", "description": "manis legit",
     "halal_certificate": "ID3211"},
    {"name": "Batik Tulis Garutan", "category": "fashion", "description": "kain katun, motif kopi"},
    {"name": "Keripik Singkong PEDAS", "category": "food_drink", "description": "renyah"},
]


@pytest.fixture(scope="module")
def shop(stack, world) -> dict[str, Any]:
    garut = world.register(regency="kabupaten-garut", is_pesantren=True)["id"]
    board = stack.token("coop_admin", cooperative_id=garut)
    ids = {}
    for product in PRODUCTS:
        body = {"unit": "pcs", "price": 10_000, "stock": 5, **product}
        response = stack.call("POST", f"/cooperatives/{garut}/products", board, body)
        assert response.status_code == 201, response.text
        ids[product["name"]] = response.json()["id"]
    opop = stack.call("POST", f"/cooperatives/{garut}/products", board,
                      {"name": "Sabun Santri", "category": "crafts", "unit": "pcs", "price": 5_000,
                       "stock": 9, "opop": True})
    assert opop.status_code == 201, opop.text
    ids["Sabun Santri"] = opop.json()["id"]
    return {"cooperative": garut, "board": board, "ids": ids}


def names(stack, token: str, query: str) -> list[str]:
    response = stack.call("GET", f"/catalog?{query}", token)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def test_search_ranks_name_matches_first_in_any_case(stack, world, shop):
    scope = f"cooperative={shop['cooperative']}"
    token = world.tokens["member_b1"]
    wait_for(lambda: len(names(stack, token, scope)) == 6, what="the catalog caught up")
    found = names(stack, token, f"{scope}&q=KOPI")  # name hits (equal scores: any order), then description
    assert sorted(found[:2]) == ["Kopi Arabika Preanger", "Kopi Luwak Liar"]
    assert found[2:] == ["Batik Tulis Garutan"]
    assert names(stack, token, f"{scope}&q=garut")[0] == "Dodol Garut Asli"
    assert names(stack, token, f"{scope}&q=kopi%20garut") == ["Kopi Arabika Preanger"]  # every word
    assert names(stack, token, f"{scope}&q=pedas") == ["Keripik Singkong PEDAS"]
    assert names(stack, token, f"{scope}&q=rendang") == []
    coffee = sorted(names(stack, token, f"{scope}&category=coffee"))
    assert coffee == ["Kopi Arabika Preanger", "Kopi Luwak Liar"]
    assert names(stack, token, f"{scope}&halal=true") == ["Dodol Garut Asli"]
    assert names(stack, token, f"{scope}&opop=true") == ["Sabun Santri"]
    assert "Sabun Santri" in names(stack, token, "regency=kabupaten-garut&q=sabun%20santri")
    assert names(stack, token, "regency=kota-depok&q=santri") == []


def test_search_pages_and_items_name_seller_and_stock(stack, world, shop):
    token = world.tokens["partner"]
    first = stack.call("GET", f"/catalog?cooperative={shop['cooperative']}&limit=4", token).json()
    assert len(first["items"]) == 4 and first["next"]
    rest = stack.call("GET", f"/catalog?cooperative={shop['cooperative']}&limit=4&cursor={first['next']}",
                      token).json()
    assert len(rest["items"]) == 2 and rest["next"] is None
    item = first["items"][0]
    assert item["seller_regency"] == "kabupaten-garut" and item["seller_name"].startswith("Koperasi")
    assert item["stock_available"] in (5, 9)
    assert_error(stack.call("GET", "/catalog?cursor=zzz", token), 400, "validation_error")
    assert_error(stack.call("GET", "/catalog?category=weapons", token), 400, "validation_error")


def test_delisted_products_and_dissolved_sellers_leave_the_catalog(stack, world, shop):
    token = world.tokens["member_b1"]
    scope = f"cooperative={shop['cooperative']}"
    wait_for(lambda: "Kopi Luwak Liar" in names(stack, token, scope), what="listed")
    path = f"/cooperatives/{shop['cooperative']}/products/{shop['ids']['Kopi Luwak Liar']}"
    response = stack.call("PATCH", path, shop["board"], {"delisted": True})
    assert response.status_code == 200 and response.json()["delisted"] is True
    wait_for(lambda: "Kopi Luwak Liar" not in names(stack, token, scope), what="delisted")
    other = world.register()["id"]
    board = stack.token("coop_admin", cooperative_id=other)
    listed = stack.call("POST", f"/cooperatives/{other}/products", board,
                        {"name": "Tahu Sumedang", "category": "food_drink", "unit": "pcs", "price": 1_000,
                         "stock": 3})
    assert listed.status_code == 201, listed.text
    wait_for(lambda: names(stack, token, f"cooperative={other}") == ["Tahu Sumedang"], what="listed")
    assert stack.call("POST", f"/cooperatives/{other}/dissolve", world.admin).status_code == 200
    wait_for(lambda: names(stack, token, f"cooperative={other}") == [], what="a dissolved seller's products")


def test_partnership_is_active_once_every_party_signed_then_ended(stack, world, shop):
    garut, board_a = shop["board"], world.board_a
    partner = stack.token("partner", partner_id="bprs-garut")
    body = {"title": "Kerjasama pemasaran kopi", "feed_entitled": True, "starts_on": "2026-01-01",
            "parties": [{"cooperative_id": shop["cooperative"]}, {"cooperative_id": world.a},
                        {"partner_id": "bprs-garut"}]}
    assert_error(stack.call("POST", "/partnerships", world.board_b, body), 403, "forbidden")
    assert_error(stack.call("POST", "/partnerships", garut, {**body, "parties": body["parties"][:1]}),
                 400, "validation_error")
    proposed = stack.call("POST", "/partnerships", garut, body)
    assert proposed.status_code == 201, proposed.text
    pid = proposed.json()["id"]
    assert proposed.json()["status"] == "proposed"
    assert_error(stack.call("POST", f"/partnerships/{pid}/sign", world.board_b), 403, "forbidden")
    assert stack.call("POST", f"/partnerships/{pid}/sign", garut).json()["status"] == "proposed"
    assert_error(stack.call("POST", f"/partnerships/{pid}/sign", garut), 422, "illegal_transition")
    assert stack.call("POST", f"/partnerships/{pid}/sign", board_a).json()["status"] == "proposed"
    active = stack.call("POST", f"/partnerships/{pid}/sign", partner).json()
    assert active["status"] == "active" and active["activated_on"]
    assert stack.call("GET", f"/partnerships/{pid}", partner).json()["status"] == "active"
    assert_error(stack.call("GET", f"/partnerships/{pid}", world.board_b), 404, "not_found")
    ended = stack.call("POST", f"/partnerships/{pid}/end", board_a).json()
    assert ended["status"] == "ended"
    assert_error(stack.call("POST", f"/partnerships/{pid}/end", garut), 422, "illegal_transition")
    wait_for(lambda: [p["status"] for p in stack.call("GET", "/partnerships", partner).json()["items"]
                      if p["id"] == pid] == ["ended"], what="the partner's list")
