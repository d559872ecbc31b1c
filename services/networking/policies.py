"""Reactions: membership's cooperatives recorded here, and the settlement saga of orders.

The saga is driven from networking's own stored events (a kernel Subscription: retried with
backoff, each event's handler once), so it survives any process dying mid-way: the redelivered
event runs the same steps again, and every step is idempotent —
- the sukarela withdrawal carries a command id derived from the order (the ledger stores it once),
- each posting a source id `<order>:sale` / `<order>:purchase` (the ledger posts each once, ever),
- each reversal a command id derived from the order and the entry's role,
- the stock and order steps are commands with ids derived from the delivery event.
Money is therefore booked on both sides or, when a step is refused (a DomainError: e.g.
insufficient balance, a closed fiscal year), on neither: what was booked is reversed, the stock
released, and the order `failed`. A transient failure (a service down, a timeout) is raised and
the whole saga retried later; it never fails an order.
"""
from __future__ import annotations

import logging
from typing import Any, cast

from shared.aggregate import DomainError
from shared.application import CommandContext
from shared.consumer import Subscription
from shared.envelope import Envelope, derived_id, utc_now
from shared.kernel import Kernel

from .application import Networking
from .clients import Services
from .domain import Cooperative, Product
from .orders import Order, Purchase

log = logging.getLogger(__name__)
CASH, INVENTORY, SALES = "1101", "1105", "4101"
TRANSIENT = frozenset({"unavailable"})  # refused only because it came too late: try again


class Settlement:
    def __init__(self, networking: Networking):
        self.networking = networking
        self.app = networking.app
        self.services = networking.services

    def on_order_event(self, event: Envelope, context: CommandContext) -> None:
        if event.stream_type != "Order":
            return
        order = self.app.load(Order, event.payload["order_id"], fresh=True)
        if event.event_type == "networking.OrderDelivered":
            self.settle(order, context)
        elif event.event_type == "networking.OrderCancelled":  # heals a cancel that died before releasing
            self.networking.release_stock(order.id, [line["product_id"] for line in order.lines], context)

    def settle(self, order: Order, context: CommandContext) -> None:
        if order.status == "settled":
            self._record_purchase(order, context)
            return
        if order.status != "delivered":
            return
        booked: dict[str, tuple[str, str]] = {}  # role -> (cooperative, entry id)
        try:
            self._book(order, booked, context)
        except DomainError as error:
            if error.code in TRANSIENT:
                raise
            log.info("order %s cannot be settled (%s): compensating", order.id, error.code)
            self._reverse(order, booked, context)
            self.networking.release_stock(order.id, [line["product_id"] for line in order.lines], context)
            code, reason = error.code, error.message
            self.app.execute(Order, order.id, lambda o: o.fail(utc_now(), code, reason), context.step("fail"))
            return
        for line in order.lines:
            self.app.execute(Product, line["product_id"], lambda p: p.sell(order.id),
                             context.step(f"sell:{line['product_id']}"))
        entries = {role: entry for role, (_cooperative, entry) in booked.items()}
        outcome = self.app.execute(Order, order.id, lambda o: o.settle(utc_now(), entries),
                                   context.step("settle"))
        self._record_purchase(cast(Order, outcome.aggregate), context)

    def _book(self, order: Order, booked: dict[str, tuple[str, str]], context: CommandContext) -> None:
        buyer, seller, total = order.buyer, order.seller_cooperative_id, order.total
        day = order.delivered_on
        wire = {"correlation_id": context.correlation_id}
        if order.payment == "sukarela":
            answer = self.services.call("ledger", "withdraw", buyer["cooperative_id"], buyer["member_id"],
                                        {"amount": total, "date": day},
                                        {**wire, "command_id": derived_id("networking-withdrawal", order.id)})
            booked["withdrawal"] = (buyer["cooperative_id"], answer["entry_id"])
        member = buyer.get("member_id") if buyer["cooperative_id"] == seller else None
        sale = self._post(seller, f"{order.id}:sale", day, f"Penjualan pesanan {order.id}",
                          [{"account": CASH, "debit": total, "credit": 0},
                           {"account": SALES, "debit": 0, "credit": total, "member_id": member}], wire)
        booked["sale"] = (seller, sale["id"])
        if order.b2b:
            purchase = self._post(buyer["cooperative_id"], f"{order.id}:purchase", day,
                                  f"Pembelian pesanan {order.id}",
                                  [{"account": INVENTORY, "debit": total, "credit": 0},
                                   {"account": CASH, "debit": 0, "credit": total}], wire)
            booked["purchase"] = (buyer["cooperative_id"], purchase["id"])

    def _post(self, cooperative_id: str, source_id: str, day: Any, memo: str, lines: list[dict], wire: dict
              ) -> dict[str, Any]:
        lines = [{key: value for key, value in line.items() if value is not None} for line in lines]
        entry = {"date": day, "memo": memo, "lines": lines}
        return self.services.call("ledger", "post_entry", cooperative_id, entry,
                                  {"service": "networking", "id": source_id}, wire)

    def _reverse(self, order: Order, booked: dict[str, tuple[str, str]], context: CommandContext) -> None:
        for role, (cooperative_id, entry_id) in booked.items():
            self.services.call("ledger", "reverse_journal_entry", cooperative_id, entry_id, {
                "command_id": derived_id("networking-reversal", f"{order.id}:{role}"),
                "correlation_id": context.correlation_id})

    def _record_purchase(self, order: Order, context: CommandContext) -> None:
        if order.b2b:
            self.app.execute(Purchase, order.id, lambda p: p.record_settled(order, utc_now()),
                             context.step("purchase"))


def order_saga(kernel: Kernel) -> Subscription:
    networking = Networking(kernel, _services(kernel))
    # Retried for ~20 minutes (a ledger restarting, a network partition) before parking.
    return Subscription("order-saga", ["networking.OrderDelivered", "networking.OrderCancelled"],
                        Settlement(networking).on_order_event, max_attempts=30,
                        backoff_seconds=[0.5, 1.0, 2.0, 5.0, 15.0, 60.0], remember=False)


def membership_events(kernel: Kernel) -> Subscription:
    networking = Networking(kernel, _services(kernel))

    def handle(event: Envelope, context: CommandContext) -> None:
        cooperative_id = event.payload["cooperative_id"]
        if event.event_type == "membership.CooperativeRegistered":
            networking.record_cooperative(cooperative_id, event.payload, context)
        elif networking.app.read(Cooperative, cooperative_id).exists:
            networking.app.execute(Cooperative, cooperative_id, lambda c: c.record_dissolution(), context)
        else:  # its registration was never seen here: membership's profile says both
            networking.cooperative(cooperative_id)

    return Subscription("membership-events", ["membership.CooperativeRegistered",
                                              "membership.CooperativeDissolved"], handle, remember=False)


def _services(kernel: Kernel) -> Services:
    return Services(kernel.settings.amqp_uri)
