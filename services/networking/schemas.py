"""The edge of networking: event payload schemas (validated on append) and the request schemas
the gateway uses too (one definition of the rules: categories, positive integers, parties)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Range

from shared.registry import EventRegistry

from .domain import CATEGORIES
from .orders import PAYMENTS

registry = EventRegistry("networking")
ORDER_STATUSES = ("placed", "confirmed", "shipped", "delivered", "settled", "cancelled", "failed")
PARTNERSHIP_STATUSES = ("proposed", "active", "ended")
MAX_QUANTITY = 1_000_000


def Count(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    return fields.Integer(strict=True, validate=Range(1, 10**12), **kwargs)


# -- requests ---------------------------------------------------------------------------------------
class ListProductSchema(Schema):
    name = fields.String(required=True, validate=Length(1, 200))
    category = fields.String(required=True, validate=OneOf(CATEGORIES))
    unit = fields.String(required=True, validate=Length(1, 40))
    price = Count(required=True)
    stock = fields.Integer(strict=True, required=True, validate=Range(0, 10**9))
    description = fields.String(load_default="", validate=Length(max=2000))
    halal_certificate = fields.String(load_default=None, allow_none=True, validate=Length(1, 100))
    opop = fields.Boolean(load_default=False)


class ChangeProductSchema(Schema):
    price = Count()
    stock_added = fields.Integer(strict=True, validate=Range(1, 10**9))
    delisted = fields.Boolean()

    @validates_schema
    def _something(self, data, **kwargs) -> None:
        if not data:
            raise ValidationError("give price, stock_added or delisted", "_schema")


class PartySchema(Schema):
    cooperative_id = fields.String(validate=Length(1, 100))
    partner_id = fields.String(validate=Length(1, 100))

    @validates_schema
    def _one(self, data, **kwargs) -> None:
        if len(data) != 1:
            raise ValidationError("a party is {cooperative_id} or {partner_id}", "_schema")


class BuyerSchema(Schema):
    cooperative_id = fields.String(required=True, validate=Length(1, 100))
    member_id = fields.String(validate=Length(1, 100))


class OrderLineSchema(Schema):
    product_id = fields.String(required=True, validate=Length(1, 100))
    quantity = fields.Integer(strict=True, required=True, validate=Range(1, MAX_QUANTITY))


class PlaceOrderSchema(Schema):
    buyer = fields.Nested(BuyerSchema, required=True)
    seller_cooperative_id = fields.String(required=True, validate=Length(1, 100))
    lines = fields.List(fields.Nested(OrderLineSchema), required=True, validate=Length(1, 100))
    payment = fields.String(required=True, validate=OneOf(PAYMENTS))


class ProposePartnershipSchema(Schema):
    title = fields.String(required=True, validate=Length(1, 200))
    parties = fields.List(fields.Nested(PartySchema), required=True, validate=Length(2, 20))
    feed_entitled = fields.Boolean(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(load_default=None, allow_none=True)


class CatalogQuerySchema(Schema):
    q = fields.String(validate=Length(1, 200))
    category = fields.String(validate=OneOf(CATEGORIES))
    regency = fields.String(validate=Length(1, 60))
    cooperative = fields.String(validate=Length(1, 100))
    halal = fields.Boolean()
    opop = fields.Boolean()
    limit = fields.Integer(strict=True, validate=Range(1, 200), load_default=50)
    cursor = fields.String(load_default=None, allow_none=True)


# -- events ------------------------------------------------------------------------------------------
class _Tenant(Schema):
    cooperative_id = fields.String(required=True, allow_none=True)


@registry.event("CooperativeRecorded")
class CooperativeRecorded(_Tenant):
    name = fields.String(required=True)
    regency = fields.String(required=True)
    is_pesantren = fields.Boolean(required=True)


registry.register("CooperativeDissolutionRecorded", _Tenant)


@registry.event("ProductListed")
class ProductListed(_Tenant):
    product_id = fields.String(required=True)
    name = fields.String(required=True)
    category = fields.String(required=True, validate=OneOf(CATEGORIES))
    unit = fields.String(required=True)
    price = Count(required=True)
    stock = fields.Integer(required=True, strict=True, validate=Range(min=0))
    description = fields.String(required=True)
    halal_certificate = fields.String(required=True, allow_none=True)
    opop = fields.Boolean(required=True)
    seller_name = fields.String(required=True)
    seller_regency = fields.String(required=True)
    listed_at = fields.String(required=True)


class _ProductEvent(_Tenant):
    product_id = fields.String(required=True)


@registry.event("ProductPriceChanged")
class ProductPriceChanged(_ProductEvent):
    price = Count(required=True)


@registry.event("ProductStockAdded")
class ProductStockAdded(_ProductEvent):
    quantity = Count(required=True)


registry.register("ProductDelisted", _ProductEvent)


class _StockMovement(_ProductEvent):
    order_id = fields.String(required=True)
    quantity = Count(required=True)


for _name in ("StockReserved", "StockReleased", "StockSold"):
    registry.register(_name, _StockMovement)


class _OrderEvent(_Tenant):
    order_id = fields.String(required=True)
    at = fields.String(required=True)


class _Line(Schema):
    product_id = fields.String(required=True)
    name = fields.String(required=True)
    quantity = Count(required=True)
    unit_price = Count(required=True)
    amount = Count(required=True)


@registry.event("OrderPlaced")
class OrderPlaced(_OrderEvent):
    buyer = fields.Nested(BuyerSchema, required=True)
    seller_cooperative_id = fields.String(required=True)
    lines = fields.List(fields.Nested(_Line), required=True)
    total = Count(required=True)
    payment = fields.String(required=True, validate=OneOf(PAYMENTS))


for _name in ("OrderConfirmed", "OrderShipped"):
    registry.register(_name, _OrderEvent)


@registry.event("OrderDelivered")
class OrderDelivered(_OrderEvent):
    delivered_on = fields.String(required=True)
    buyer = fields.Nested(BuyerSchema, required=True)
    payment = fields.String(required=True, validate=OneOf(PAYMENTS))
    total = Count(required=True)


@registry.event("OrderCancelled")
class OrderCancelled(_OrderEvent):
    by = fields.String(required=True, validate=OneOf(("buyer", "seller")))


@registry.event("OrderSettled")
class OrderSettled(_OrderEvent):
    seller_cooperative_id = fields.String(required=True)
    buyer = fields.Nested(BuyerSchema, required=True)
    total = Count(required=True)
    entries = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


@registry.event("OrderFailed")
class OrderFailed(_OrderEvent):
    code = fields.String(required=True)
    reason = fields.String(required=True)


class _PartnershipEvent(_Tenant):
    partnership_id = fields.String(required=True)


@registry.event("PartnershipProposed")
class PartnershipProposed(_PartnershipEvent):
    title = fields.String(required=True)
    parties = fields.List(fields.Nested(PartySchema), required=True)
    feed_entitled = fields.Boolean(required=True)
    starts_on = fields.String(required=True)
    ends_on = fields.String(required=True, allow_none=True)


@registry.event("PartnershipSigned")
class PartnershipSigned(_PartnershipEvent):
    party = fields.Nested(PartySchema, required=True)


@registry.event("PartnershipActivated")
class PartnershipActivated(_PartnershipEvent):
    parties = fields.List(fields.Nested(PartySchema), required=True)
    feed_entitled = fields.Boolean(required=True)
    activated_on = fields.String(required=True)


@registry.event("PartnershipEnded")
class PartnershipEnded(_PartnershipEvent):
    parties = fields.List(fields.Nested(PartySchema), required=True)
    feed_entitled = fields.Boolean(required=True)
    ended_on = fields.String(required=True)
