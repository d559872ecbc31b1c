"""The Networking slice of /api/v1 (http-api.md, Networking): catalog, orders, partnerships.

The caller's principal goes to the service as `actor`: who may take an order's or a
partnership's step depends on its parties, which only the service knows.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from marshmallow import Schema

from . import access
from . import networking_schemas as networking
from .access import Policy
from .routing import COOP as _COOP
from .routing import Call, Route

ORDER_STEPS = {"confirm": "reserves the stock (422 `out_of_stock` if it is not there any more)",
               "ship": "the seller ships", "deliver": "the buyer confirms delivery; settlement follows "
               "through both sides' books (the order becomes `settled`, or `failed` with every step undone)",
               "cancel": "either party, before shipping; the stock is released"}


def _networking(name: str, method: str, path: str, allow: Policy, run: Callable[[Any, Call], Any],
                response: type[Schema], summary: str, **options: Any) -> Route:
    return Route(name, method, path, allow, run, response, summary, tags=("networking",),
                 service="networking", **options)


def _actor(call: Call) -> dict[str, Any]:
    return asdict(call.principal)


def _order_step(step: str) -> Route:
    # confirm and ship: the seller's board; deliver and cancel: a party (the service decides)
    allow = access.cooperative_principal
    return _networking(
        f"{step}_order", "POST", f"/orders/{{order_id}}/{step}", allow,
        lambda rpc, c: getattr(rpc, f"{step}_order")(_actor(c), c.path["order_id"], c.context),
        networking.Order, f"{step.capitalize()} an order: {ORDER_STEPS[step]}", body=networking.Step)


def _partnership_step(step: str) -> Route:
    return _networking(
        f"{step}_partnership", "POST", f"/partnerships/{{partnership_id}}/{step}", access.partnership_party,
        lambda rpc, c: getattr(rpc, f"{step}_partnership")(_actor(c), c.path["partnership_id"], c.context),
        networking.Partnership, f"{step.capitalize()} a partnership (active once every party signed)",
        body=networking.Step)


NETWORKING_ROUTES = [
    _networking("list_product", "POST", f"{_COOP}/products", access.coop_admin,
                lambda rpc, c: rpc.list_product(c.path["cooperative_id"], c.body, c.context),
                networking.Product, "List a product in the network's catalog (`opop` only for a pesantren "
                "cooperative)", body=networking.ListProduct, status=201),
    _networking("change_product", "PATCH", f"{_COOP}/products/{{product_id}}", access.coop_admin,
                lambda rpc, c: rpc.change_product(c.path["cooperative_id"], c.path["product_id"], c.body,
                                                  c.context),
                networking.Product, "Change a product's price (for orders placed after it), add stock, "
                "or delist it", body=networking.ChangeProduct),
    _networking("search_catalog", "GET", "/catalog", access.any_token,
                lambda rpc, c: rpc.search_catalog(c.query), networking.CatalogPage,
                "Search the network's catalog: words (best matches of the name first), category, regency, "
                "cooperative, halal, OPOP", query=networking.CatalogQuery),
    _networking("place_order", "POST", "/orders", access.cooperative_principal,
                lambda rpc, c: rpc.place_order(_actor(c), c.body, c.context), networking.Order,
                "Place an order (B2B: the buyer's coop_admin; B2C: the member); prices from the catalog",
                body=networking.PlaceOrder, status=201),
    *[_order_step(step) for step in ORDER_STEPS],
    _networking("list_orders", "GET", "/orders", access.order_reader,
                lambda rpc, c: rpc.list_orders(_actor(c), c.query.get("status"), c.query["limit"],
                                               c.query.get("cursor")),
                networking.OrderPage, "Orders the caller is a party to (network_admin: all)",
                query=networking.OrderQuery),
    _networking("get_order", "GET", "/orders/{order_id}", access.order_reader,
                lambda rpc, c: rpc.get_order(_actor(c), c.path["order_id"]), networking.Order,
                "An order with its lines and history"),
    _networking("propose_partnership", "POST", "/partnerships", access.partnership_proposer,
                lambda rpc, c: rpc.propose_partnership(_actor(c), c.body, c.context), networking.Partnership,
                "Propose a partnership (kerjasama) between cooperatives, or with a partner institution",
                body=networking.ProposePartnership, status=201),
    *[_partnership_step(step) for step in ("sign", "end")],
    _networking("list_partnerships", "GET", "/partnerships", access.partnership_reader,
                lambda rpc, c: rpc.list_partnerships(_actor(c), c.query["limit"], c.query.get("cursor")),
                networking.PartnershipPage, "Partnerships the caller is a party to (network_admin: all)",
                query=networking.Page),
    _networking("get_partnership", "GET", "/partnerships/{partnership_id}", access.partnership_reader,
                lambda rpc, c: rpc.get_partnership(_actor(c), c.path["partnership_id"]),
                networking.Partnership, "A partnership, its parties and signatures"),
]
