"""Orders (pure): `placed → confirmed → shipped → delivered → settled`, `cancelled` before
shipping, `failed` when settlement cannot be made. Who may take each step is checked here from
the caller's principal (`actor`: role, cooperative_id, member_id), since only the order knows its
parties; an illegal step is 422 `illegal_transition` and stores nothing.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.aggregate import Aggregate, DomainError

from .domain import Cooperative, Product, forbidden, invalid

NEXT = {"placed": ("confirmed", "cancelled"), "confirmed": ("shipped", "cancelled"),
        "shipped": ("delivered",), "delivered": ("settled", "failed")}
PAYMENTS = ("cash", "sukarela")
Actor = Mapping[str, Any]


class Order(Aggregate):
    snapshot_every = 0

    def __init__(self, id: str):
        super().__init__(id)
        self.status = "new"
        self.buyer: dict[str, str] = {}
        self.seller_cooperative_id = ""
        self.lines: list[dict[str, Any]] = []
        self.total = 0
        self.payment = "cash"
        self.history: list[dict[str, str]] = []
        self.delivered_on: str | None = None
        self.failure: dict[str, str] | None = None
        self.entries: dict[str, str] = {}

    @property
    def b2b(self) -> bool:
        return "member_id" not in self.buyer

    # -- commands -----------------------------------------------------------------------------
    def place(self, *, actor: Actor, buyer: dict[str, str], seller: Cooperative,
              buyer_cooperative: Cooperative, lines: list[tuple[Product, int]], payment: str,
              now: str) -> None:
        if self.exists:
            raise DomainError("conflict", f"order {self.id} already exists")
        own = (actor.get("role") == "member" and actor.get("member_id") == buyer.get("member_id")
               if "member_id" in buyer else actor.get("role") == "coop_admin")
        if not own or actor.get("cooperative_id") != buyer["cooperative_id"]:
            raise forbidden("only the buyer's board (B2B) or the member itself (B2C) places an order")
        seller.require_active("seller_cooperative_id")
        buyer_cooperative.require_active("buyer")
        if "member_id" not in buyer and buyer["cooperative_id"] == seller.id:
            raise invalid("seller_cooperative_id", "a cooperative cannot order from itself")
        if payment not in PAYMENTS:
            raise invalid("payment", "payment is cash or sukarela")
        if payment == "sukarela" and ("member_id" not in buyer or buyer["cooperative_id"] != seller.id):
            raise invalid("payment", "sukarela pays only a member's order from their own cooperative")
        if not lines:
            raise invalid("lines", "an order has at least one line")
        placed, seen = [], set()
        for product, quantity in lines:
            if product.id in seen:
                raise invalid("lines", f"product {product.id} appears twice")
            seen.add(product.id)
            if quantity < 1:
                raise invalid("lines", "quantity must be a positive integer")
            product.require_available(quantity)
            if product.cooperative_id != seller.id:
                raise invalid("lines", f"product {product.id} is not sold by {seller.id}")
            placed.append({"product_id": product.id, "name": product.name, "quantity": quantity,
                           "unit_price": product.price, "amount": product.price * quantity})
        self.trigger("OrderPlaced", order_id=self.id, cooperative_id=seller.id, buyer=dict(buyer),
                     seller_cooperative_id=seller.id, lines=placed,
                     total=sum(line["amount"] for line in placed), payment=payment, at=now)

    def confirm(self, actor: Actor, now: str) -> None:
        self._seller_only(actor, "confirms")
        self._step("confirmed", "OrderConfirmed", now)

    def ship(self, actor: Actor, now: str) -> None:
        self._seller_only(actor, "ships")
        self._step("shipped", "OrderShipped", now)

    def deliver(self, actor: Actor, now: str, today: str) -> None:
        if _party(actor, self.buyer) is None:
            raise forbidden("only the buyer confirms delivery")
        self._step("delivered", "OrderDelivered", now, delivered_on=today,
                   buyer=dict(self.buyer), payment=self.payment, total=self.total)

    def cancel(self, actor: Actor, now: str) -> None:
        if self.party(actor) is None:
            raise forbidden("only a party to the order cancels it")
        self._step("cancelled", "OrderCancelled", now, by=self.party(actor) or "")

    def settle(self, now: str, entries: dict[str, str]) -> None:
        self._step("settled", "OrderSettled", now, seller_cooperative_id=self.seller_cooperative_id,
                   buyer=dict(self.buyer), total=self.total, entries=entries)

    def fail(self, now: str, code: str, reason: str) -> None:
        self._step("failed", "OrderFailed", now, code=code, reason=reason)

    # -- rules ------------------------------------------------------------------------------------
    def party(self, actor: Actor) -> str | None:
        """"seller", "buyer" or None (a network admin reads, but is no party)."""
        if actor.get("role") == "coop_admin" and actor.get("cooperative_id") == self.seller_cooperative_id:
            return "seller"
        return _party(actor, self.buyer)

    def require_reader(self, actor: Actor) -> None:
        if actor.get("role") != "network_admin" and self.party(actor) is None:
            raise DomainError("not_found", f"order {self.id} does not exist")

    def _seller_only(self, actor: Actor, what: str) -> None:
        if self.party(actor) != "seller":
            raise forbidden(f"only the seller's board {what} an order")

    def _step(self, status: str, event: str, now: str, **data: Any) -> None:
        if not self.exists:
            raise DomainError("not_found", f"order {self.id} does not exist")
        if status not in NEXT.get(self.status, ()):
            raise DomainError("illegal_transition", f"an order that is {self.status} cannot become {status}")
        self.trigger(event, order_id=self.id, cooperative_id=self.cooperative_id, at=now, **data)

    # -- state --------------------------------------------------------------------------------------
    def apply_OrderPlaced(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]
        self.buyer, self.seller_cooperative_id = data["buyer"], data["seller_cooperative_id"]
        self.lines, self.total, self.payment = data["lines"], data["total"], data["payment"]
        self._moved("placed", data)

    def apply_OrderConfirmed(self, data: dict) -> None:
        self._moved("confirmed", data)

    def apply_OrderShipped(self, data: dict) -> None:
        self._moved("shipped", data)

    def apply_OrderDelivered(self, data: dict) -> None:
        self.delivered_on = data["delivered_on"]
        self._moved("delivered", data)

    def apply_OrderCancelled(self, data: dict) -> None:
        self._moved("cancelled", data)

    def apply_OrderSettled(self, data: dict) -> None:
        self.entries = data["entries"]
        self._moved("settled", data)

    def apply_OrderFailed(self, data: dict) -> None:
        self.failure = {"code": data["code"], "reason": data["reason"]}
        self._moved("failed", data)

    def _moved(self, status: str, data: dict) -> None:
        self.status = status
        self.history.append({"status": status, "at": data["at"]})

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "buyer": self.buyer, "seller_cooperative_id": self.seller_cooperative_id,
                "lines": self.lines, "total": self.total, "payment": self.payment, "status": self.status,
                "history": self.history, "failure": self.failure}


class Purchase(Aggregate):
    """The buyer cooperative's side of a settled B2B order: its `OrderSettled` carries the buyer's
    cooperative in the envelope, so consumers keyed on the tenant (membership's health view, a
    partner's feed) see the buyer's business too, not only the seller's."""

    snapshot_every = 0

    def record_settled(self, order: Order, now: str) -> None:
        if not self.exists:
            self.trigger("OrderSettled", order_id=order.id, cooperative_id=order.buyer["cooperative_id"],
                         at=now, seller_cooperative_id=order.seller_cooperative_id,
                         buyer=dict(order.buyer), total=order.total, entries=order.entries)

    def apply_OrderSettled(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]


def _party(actor: Actor, buyer: Mapping[str, str]) -> str | None:
    if "member_id" in buyer:
        if actor.get("role") == "member" and actor.get("member_id") == buyer["member_id"] \
                and actor.get("cooperative_id") == buyer["cooperative_id"]:
            return "buyer"
        if actor.get("role") == "coop_admin" and actor.get("cooperative_id") == buyer["cooperative_id"]:
            return "buyer"
        return None
    if actor.get("role") == "coop_admin" and actor.get("cooperative_id") == buyer.get("cooperative_id"):
        return "buyer"
    return None
