"""The Financing slice's shapes (http-api.md, Financing). Request bodies are the financing
service's own schemas (its rules in one place); the responses are the gateway's."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.feed.schemas import FeedAccess
from services.financing import schemas as financing
from services.financing.schemas import PARTNER_KINDS, PRODUCTS, STATUSES

from .schemas import DateText, NextCursor, Page

# -- requests -----------------------------------------------------------------------------
RegisterPartner = financing.PartnerRequestSchema
ApplyFinancing = financing.ApplicationRequestSchema
Dated = financing.DatedRequestSchema
Reject = financing.RejectRequestSchema
Payment = financing.PaymentRequestSchema
Restructure = financing.RestructureRequestSchema
ProfitReport = financing.ProfitReportRequestSchema
GuaranteeClaim = financing.ClaimRequestSchema
PartnerQuery = Page


class ContractQuery(Page):
    status = fields.String(validate=validate.OneOf(STATUSES))
    product = fields.String(validate=validate.OneOf(PRODUCTS))
    member_id = fields.String(validate=validate.Length(1, 100))


# -- responses ----------------------------------------------------------------------------
_Money = fields.Integer  # integer rupiah


class Partner(Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String(validate=validate.OneOf(PARTNER_KINDS))


class RegisteredPartner(Partner):
    feed = fields.Nested(FeedAccess)


class PartnerPage(Schema):
    items = fields.List(fields.Nested(Partner))
    next = NextCursor()


class GuaranteeTerms(Schema):
    partner_id = fields.String()
    coverage_percent = fields.Integer()
    fee = _Money()


class Instalment(Schema):
    due_on = DateText()
    amount = _Money()
    paid = _Money()
    status = fields.String(validate=validate.OneOf(("due", "paid", "late")))


class LateFee(Schema):
    due_on = DateText()
    amount = _Money()
    paid = _Money()
    waived = fields.Boolean()


class ProfitReportRecord(Schema):
    period_end = DateText()
    actual_profit = _Money(metadata={"description": "a loss is negative"})
    negligence = fields.Boolean()
    coop_share = _Money(metadata={"description": "the cooperative's share by nisbah, due at once"})
    member_share = _Money()
    loss_borne = _Money(metadata={"description": "the part of a loss the capital provider bore"})
    paid = _Money()


class Contract(Schema):
    id = fields.String()
    cooperative_id = fields.String()
    member_id = fields.String()
    product = fields.String(validate=validate.OneOf(PRODUCTS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    terms = fields.Dict(metadata={"description": "the product's terms as applied for"})
    partner_id = fields.String(allow_none=True, metadata={"description": "the funding partner, if any"})
    partner_share_percent = fields.Integer()
    guarantee = fields.Nested(GuaranteeTerms, allow_none=True, metadata={"description": "kafalah, if any"})
    price = _Money(allow_none=True, metadata={"description": "murabahah cost + margin; ijarah the rents"})
    outstanding = _Money(metadata={"description": "instalments not yet paid"})
    paid = _Money(metadata={"description": "paid on instalments (late fees and profit shares apart)"})
    margin_recognised = _Money(metadata={"description": "murabahah margin recognised as income so far"})
    guarantee_claimed = _Money(allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "why it was rejected"})
    dates = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "applied_on, approved_on, signed_on, disbursed_on, ..."})
    schedule = fields.List(fields.Nested(Instalment))
    late_fees = fields.List(fields.Nested(LateFee))
    profit_reports = fields.List(fields.Nested(ProfitReportRecord))


class ContractPage(Schema):
    items = fields.List(fields.Nested(Contract))
    next = NextCursor()
