from marshmallow import Schema, fields

from shared.registry import EventRegistry

registry = EventRegistry("bank")


@registry.event("AccountOpened")
class AccountOpened(Schema):
    cooperative_id = fields.String(required=True)
    owner = fields.String(required=True)


@registry.event("Deposited")
class Deposited(Schema):
    amount = fields.Integer(required=True, strict=True)


@registry.event("Withdrawn")
class Withdrawn(Schema):
    amount = fields.Integer(required=True, strict=True)


@registry.event("AccountClosed")
class AccountClosed(Schema):
    balance_returned = fields.Integer(required=True, strict=True)
