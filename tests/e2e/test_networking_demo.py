"""The demo network's e-commerce loads through the public API, settles, and loading it twice replays."""
from __future__ import annotations

from services.gateway.demo import DemoClient, load
from services.gateway.demo_networking import PRODUCTS
from tests.conftest import wait_for


def test_the_demo_catalog_orders_and_partnership_load_twice_and_settle(stack):
    client = DemoClient(stack.base, stack.secret)
    coop, _member = load(client)
    assert load(client)[0] == coop  # replayed by Idempotency-Key
    admin = stack.token("network_admin")
    board = stack.token("coop_admin", cooperative_id=coop)
    orders = {order["id"]: order for order in stack.call("GET", "/orders?limit=200", board).json()["items"]}

    def statuses() -> list[str]:
        seen = {o["id"]: o for o in stack.call("GET", "/orders?limit=200", board).json()["items"]}
        orders.update(seen)
        return sorted(o["status"] for o in seen.values())
    # the konsumen cooperative bought coffee (B2B) and sold rice to its member (B2C): both settle
    wait_for(lambda: statuses() == ["settled", "settled"], timeout=60, what="the demo's orders settled")
    assert sorted(o["payment"] for o in orders.values()) == ["cash", "sukarela"]

    def catalog() -> list[dict]:
        items = stack.call("GET", "/catalog?limit=200", admin).json()["items"]
        return [item for item in items if item["name"] in {body["name"] for _seller, body in PRODUCTS}]
    wait_for(lambda: len(catalog()) == len(PRODUCTS), what="the demo's products in the catalog")  # once each
    items = catalog()
    assert len({item["category"] for item in items}) >= 5
    assert len({item["seller_regency"] for item in items}) == 4
    opop = stack.call("GET", "/catalog?opop=true&q=santri", admin).json()["items"]
    assert {item["name"] for item in opop} >= {"Dodol Garut Santri", "Sabun Herbal Santri"}
    coffee = next(item for item in items if item["name"] == "Kopi Arabika Java Preanger")
    wait_for(lambda: next(i for i in catalog() if i["id"] == coffee["id"])["stock_available"] == 35,
             what="five kilos of coffee sold, once")
    dodol = next(item for item in catalog() if item["name"] == "Dodol Garut Santri")
    wait_for(lambda: next(i for i in catalog() if i["id"] == dodol["id"])["stock_available"] == 60,
             what="the cancelled order's reservation released")
    cancelled = [o for o in stack.call("GET", "/orders?status=cancelled&limit=200", stack.token(
        "coop_admin", cooperative_id=dodol["cooperative_id"])).json()["items"]]
    assert [o["lines"][0]["product_id"] for o in cancelled] == [dodol["id"]]
    coffee_board = stack.token("coop_admin", cooperative_id=coffee["cooperative_id"])
    partnerships = stack.call("GET", "/partnerships?limit=50", coffee_board).json()["items"]
    assert [(p["status"], p["feed_entitled"]) for p in partnerships] == [("active", True)]
