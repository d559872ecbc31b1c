"""The Networking slice's shapes (http-api.md, Networking). Request bodies are the networking
service's own schemas (its rules in one place); query strings and responses are the gateway's."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.membership.domain import REGENCIES
from services.networking import schemas as networking
from services.networking.domain import CATEGORIES

from .schemas import NextCursor, Page, Text

__all__ = ["Page"]

# -- requests -----------------------------------------------------------------------------
ListProduct = networking.ListProductSchema
ChangeProduct = networking.ChangeProductSchema
PlaceOrder = networking.PlaceOrderSchema
ProposePartnership = networking.ProposePartnershipSchema


class Step(Schema):
    pass


class CatalogQuery(Page):
    q = Text(metadata={"description": "words of the name or description, any case"})
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    regency = fields.String(validate=validate.OneOf(REGENCIES))
    cooperative = Text(100, metadata={"description": "the seller's cooperative id"})
    halal = fields.Boolean(metadata={"description": "true: only products with a halal certificate"})
    opop = fields.Boolean(metadata={"description": "true: only One Pesantren One Product products"})


class OrderQuery(Page):
    status = fields.String(validate=validate.OneOf(networking.ORDER_STATUSES))


# -- responses ----------------------------------------------------------------------------
class CatalogItem(Schema):
    id = fields.String()
    cooperative_id = fields.String()
    seller_name = fields.String()
    seller_regency = fields.String()
    name = fields.String()
    category = fields.String()
    unit = fields.String()
    price = fields.Integer(metadata={"description": "integer rupiah per unit"})
    description = fields.String()
    halal_certificate = fields.String(allow_none=True)
    opop = fields.Boolean()
    stock_available = fields.Integer(metadata={"description": "on hand less what confirmed orders reserve"})


class Product(CatalogItem):
    delisted = fields.Boolean()


class CatalogPage(Schema):
    items = fields.List(fields.Nested(CatalogItem))
    next = NextCursor()


class OrderedLine(Schema):
    product_id = fields.String()
    name = fields.String()
    quantity = fields.Integer()
    unit_price = fields.Integer()
    amount = fields.Integer()


class StatusChange(Schema):
    status = fields.String()
    at = fields.String(metadata={"format": "date-time"})


class Failure(Schema):
    code = fields.String()
    reason = fields.String()


class Order(Schema):
    id = fields.String()
    buyer = fields.Nested(networking.BuyerSchema)
    seller_cooperative_id = fields.String()
    lines = fields.List(fields.Nested(OrderedLine))
    total = fields.Integer()
    payment = fields.String()
    status = fields.String(validate=validate.OneOf(networking.ORDER_STATUSES))
    history = fields.List(fields.Nested(StatusChange))
    failure = fields.Nested(Failure, allow_none=True, metadata={"description": "why a failed order failed"})


class OrderPage(Schema):
    items = fields.List(fields.Nested(Order))
    next = NextCursor()


class Partnership(Schema):
    id = fields.String()
    title = fields.String()
    parties = fields.List(fields.Nested(networking.PartySchema))
    signed = fields.List(fields.Nested(networking.PartySchema))
    feed_entitled = fields.Boolean()
    starts_on = fields.String(metadata={"format": "date"})
    ends_on = fields.String(allow_none=True, metadata={"format": "date"})
    status = fields.String(validate=validate.OneOf(networking.PARTNERSHIP_STATUSES))
    activated_on = fields.String(allow_none=True, metadata={"format": "date"})
    ended_on = fields.String(allow_none=True, metadata={"format": "date"})


class PartnershipPage(Schema):
    items = fields.List(fields.Nested(Partnership))
    next = NextCursor()
