"""The catalog's aggregates: what networking knows of each cooperative, and products with their
stock. Pure: standard library and shared.aggregate only; callers pass `now`/`today`.

Stock is event-sourced on the product's stream: a reservation is an event appended with
optimistic concurrency (the store's unique index on stream and version), so two confirmations
that both read "one unit left" cannot both append; the loser re-reads and is refused. That is
why no oversell is possible even on a store without atomic updates or transactions.
"""
from __future__ import annotations

from typing import Any

from shared.aggregate import Aggregate, DomainError

CATEGORIES = ("food_drink", "fashion", "accessories", "crafts", "coffee", "agriculture", "services",
              "other")


# What a product shows besides its price and stock (fixed at listing).
DETAILS = ("cooperative_id", "name", "category", "unit", "description", "halal_certificate", "opop",
           "seller_name", "seller_regency")


def invalid(field: str, message: str) -> DomainError:
    return DomainError("validation_error", message, {field: [message]})


def forbidden(message: str) -> DomainError:
    return DomainError("forbidden", message)


class Cooperative(Aggregate):
    """Networking's own record of a cooperative, learnt from membership's events (or, for one
    it has not heard of yet, from membership's RPC answer): name, regency, pesantren, status."""

    snapshot_every = 0

    def __init__(self, id: str):
        super().__init__(id)
        self.name = ""
        self.regency = ""
        self.is_pesantren = False
        self.status = "unknown"

    def record(self, *, name: str, regency: str, is_pesantren: bool, dissolved: bool = False) -> None:
        if not self.exists:
            self.trigger("CooperativeRecorded", cooperative_id=self.id, name=name, regency=regency,
                         is_pesantren=is_pesantren)
        if dissolved:
            self.record_dissolution()

    def record_dissolution(self) -> None:
        if self.status == "active":
            self.trigger("CooperativeDissolutionRecorded", cooperative_id=self.id)

    def require_active(self, field: str = "cooperative_id") -> None:
        if not self.exists:
            raise DomainError("not_found", f"cooperative {self.id} does not exist", {field: ["unknown"]})
        if self.status != "active":
            raise DomainError("cooperative_dissolved", f"cooperative {self.id} is dissolved")

    def apply_CooperativeRecorded(self, data: dict) -> None:
        self.cooperative_id = self.id
        self.name, self.regency, self.is_pesantren = data["name"], data["regency"], data["is_pesantren"]
        self.status = "active"

    def apply_CooperativeDissolutionRecorded(self, data: dict) -> None:
        self.status = "dissolved"


class Product(Aggregate):
    """A listed product. `available` = on hand − reserved; a reservation is per order, so a
    repeated reserve or release for the same order changes nothing (idempotent steps)."""

    snapshot_every = 50

    def __init__(self, id: str):
        super().__init__(id)
        self.name = ""
        self.price = 0
        self.on_hand = 0
        self.reserved: dict[str, int] = {}
        self.delisted = False
        self.details: dict[str, Any] = {}

    @property
    def available(self) -> int:
        return self.on_hand - sum(self.reserved.values())

    # -- commands -----------------------------------------------------------------------------
    def list(self, *, seller: Cooperative, name: str, category: str, unit: str, price: int, stock: int,
             description: str, halal_certificate: str | None, opop: bool, now: str) -> None:
        if self.exists:
            raise DomainError("conflict", f"product {self.id} is already listed")
        seller.require_active()
        if category not in CATEGORIES:
            raise invalid("category", f"category must be one of {', '.join(CATEGORIES)}")
        _positive("price", price)
        if stock < 0:
            raise invalid("stock", "stock must not be negative")
        if opop and not seller.is_pesantren:
            raise invalid("opop", "only a pesantren cooperative lists OPOP products")
        self.trigger("ProductListed", product_id=self.id, cooperative_id=seller.id, name=name,
                     category=category, unit=unit, price=price, stock=stock, description=description,
                     halal_certificate=halal_certificate, opop=opop, seller_name=seller.name,
                     seller_regency=seller.regency, listed_at=now)

    def change(self, *, price: int | None, stock_added: int | None, delisted: bool | None) -> None:
        self.require_listed()
        if price is not None:
            _positive("price", price)
            if price != self.price:
                self.trigger("ProductPriceChanged", product_id=self.id, cooperative_id=self.cooperative_id,
                             price=price)
        if stock_added is not None:
            _positive("stock_added", stock_added)
            self.trigger("ProductStockAdded", product_id=self.id, cooperative_id=self.cooperative_id,
                         quantity=stock_added)
        if delisted:
            self.trigger("ProductDelisted", product_id=self.id, cooperative_id=self.cooperative_id)
        elif delisted is False:
            raise invalid("delisted", "a delisted product cannot be listed again; list a new one")

    def require_listed(self) -> None:
        if not self.exists:
            raise DomainError("not_found", f"product {self.id} does not exist", {"product_id": ["unknown"]})
        if self.delisted:
            raise DomainError("product_delisted", f"product {self.id} is delisted")

    def require_available(self, quantity: int) -> None:
        self.require_listed()
        if quantity > self.available:
            raise DomainError("out_of_stock", f"{self.name}: {self.available} available, {quantity} asked",
                              {"product_id": [self.id]})

    def reserve(self, order_id: str, quantity: int) -> None:
        if order_id in self.reserved:
            return  # reserved by an earlier try of the same step
        self.require_available(quantity)
        self.trigger("StockReserved", product_id=self.id, cooperative_id=self.cooperative_id,
                     order_id=order_id, quantity=quantity)

    def release(self, order_id: str) -> None:
        if order_id in self.reserved:
            self.trigger("StockReleased", product_id=self.id, cooperative_id=self.cooperative_id,
                         order_id=order_id, quantity=self.reserved[order_id])

    def sell(self, order_id: str) -> None:
        if order_id in self.reserved:
            self.trigger("StockSold", product_id=self.id, cooperative_id=self.cooperative_id,
                         order_id=order_id, quantity=self.reserved[order_id])

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.details, "price": self.price, "stock_available": self.available,
                "delisted": self.delisted}

    # -- state ----------------------------------------------------------------------------------
    def apply_ProductListed(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]
        self.name, self.price, self.on_hand = data["name"], data["price"], data["stock"]
        self.details = {key: data[key] for key in DETAILS}

    def apply_ProductPriceChanged(self, data: dict) -> None:
        self.price = data["price"]

    def apply_ProductStockAdded(self, data: dict) -> None:
        self.on_hand += data["quantity"]

    def apply_ProductDelisted(self, data: dict) -> None:
        self.delisted = True

    def apply_StockReserved(self, data: dict) -> None:
        self.reserved[data["order_id"]] = data["quantity"]

    def apply_StockReleased(self, data: dict) -> None:
        self.reserved.pop(data["order_id"], None)

    def apply_StockSold(self, data: dict) -> None:
        self.on_hand -= self.reserved.pop(data["order_id"], 0)


def _positive(field: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise invalid(field, f"{field} must be a positive integer")
