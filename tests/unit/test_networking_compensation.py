"""The settlement saga's compensations when a step is refused after money was booked: the real
saga (services/networking/policies.py) and use cases over the in-memory store, with a ledger
double that books the first steps and refuses a later one.

Why a double: through the real ledger a later step cannot be made to fail on demand once the sale
is booked (both sides post on the same day of the current, open year, and a fiscal year cannot be
closed before it ends), so the e2e tests (tests/e2e/test_networking_orders.py) cover the refusal
before anything is booked (insufficient sukarela) and this test the reversal of what was booked.
"""
from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from services.networking.application import Networking
from services.networking.policies import Settlement
from services.networking.projections import PROJECTIONS
from services.networking.schemas import registry
from shared.aggregate import DomainError
from shared.application import Application, CommandContext
from shared.envelope import derived_id, new_id
from tests.support.memory_store import MemoryDatabase, MemoryEventStore

SELLER = {"role": "coop_admin", "cooperative_id": "s"}
BUYER = {"role": "coop_admin", "cooperative_id": "b"}
MEMBER = {"role": "member", "cooperative_id": "s", "member_id": "m1"}


class Ledger:
    """Membership's and the ledger's RPCs as the saga calls them; `refuse` names the step refused
    (sale, purchase, withdrawal) and its error code."""

    def __init__(self, refuse: tuple[str, str] | None = None):
        self.refuse = refuse
        self.booked: list[tuple[str, str]] = []  # (cooperative, role)
        self.reversed: list[tuple[str, str, str]] = []  # (cooperative, entry, command id)

    def call(self, service: str, method: str, *args: Any) -> Any:
        if method == "get_cooperative":
            return {"name": f"Koperasi {args[0]}", "regency": "kota-bandung", "status": "active"}
        if method == "member_status":
            return "admitted"
        if method == "reverse_journal_entry":
            self.reversed.append((args[0], args[1], args[2]["command_id"]))
            return {}
        role = "withdrawal" if method == "withdraw" else args[2]["id"].rsplit(":", 1)[1]
        if self.refuse and self.refuse[0] == role:
            raise DomainError(self.refuse[1], f"{role} refused")
        self.booked.append((args[0], role))
        return {"entry_id": f"entry-{role}"} if role == "withdrawal" else {"id": f"entry-{role}"}


def network(ledger: Ledger) -> tuple[Networking, MemoryEventStore]:
    store = MemoryEventStore(registry)
    kernel = SimpleNamespace(application=Application(store, registry), store=store,
                             database=MemoryDatabase(store, [cls() for cls in PROJECTIONS]))
    return Networking(kernel, ledger, today=lambda: date(2026, 6, 1)), store  # type: ignore[arg-type]


def delivered(networking: Networking, buyer_actor: dict, buyer: dict, payment: str) -> tuple[str, str]:
    coffee = {"name": "Kopi Preanger", "category": "coffee", "unit": "kg", "price": 20_000, "stock": 5}
    product = networking.catalog.list_product("s", coffee, {"command_id": new_id()})["id"]
    body = {"buyer": buyer, "seller_cooperative_id": "s", "payment": payment,
            "lines": [{"product_id": product, "quantity": 2}]}
    order = networking.place_order(buyer_actor, body, {"command_id": new_id()})["id"]
    networking.confirm_order(SELLER, order, {"command_id": new_id()})
    networking.ship_order(SELLER, order, {"command_id": new_id()})
    networking.deliver_order(buyer_actor, order, {"command_id": new_id()})
    return order, product


def run_saga(networking: Networking, store: MemoryEventStore) -> None:
    """The saga's handler for the stored OrderDelivered, with the subscription's derived context."""
    [event] = [e for e in store.iterate_all() if e.event_type == "networking.OrderDelivered"]
    context = CommandContext.new(command_id=derived_id("saga", event.event_id))
    Settlement(networking).on_order_event(event, context)


def test_a_refused_purchase_reverses_the_booked_sale_releases_the_stock_and_fails_the_order():
    ledger = Ledger(refuse=("purchase", "fiscal_year_closed"))
    networking, store = network(ledger)
    order, product = delivered(networking, BUYER, {"cooperative_id": "b"}, "cash")
    run_saga(networking, store)
    assert ledger.booked == [("s", "sale")]
    assert ledger.reversed == [("s", "entry-sale", derived_id("networking-reversal", f"{order}:sale"))]
    failed = networking.get_order(BUYER, order)
    assert failed["status"] == "failed" and failed["failure"]["code"] == "fiscal_year_closed"
    assert networking.catalog.get_product("s", product)["stock_available"] == 5  # released, none sold
    run_saga(networking, store)  # redelivered: the failed order books and reverses nothing more
    assert (len(ledger.booked), len(ledger.reversed)) == (1, 1)


def test_a_refused_sale_after_the_sukarela_withdrawal_gives_the_withdrawal_back():
    ledger = Ledger(refuse=("sale", "validation_error"))
    networking, store = network(ledger)
    order, product = delivered(networking, MEMBER, {"cooperative_id": "s", "member_id": "m1"}, "sukarela")
    run_saga(networking, store)
    assert ledger.booked == [("s", "withdrawal")]
    reversal = derived_id("networking-reversal", f"{order}:withdrawal")
    assert ledger.reversed == [("s", "entry-withdrawal", reversal)]
    assert networking.get_order(MEMBER, order)["status"] == "failed"
    assert networking.catalog.get_product("s", product)["stock_available"] == 5


def test_a_transient_refusal_retries_the_saga_instead_of_failing_the_order():
    ledger = Ledger(refuse=("purchase", "unavailable"))
    networking, store = network(ledger)
    order, product = delivered(networking, BUYER, {"cooperative_id": "b"}, "cash")
    with pytest.raises(DomainError):
        run_saga(networking, store)
    assert ledger.reversed == [] and networking.get_order(BUYER, order)["status"] == "delivered"
    ledger.refuse = None  # back: the retried saga books (the real ledger posts a source id once)
    run_saga(networking, store)
    assert networking.get_order(BUYER, order)["status"] == "settled"
    assert networking.catalog.get_product("s", product)["stock_available"] == 3
