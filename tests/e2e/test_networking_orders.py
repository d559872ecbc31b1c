"""Orders through real HTTP and the real services: the settlement saga's happy paths (B2B cash,
B2C sukarela) and its compensations, the ledger's effects on both sides, the health view, the
oversell race, and bad input that stores nothing."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest

from tests.conftest import wait_for

from .conftest import assert_error
from .test_ledger_http import Books

COFFEE = {"name": "Kopi Arabika Java Preanger", "category": "coffee", "unit": "kg", "price": 25_000,
          "stock": 10, "description": "biji kopi pilihan"}


@pytest.fixture(scope="module")
def books(stack, world) -> Books:
    return Books(stack, world)


def ok(response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def list_product(stack, board: str, cooperative: str, **changes: Any) -> dict[str, Any]:
    return ok(stack.call("POST", f"/cooperatives/{cooperative}/products", board, {**COFFEE, **changes}), 201)


def balance(stack, board: str, cooperative: str, code: str) -> int:
    accounts = ok(stack.call("GET", f"/cooperatives/{cooperative}/accounts?limit=200", board))["items"]
    return next(a["balance"] for a in accounts if a["code"] == code)


def available(stack, token: str, cooperative: str, product: str) -> int | None:
    items = ok(stack.call("GET", f"/catalog?cooperative={cooperative}&limit=200", token))["items"]
    return next((item["stock_available"] for item in items if item["id"] == product), None)


def settled(stack, token: str, order: str, status: str = "settled") -> dict[str, Any]:
    return wait_for(lambda: (lambda o: o if o["status"] == status else None)(
        ok(stack.call("GET", f"/orders/{order}", token))), timeout=30, what=f"order {status}")


def walk(stack, order: str, seller: str, buyer: str) -> None:
    for step, token in (("confirm", seller), ("ship", seller), ("deliver", buyer)):
        ok(stack.call("POST", f"/orders/{order}/{step}", token))


def test_b2b_cash_order_settles_in_both_books_and_marks_both_active(stack, books):
    seller, buyer = books.tokens["coop_admin_a"], books.tokens["coop_admin_b"]
    product = list_product(stack, seller, books.a)
    sales, inventory = balance(stack, seller, books.a, "4101"), balance(stack, buyer, books.b, "1105")
    order = ok(stack.call("POST", "/orders", buyer, {
        "buyer": {"cooperative_id": books.b}, "seller_cooperative_id": books.a,
        "lines": [{"product_id": product["id"], "quantity": 3}], "payment": "cash"}), 201)
    assert order["status"] == "placed" and order["total"] == 75_000
    assert order["lines"][0]["unit_price"] == 25_000
    walk(stack, order["id"], seller, buyer)
    done = settled(stack, buyer, order["id"])
    steps = ["placed", "confirmed", "shipped", "delivered", "settled"]
    assert [h["status"] for h in done["history"]] == steps
    assert balance(stack, seller, books.a, "4101") == sales + 75_000
    assert balance(stack, buyer, books.b, "1105") == inventory + 75_000
    wait_for(lambda: available(stack, seller, books.a, product["id"]) == 7, what="stock sold")
    for cooperative, board in ((books.a, seller), (books.b, buyer)):
        wait_for(lambda c=cooperative, t=board: ok(stack.call("GET", f"/cooperatives/{c}", t)
                                                    )["health"]["active"], what="active in the health view")


def test_b2c_sukarela_withdraws_from_the_member_and_names_them_in_the_sale(stack, books):
    board, member = books.tokens["coop_admin_a"], books.tokens["member_a1"]
    product = list_product(stack, board, books.a, price=12_000)
    ok(stack.call("POST", f"/cooperatives/{books.a}/members/{books.m1}/savings/sukarela/deposits", board,
                  {"amount": 100_000, "date": date.today().isoformat()}), 201)
    savings = ok(stack.call("GET", f"/cooperatives/{books.a}/members/{books.m1}/savings", member))
    order = ok(stack.call("POST", "/orders", member, {
        "buyer": {"cooperative_id": books.a, "member_id": books.m1}, "seller_cooperative_id": books.a,
        "lines": [{"product_id": product["id"], "quantity": 2}], "payment": "sukarela"}), 201)
    walk(stack, order["id"], board, member)
    settled(stack, member, order["id"])
    after = ok(stack.call("GET", f"/cooperatives/{books.a}/members/{books.m1}/savings", member))
    assert after["sukarela"] == savings["sukarela"] - 24_000
    # the sale's income line names the member: their business (jasa usaha) for SHU
    wait_for(lambda: ok(stack.call("GET", f"/cooperatives/{books.a}/members/{books.m1}/statement", member)
                        )["jasa_usaha"] >= 24_000, what="the sale counted as the member's business")


def test_insufficient_sukarela_fails_the_order_releases_stock_and_books_nothing(stack, books):
    board, member = books.tokens["coop_admin_a"], books.tokens["member_a2"]
    product = list_product(stack, board, books.a, stock=5)
    sales, cash = balance(stack, board, books.a, "4101"), balance(stack, board, books.a, "1101")
    order = ok(stack.call("POST", "/orders", member, {
        "buyer": {"cooperative_id": books.a, "member_id": books.m2}, "seller_cooperative_id": books.a,
        "lines": [{"product_id": product["id"], "quantity": 5}], "payment": "sukarela"}), 201)
    walk(stack, order["id"], board, member)
    failed = settled(stack, member, order["id"], "failed")
    assert failed["failure"]["code"] == "insufficient_balance"
    wait_for(lambda: available(stack, board, books.a, product["id"]) == 5, what="stock released")
    assert (balance(stack, board, books.a, "4101"), balance(stack, board, books.a, "1101")) == (sales, cash)


def test_cancel_before_shipping_releases_stock_and_not_after(stack, books):
    seller, buyer = books.tokens["coop_admin_a"], books.tokens["coop_admin_b"]
    product = list_product(stack, seller, books.a, stock=4)
    place = {"buyer": {"cooperative_id": books.b}, "seller_cooperative_id": books.a,
             "lines": [{"product_id": product["id"], "quantity": 4}], "payment": "cash"}
    order = ok(stack.call("POST", "/orders", buyer, place), 201)
    ok(stack.call("POST", f"/orders/{order['id']}/confirm", seller))
    wait_for(lambda: available(stack, seller, books.a, product["id"]) == 0, what="stock reserved")
    assert ok(stack.call("POST", f"/orders/{order['id']}/cancel", buyer))["status"] == "cancelled"
    wait_for(lambda: available(stack, seller, books.a, product["id"]) == 4, what="stock released")
    assert_error(stack.call("POST", f"/orders/{order['id']}/ship", seller), 422, "illegal_transition")
    shipped = ok(stack.call("POST", "/orders", buyer, place), 201)
    for step in ("confirm", "ship"):
        ok(stack.call("POST", f"/orders/{shipped['id']}/{step}", seller))
    assert_error(stack.call("POST", f"/orders/{shipped['id']}/cancel", buyer), 422, "illegal_transition")


def test_thirty_concurrent_confirmations_of_eight_units_confirm_exactly_eight(stack, books):
    seller, buyer = books.tokens["coop_admin_a"], books.tokens["coop_admin_b"]
    product = list_product(stack, seller, books.a, stock=8)
    orders = [ok(stack.call("POST", "/orders", buyer, {
        "buyer": {"cooperative_id": books.b}, "seller_cooperative_id": books.a,
        "lines": [{"product_id": product["id"], "quantity": 1}], "payment": "cash"}), 201)["id"]
        for _ in range(30)]

    def confirm(order: str) -> tuple[int, str | None]:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        while True:  # a 503 changed nothing, or its command is stored once, whatever the retry does
            response = stack.call("POST", f"/orders/{order}/confirm", seller, headers=key)
            if response.status_code not in (503, 409):  # 409: that key's first try is still running
                body = response.json()
                return response.status_code, body.get("error", {}).get("code")

    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(confirm, orders))
    assert answers.count((200, None)) == 8, answers
    assert answers.count((422, "out_of_stock")) == 22, answers
    wait_for(lambda: available(stack, seller, books.a, product["id"]) == 0, what="all eight reserved")
    statuses = [ok(stack.call("GET", f"/orders/{order}", buyer))["status"] for order in orders]
    assert statuses.count("confirmed") == 8 and statuses.count("placed") == 22


def test_bad_orders_are_refused_and_store_nothing(stack, books):
    seller, buyer = books.tokens["coop_admin_a"], books.tokens["coop_admin_b"]
    member = books.tokens["member_b1"]
    product = list_product(stack, seller, books.a, stock=2)

    def place(token: str = buyer, **changes: Any):
        body = {"buyer": {"cooperative_id": books.b}, "seller_cooperative_id": books.a,
                "lines": [{"product_id": product["id"], "quantity": 1}], "payment": "cash", **changes}
        return stack.call("POST", "/orders", token, body)

    before = ok(stack.call("GET", "/orders?limit=200", buyer))["items"]
    assert_error(place(lines=[{"product_id": product["id"], "quantity": 0}]), 400, "validation_error")
    assert_error(place(lines=[{"product_id": "no-such-product", "quantity": 1}]), 400, "validation_error")
    assert_error(place(lines=[{"product_id": product["id"], "quantity": 3}]), 422, "out_of_stock")
    assert_error(place(buyer={"cooperative_id": books.a}), 403, "forbidden")
    assert_error(place(seller, buyer={"cooperative_id": books.a}), 400, "validation_error")  # from oneself
    assert_error(place(member, buyer={"cooperative_id": books.b, "member_id": books.b1}, payment="sukarela"),
                 400, "validation_error")  # sukarela only at the member's own cooperative
    assert_error(stack.call("POST", f"/cooperatives/{books.a}/products", seller, {**COFFEE, "price": 0}),
                 400, "validation_error")
    assert_error(stack.call("POST", f"/cooperatives/{books.a}/products", seller, {**COFFEE, "category": "x"}),
                 400, "validation_error")
    assert_error(stack.call("POST", f"/cooperatives/{books.a}/products", seller, {**COFFEE, "opop": True}),
                 400, "validation_error")  # not a pesantren cooperative
    ok(stack.call("PATCH", f"/cooperatives/{books.a}/products/{product['id']}", seller, {"delisted": True}))
    assert_error(place(), 422, "product_delisted")
    assert ok(stack.call("GET", "/orders?limit=200", buyer))["items"] == before
    order = ok(place(lines=[{"product_id": list_product(stack, seller, books.a)["id"], "quantity": 1}]), 201)
    assert_error(stack.call("POST", f"/orders/{order['id']}/confirm", buyer), 403, "forbidden")
    assert_error(stack.call("POST", f"/orders/{order['id']}/deliver", buyer), 422, "illegal_transition")
    assert_error(stack.call("GET", f"/orders/{order['id']}", books.tokens["member_a1"]), 404, "not_found")
