"""Networking use cases: load → command → save through the kernel. Orders' steps that touch
several streams (reserve the stock of each line, then confirm) use step command ids derived from
the request's command id, so a retried request repeats no step. Queries read the projections.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any, cast

from mongoengine import Q

from shared.aggregate import DomainError
from shared.application import CommandContext, Outcome
from shared.envelope import derived_id, utc_now
from shared.kernel import Kernel
from shared.projection import documents
from shared.validation import validated

from .catalog import CatalogUseCases
from .clients import Services
from .domain import Cooperative, Product, invalid
from .orders import Order
from .partnerships import Partnership
from .projections import ORDERS, PARTNERSHIPS, OrderRow, PartnershipRow
from .schemas import PlaceOrderSchema, ProposePartnershipSchema

WIB = timezone(timedelta(hours=7), "WIB")  # every kopnet cooperative is in West Java


def local_today() -> date:
    return datetime.now(WIB).date()


class Networking:
    def __init__(self, kernel: Kernel, services: Services, today: Callable[[], date] = local_today):
        self.kernel, self.app, self.database = kernel, kernel.application, kernel.database
        self.services = services
        self.today = today
        self.catalog = CatalogUseCases(self.app, self.database, self.cooperative)

    # -- cooperatives (from membership) -----------------------------------------------------------
    def cooperative(self, cooperative_id: str, field: str = "cooperative_id") -> Cooperative:
        """Networking's record of the cooperative; one membership has registered but whose event
        has not arrived yet is asked of membership (its RPC) and recorded now."""
        known = self.app.load(Cooperative, cooperative_id, fresh=True)
        if known.exists:
            return known
        try:
            profile = self.services.call("membership", "get_cooperative", cooperative_id)
        except DomainError as error:
            if error.code == "not_found":  # named in the path: 404; in the body: the body is wrong
                code = "not_found" if field == "cooperative_id" else "validation_error"
                raise DomainError(code, f"cooperative {cooperative_id} does not exist",
                                  {field: ["unknown cooperative"]}) from None
            raise
        return self.record_cooperative(cooperative_id, profile, CommandContext.new(
            command_id=derived_id("networking-cooperative", cooperative_id)))

    def record_cooperative(self, cooperative_id: str, profile: dict, context: CommandContext) -> Cooperative:
        outcome = self.app.execute(Cooperative, cooperative_id, lambda c: c.record(
            name=profile["name"], regency=profile["regency"], is_pesantren=bool(profile.get("is_pesantren")),
            dissolved=profile.get("status") == "dissolved"), context)
        return cast(Cooperative, outcome.aggregate)

    # -- orders -------------------------------------------------------------------------------------
    def place_order(self, actor: dict, data: Any, context: dict | None) -> dict[str, Any]:
        fields = validated(PlaceOrderSchema, data)
        command = CommandContext.from_wire(context)
        buyer = fields["buyer"]
        seller = self.cooperative(fields["seller_cooperative_id"], "seller_cooperative_id")
        buyer_cooperative = self.cooperative(buyer["cooperative_id"], "buyer")
        if "member_id" in buyer and actor.get("member_id") == buyer["member_id"]:
            status = self.services.call("membership", "member_status", buyer["cooperative_id"],
                                        buyer["member_id"])
            if status != "admitted":
                raise DomainError("member_not_admitted", f"member {buyer['member_id']} is not an admitted "
                                  "member of the cooperative", {"buyer": ["not an admitted member"]})
        lines = [(self._orderable(line["product_id"]), line["quantity"]) for line in fields["lines"]]
        order_id = derived_id("networking-order", command.command_id)
        outcome = self.app.execute(Order, order_id, lambda o: o.place(
            actor=actor, buyer=buyer, seller=seller, buyer_cooperative=buyer_cooperative, lines=lines,
            payment=fields["payment"], now=utc_now()), command)
        return _answer(outcome)

    def confirm_order(self, actor: dict, order_id: str, context: dict | None) -> dict[str, Any]:
        """Reserves every line's stock (each an append on the product's stream, checked against
        its version: no oversell), then confirms; any refusal releases what was reserved."""
        command = CommandContext.from_wire(context)
        order = self._order(order_id)
        try:
            order.confirm(actor, utc_now())  # a dry run on a copy: refuses a wrong party or step early
        except DomainError:
            if self.kernel.store.find_command(command.step("confirm").command_id) is None:
                raise
            return self._order(order_id).to_dict()  # a retry of a confirmation that was stored
        reserved: list[str] = []
        try:
            for line in order.lines:
                product_id, quantity = line["product_id"], line["quantity"]
                self.app.execute(Product, product_id, _reserve(order_id, quantity),
                                 command.step(f"reserve:{product_id}"))
                reserved.append(product_id)
            outcome = self.app.execute(Order, order_id, lambda o: o.confirm(actor, utc_now()),
                                       command.step("confirm"))
        except DomainError:
            self.release_stock(order_id, reserved, command)
            raise
        return _answer(outcome)

    def ship_order(self, actor: dict, order_id: str, context: dict | None) -> dict[str, Any]:
        return self._step(order_id, lambda o: o.ship(actor, utc_now()), context)

    def deliver_order(self, actor: dict, order_id: str, context: dict | None) -> dict[str, Any]:
        """Delivered: the settlement saga (saga.py) takes it from here, from the stored event."""
        return self._step(order_id, lambda o: o.deliver(actor, utc_now(), self.today().isoformat()), context)

    def cancel_order(self, actor: dict, order_id: str, context: dict | None) -> dict[str, Any]:
        """Cancelled, then the stock released (again by the saga's policy if this process dies
        between the two: releasing is idempotent per order)."""
        command = CommandContext.from_wire(context)
        answer = self._step(order_id, lambda o: o.cancel(actor, utc_now()), command)
        self.release_stock(order_id, [line["product_id"] for line in answer["lines"]], command)
        return answer

    def release_stock(self, order_id: str, product_ids: list[str], context: CommandContext) -> None:
        for product_id in product_ids:
            self.app.execute(Product, product_id, lambda p: p.release(order_id),
                             context.step(f"release:{product_id}"))

    def get_order(self, actor: dict, order_id: str) -> dict[str, Any]:
        order = self._order(order_id)
        order.require_reader(actor)
        return order.to_dict()

    def list_orders(self, actor: dict, status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        role = actor.get("role")
        if role == "network_admin":
            query = Q()
        elif role == "coop_admin":
            query = (Q(seller_cooperative_id=actor["cooperative_id"])
                     | Q(buyer_cooperative_id=actor["cooperative_id"]))
        elif role == "member":
            query = Q(buyer_member_id=actor["member_id"], buyer_cooperative_id=actor["cooperative_id"])
        else:
            return {"items": [], "next": None}
        if status:
            query &= Q(status=status)
        return _page(documents(self.database, OrderRow, ORDERS).filter(query), limit, cursor, _order_view)

    # -- partnerships -------------------------------------------------------------------------------
    def propose_partnership(self, actor: dict, data: Any, context: dict | None) -> dict[str, Any]:
        fields = validated(ProposePartnershipSchema, data)
        command = CommandContext.from_wire(context)
        for party in fields["parties"]:
            if "cooperative_id" in party:
                self.cooperative(party["cooperative_id"], "parties").require_active("parties")
        partnership_id = derived_id("networking-partnership", command.command_id)
        ends_on = fields["ends_on"].isoformat() if fields["ends_on"] else None
        outcome = self.app.execute(Partnership, partnership_id, lambda p: p.propose(
            actor=actor, title=fields["title"], parties=fields["parties"],
            feed_entitled=fields["feed_entitled"],
            starts_on=fields["starts_on"].isoformat(), ends_on=ends_on), command)
        return _answer(outcome)

    def sign_partnership(self, actor: dict, partnership_id: str, context: dict | None) -> dict[str, Any]:
        return self._partnership(partnership_id, lambda p: p.sign(actor, self.today().isoformat()), context)

    def end_partnership(self, actor: dict, partnership_id: str, context: dict | None) -> dict[str, Any]:
        return self._partnership(partnership_id, lambda p: p.end(actor, self.today().isoformat()), context)

    def get_partnership(self, actor: dict, partnership_id: str) -> dict[str, Any]:
        partnership = self.app.read(Partnership, partnership_id)
        partnership.require_reader(actor)
        return partnership.to_dict()

    def list_partnerships(self, actor: dict, limit: int, cursor: str | None) -> dict[str, Any]:
        role = actor.get("role")
        if role == "network_admin":
            query: dict[str, Any] = {}
        elif role == "coop_admin":
            query = {"party_keys": f"cooperative_id:{actor['cooperative_id']}"}
        elif role == "partner":
            query = {"party_keys": f"partner_id:{actor['partner_id']}"}
        else:
            return {"items": [], "next": None}
        return _page(documents(self.database, PartnershipRow, PARTNERSHIPS).filter(**query), limit, cursor,
                     lambda doc: {key: value for key, value in doc.items()
                                  if not key.startswith("_") and key != "party_keys"})

    # -- helpers ------------------------------------------------------------------------------------
    def _orderable(self, product_id: str) -> Product:
        product = self.app.load(Product, product_id, fresh=True)
        if not product.exists:
            raise invalid("lines", f"product {product_id} does not exist")
        return product

    def _order(self, order_id: str) -> Order:
        order = self.app.load(Order, order_id, fresh=True)
        if not order.exists:
            raise DomainError("not_found", f"order {order_id} does not exist")
        return order

    def _step(self, order_id: str, command: Callable[[Order], None], context: dict | CommandContext | None
              ) -> dict[str, Any]:
        self._order(order_id)
        given = context if isinstance(context, CommandContext) else CommandContext.from_wire(context)
        return _answer(self.app.execute(Order, order_id, command, given))

    def _partnership(self, partnership_id: str, command: Callable[[Partnership], None], context: dict | None
                     ) -> dict[str, Any]:
        if not self.app.read(Partnership, partnership_id).exists:
            raise DomainError("not_found", f"partnership {partnership_id} does not exist")
        command_context = CommandContext.from_wire(context)
        return _answer(self.app.execute(Partnership, partnership_id, command, command_context))


def _reserve(order_id: str, quantity: int) -> Callable[[Product], None]:
    return lambda product: product.reserve(order_id, quantity)


def _answer(outcome: Outcome) -> dict[str, Any]:
    """A command's answer: the aggregate's state after it (read models lag the store)."""
    aggregate: Any = outcome.aggregate
    return cast(dict[str, Any], aggregate.to_dict())


def _order_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: doc[key] for key in ("id", "buyer", "seller_cooperative_id", "lines", "total", "payment",
                                      "status", "history", "failure")}


def _page(found: Any, limit: int, cursor: str | None,
          view: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Documents of the QuerySet `found` in `_id` order after the cursor; `next` only when more remain."""
    if cursor:
        try:
            after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise DomainError("validation_error", "invalid cursor", {"cursor": ["invalid cursor"]}) from None
        found = found.filter(pk__gt=after)
    docs = list(found.order_by("pk").limit(limit + 1).as_pymongo())
    more = len(docs) > limit
    docs = docs[:limit]
    following = base64.urlsafe_b64encode(docs[-1]["_id"].encode()).decode().rstrip("=") if more else None
    return {"items": [view(doc) for doc in docs], "next": following}
