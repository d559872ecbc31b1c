"""The edge of financing: event payload schemas (validated on append; the event contract other
services and partners rely on) and the request schemas the RPC interface and the gateway use.

Terms are checked per product by the domain (products.checked_terms); here they are an object.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from marshmallow import Schema, fields
from marshmallow.validate import Length, OneOf, Range

from shared.registry import EventRegistry

from .lifecycle import STATUSES
from .products import MAX_MONEY, MAX_TENOR, PARTNER_KINDS, PRODUCTS

registry = EventRegistry("financing")
WIB = timezone(timedelta(hours=7), "WIB")  # every kopnet cooperative is in West Java
CONTRACT_ACTIONS = ("approve", "reject", "sign", "disburse", "write-off")


def local_today():
    return datetime.now(WIB).date()


def Money(minimum: int = 1, **kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    return fields.Integer(strict=True, validate=Range(minimum, MAX_MONEY), **kwargs)


# -- requests -----------------------------------------------------------------------------------
class PartnerRequestSchema(Schema):
    name = fields.String(required=True, validate=Length(1, 200))
    kind = fields.String(required=True, validate=OneOf(PARTNER_KINDS))


class GuaranteeSchema(Schema):
    partner_id = fields.String(required=True, validate=Length(1, 100))
    coverage_percent = fields.Integer(required=True, strict=True, validate=Range(1, 100))
    fee = Money(0, required=True, metadata={"description": "agreed at signing, paid by the cooperative"})


class ApplicationRequestSchema(Schema):
    member_id = fields.String(required=True, validate=Length(1, 100))
    product = fields.String(required=True, validate=OneOf(PRODUCTS))
    terms = fields.Dict(required=True, metadata={"description": "the product's terms (http-api.md)"})
    partner_id = fields.String(load_default=None, allow_none=True, validate=Length(1, 100))
    partner_share_percent = fields.Integer(load_default=0, strict=True, validate=Range(0, 100), metadata={
        "description": "a funding partner's agreed share of the margin and profit received"})
    guarantee = fields.Nested(GuaranteeSchema, load_default=None, allow_none=True)
    applied_on = fields.Date(load_default=None, allow_none=True, metadata={"description": "default today"})


class DatedRequestSchema(Schema):
    date = fields.Date(load_default=None, allow_none=True, metadata={"description": "default today"})


class RejectRequestSchema(DatedRequestSchema):
    reason = fields.String(required=True, validate=Length(1, 500))


class PaymentRequestSchema(Schema):
    amount = Money(required=True)
    date = fields.Date(required=True)


class RestructureRequestSchema(DatedRequestSchema):
    tenor_months = fields.Integer(required=True, strict=True, validate=Range(1, MAX_TENOR))
    first_due_on = fields.Date(required=True)


class ProfitReportRequestSchema(Schema):
    period_end = fields.Date(required=True)
    actual_profit = fields.Integer(required=True, strict=True, validate=Range(-MAX_MONEY, MAX_MONEY),
                                   metadata={"description": "a loss is negative"})
    negligence = fields.Boolean(load_default=False)


class ClaimRequestSchema(Schema):
    date = fields.Date(required=True)


class ContractFiltersSchema(Schema):
    status = fields.String(validate=OneOf(STATUSES))
    product = fields.String(validate=OneOf(PRODUCTS))
    member_id = fields.String(validate=Length(1, 100))


# -- events (plain JSON: dates as YYYY-MM-DD strings) -------------------------------------------
_Day = fields.Date


@registry.event("PartnerRegistered")
class PartnerRegistered(Schema):
    partner_id = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=OneOf(PARTNER_KINDS))


class _Line(Schema):
    account = fields.String(required=True)
    debit = fields.Integer(required=True, strict=True)
    credit = fields.Integer(required=True, strict=True)
    member_id = fields.String(required=True, allow_none=True)


class _Entry(Schema):
    date = _Day(required=True)
    memo = fields.String(required=True)
    lines = fields.List(fields.Nested(_Line), required=True, validate=Length(min=2))


class _Instalment(Schema):
    due_on = _Day(required=True)
    amount = fields.Integer(required=True, strict=True)
    fee = fields.Integer(required=True, strict=True)
    paid = fields.Integer(required=True, strict=True)
    status = fields.String(required=True, validate=OneOf(("due", "paid", "late")))


class _Part(Schema):
    due_on = _Day(required=True)
    amount = fields.Integer(required=True, strict=True)
    fee = fields.Integer(strict=True)


class _SharePart(Schema):
    period_end = _Day(required=True)
    amount = fields.Integer(required=True, strict=True)


@registry.event("ContractApplied")
class ContractApplied(Schema):
    contract_id = fields.String(required=True)
    cooperative_id = fields.String(required=True)
    member_id = fields.String(required=True)
    product = fields.String(required=True, validate=OneOf(PRODUCTS))
    terms = fields.Dict(required=True)
    partner_id = fields.String(required=True, allow_none=True)
    guarantee = fields.Nested(GuaranteeSchema, required=True, allow_none=True)
    applied_on = _Day(required=True)
    partner_share_percent = fields.Integer(required=True, strict=True)


class _ContractEvent(Schema):
    """Every contract event after the first: its contract, tenant and the status it leaves."""

    contract_id = fields.String(required=True)
    cooperative_id = fields.String(required=True)
    status = fields.String(required=True, validate=OneOf(STATUSES))


class _MoneyEvent(_ContractEvent):
    """`entry`: the balanced journal entry this movement posts in the cooperative's books."""

    entry = fields.Nested(_Entry, required=True, allow_none=True)


def _event(name: str, base: type[Schema], **extra: fields.Field) -> None:
    registry.register(name, base.from_dict(extra, name=name))


_repaid: dict[str, fields.Field] = {"instalments": fields.List(fields.Nested(_Part), required=True),
           "margin_recognised": fields.Integer(required=True, strict=True),
           "partner_margin": fields.Integer(required=True, strict=True),
           "partner_principal": fields.Integer(required=True, strict=True)}
_event("ContractApproved", _ContractEvent, approved_on=_Day(required=True))
_event("ContractRejected", _ContractEvent, rejected_on=_Day(required=True),
       reason=fields.String(required=True))
_event("ContractSigned", _MoneyEvent, signed_on=_Day(required=True),
       schedule=fields.List(fields.Nested(_Instalment), required=True))
_event("ContractDisbursed", _MoneyEvent, disbursed_on=_Day(required=True))
_event("InstalmentLate", _ContractEvent, due_on=_Day(required=True), on=_Day(required=True))
_event("LateFeeCharged", _ContractEvent, due_on=_Day(required=True), amount=Money(required=True),
       on=_Day(required=True))
_event("LateFeeWaived", _ContractEvent, due_on=_Day(required=True), amount=Money(required=True),
       waived_on=_Day(required=True))
_event("PaymentReceived", _MoneyEvent, payment_id=fields.String(required=True), date=_Day(required=True),
       amount=Money(required=True), late_fees=fields.List(fields.Nested(_Part), required=True),
       profit_shares=fields.List(fields.Nested(_SharePart), required=True),
       partner_profit=fields.Integer(required=True, strict=True), **_repaid)
_event("GuaranteeClaimed", _MoneyEvent, claimed_on=_Day(required=True), amount=Money(0, required=True),
       guarantor_id=fields.String(required=True), **_repaid)
_event("ProfitReported", _MoneyEvent, period_end=_Day(required=True),
       actual_profit=fields.Integer(required=True, strict=True), negligence=fields.Boolean(required=True),
       coop_share=fields.Integer(required=True, strict=True),
       member_share=fields.Integer(required=True, strict=True),
       loss_borne=fields.Integer(required=True, strict=True),
       reductions=fields.List(fields.Nested(_Part), required=True))
_event("ContractRestructured", _ContractEvent, restructured_on=_Day(required=True),
       tenor_months=fields.Integer(required=True, strict=True), first_due_on=_Day(required=True),
       schedule=fields.List(fields.Nested(_Instalment), required=True))
_event("ContractSettled", _ContractEvent, settled_on=_Day(required=True))
_event("OwnershipTransferred", _MoneyEvent, transferred_on=_Day(required=True))
_event("ContractWrittenOff", _MoneyEvent, written_off_on=_Day(required=True), amount=Money(0, required=True))
