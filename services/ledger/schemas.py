"""The edge of the ledger: event payload schemas (validated on append) and the request
schemas that the RPC interface and the gateway use (validation and OpenAPI)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Range, Regexp

from shared.registry import EventRegistry

from .accounting import ACCOUNT_TYPES, MAX_AMOUNT, SAVINGS_KINDS, SHU_POOLS
from .claims import SHU_PAYOUT_TARGETS

registry = EventRegistry("ledger")

REPORTS = ("trial-balance", "balance-sheet", "income-statement")
ENTRY_KINDS = ("manual", "integration", "savings", "reversal", "closing", "shu_payout")


def Money(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    return fields.Integer(strict=True, validate=Range(min=1, max=MAX_AMOUNT), **kwargs)


def Amount(**kwargs) -> fields.Integer:  # noqa: N802
    return fields.Integer(strict=True, validate=Range(min=0, max=MAX_AMOUNT), **kwargs)


_code = Regexp(r"^[0-9]{3,10}$", error="an account code is 3 to 10 digits")


# -- requests -----------------------------------------------------------------------------------
class AccountRequestSchema(Schema):
    code = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=Length(1, 200))
    type = fields.String(required=True, validate=OneOf(ACCOUNT_TYPES))


class AccountChangeSchema(Schema):
    """PATCH an account: a new `name`, and/or `active` false (no new lines) or true."""

    name = fields.String(validate=Length(1, 200))
    active = fields.Boolean()

    @validates_schema
    def _something(self, data, **kwargs) -> None:
        if not data:
            raise ValidationError("give name or active", "_schema")


class LineSchema(Schema):
    account = fields.String(required=True, validate=_code)
    debit = Amount(load_default=0)
    credit = Amount(load_default=0)
    member_id = fields.String(load_default=None, allow_none=True, validate=Length(1, 100))


class JournalEntryRequestSchema(Schema):
    date = fields.Date(required=True)
    memo = fields.String(load_default="", validate=Length(max=500))
    lines = fields.List(fields.Nested(LineSchema), required=True, validate=Length(2, 500))


class SourceSchema(Schema):
    """Who posts through the integration path: the service and its own id for the posting."""

    service = fields.String(required=True, validate=Length(1, 50))
    id = fields.String(required=True, validate=Length(1, 200))


class MovementRequestSchema(Schema):
    amount = Money(required=True)
    date = fields.Date(required=True)


class SavingsKindSchema(Schema):
    kind = fields.String(required=True, validate=OneOf(SAVINGS_KINDS))


class PeriodSchema(Schema):
    """`as_of`, or `from` and `to`; neither means as of today."""

    as_of = fields.Date(load_default=None, allow_none=True)
    from_ = fields.Date(load_default=None, allow_none=True, data_key="from")
    to = fields.Date(load_default=None, allow_none=True)

    @validates_schema
    def _one_way(self, data, **kwargs) -> None:
        if data.get("as_of") and (data.get("from_") or data.get("to")):
            raise ValidationError("give as_of, or from and to, not both", "as_of")
        if (data.get("from_") is None) != (data.get("to") is None):
            raise ValidationError("from and to go together", "from" if data.get("from_") is None else "to")
        if data.get("from_") and data["from_"] > data["to"]:
            raise ValidationError("from is after to", "from")


class StatementPeriodSchema(Schema):
    """`from` and `to`, each optional: to today, from the start of `to`'s year."""

    from_ = fields.Date(load_default=None, allow_none=True, data_key="from")
    to = fields.Date(load_default=None, allow_none=True)

    @validates_schema
    def _ordered(self, data, **kwargs) -> None:
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ValidationError("from is after to", "from")


class JournalQuerySchema(StatementPeriodSchema):
    """The journal's filters and paging: `from`/`to` (dates), `account`, `member_id`."""

    account = fields.String(load_default=None, allow_none=True, validate=_code)
    member_id = fields.String(load_default=None, allow_none=True, validate=Length(1, 100))
    limit = fields.Integer(strict=True, load_default=50, validate=Range(1, 500))
    cursor = fields.String(load_default=None, allow_none=True, validate=Regexp(
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\|[0-9]+$", error="invalid cursor"))


class ShuPayoutSchema(Schema):
    date = fields.Date(required=True)
    to = fields.String(required=True, validate=OneOf(SHU_PAYOUT_TARGETS))


class ReportRequestSchema(PeriodSchema):
    name = fields.String(required=True, validate=OneOf(REPORTS))


class FiscalYearSchema(Schema):
    fiscal_year = fields.Integer(required=True, strict=True, validate=Range(1900, 2999))


# -- events (plain JSON: dates as YYYY-MM-DD strings) -------------------------------------------
class _Event(Schema):
    """Every event records who caused it (the audit trail): {role, subject} of the token the
    gateway passed, or {service, event, event_id} of the event a policy reacted to. Optional:
    events stored before it was recorded have none (null when read)."""

    actor = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)


_Day = fields.Date


class _Line(Schema):
    account = fields.String(required=True)
    debit = Amount(required=True)
    credit = Amount(required=True)
    member_id = fields.String(required=True, allow_none=True)


class _Share(Schema):
    member_id = fields.String(required=True)
    amount = fields.Integer(required=True, strict=True)


class _Account(Schema):
    code = fields.String(required=True, validate=_code)
    name = fields.String(required=True)
    type = fields.String(required=True, validate=OneOf(ACCOUNT_TYPES))


@registry.event("BooksOpened")
class BooksOpened(_Event):
    cooperative_id = fields.String(required=True)
    name = fields.String(required=True)
    opened_on = _Day(required=True)
    accounts = fields.List(fields.Nested(_Account), required=True)


@registry.event("AccountAdded")
class AccountAdded(_Account, _Event):
    cooperative_id = fields.String(required=True)


@registry.event("AccountRenamed")
class AccountRenamed(_Event):
    cooperative_id = fields.String(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)


@registry.event("AccountActivationChanged")
class AccountActivationChanged(_Event):
    cooperative_id = fields.String(required=True)
    code = fields.String(required=True)
    active = fields.Boolean(required=True)


@registry.event("AccountRemoved")
class AccountRemoved(_Event):
    cooperative_id = fields.String(required=True)
    code = fields.String(required=True)


@registry.event("MemberEnrolled")
class MemberEnrolled(_Event):
    cooperative_id = fields.String(required=True)
    member_id = fields.String(required=True)


@registry.event("RatResolutionRecorded")
class RatResolutionRecorded(_Event):
    cooperative_id = fields.String(required=True)
    fiscal_year = fields.Integer(required=True, strict=True)
    held_on = _Day(required=True)
    shu_allocation = fields.Dict(keys=fields.String(validate=OneOf(SHU_POOLS)),
                                 values=fields.Integer(strict=True), required=True)


# The corrected resolution, whole (membership's AnnualMeetingCorrected, before the year's close).
registry.register("RatResolutionCorrected", RatResolutionRecorded)


@registry.event("JournalEntryPosted")
class JournalEntryPosted(_Event):
    """`business_activity`: an ordinary posting that touches an income account (membership's
    health view). `member_business`: each named member's jasa usaha in this entry."""

    cooperative_id = fields.String(required=True)
    entry_id = fields.String(required=True)
    date = _Day(required=True)
    memo = fields.String(required=True)
    kind = fields.String(required=True, validate=OneOf(ENTRY_KINDS))
    lines = fields.List(fields.Nested(_Line), required=True, validate=Length(min=2))
    business_activity = fields.Boolean(required=True)
    member_business = fields.List(fields.Nested(_Share), required=True)
    source = fields.Nested(SourceSchema, required=True, allow_none=True)
    reverses = fields.String(required=True, allow_none=True)

    @validates_schema
    def _balanced(self, data, **kwargs) -> None:
        if sum(x["debit"] for x in data["lines"]) != sum(x["credit"] for x in data["lines"]):
            raise ValidationError("an entry's debits equal its credits", "lines")


@registry.event("JournalEntryReversed")
class JournalEntryReversed(_Event):
    cooperative_id = fields.String(required=True)
    entry_id = fields.String(required=True)
    reversal_id = fields.String(required=True)


@registry.event("FiscalYearClosing")
class FiscalYearClosing(_Event):
    cooperative_id = fields.String(required=True)
    fiscal_year = fields.Integer(required=True, strict=True)


class _ShuMember(Schema):
    member_id = fields.String(required=True)
    jasa_modal = fields.Integer(required=True, strict=True)
    jasa_usaha = fields.Integer(required=True, strict=True)
    total = fields.Integer(required=True, strict=True)


@registry.event("FiscalYearClosed")
class FiscalYearClosed(_Event):
    """`date`: the day the books were closed (membership's "reporting online")."""

    cooperative_id = fields.String(required=True)
    fiscal_year = fields.Integer(required=True, strict=True)
    date = _Day(required=True)
    shu = fields.Integer(required=True, strict=True)
    pools = fields.Dict(keys=fields.String(validate=OneOf(SHU_POOLS)), values=fields.Integer(strict=True),
                        required=True)
    members = fields.List(fields.Nested(_ShuMember), required=True)
    entry_ids = fields.List(fields.String(), required=True)
    # Absent from closes recorded before losses were carried (read as 0 / unchanged).
    loss_covered_by_reserve = fields.Integer(strict=True)
    carried_loss_covered = fields.Integer(strict=True)
    carried_loss = fields.Integer(strict=True, metadata={"description": "uncovered losses after this close"})


class _Savings(_Event):
    cooperative_id = fields.String(required=True)
    member_id = fields.String(required=True)


@registry.event("SavingsAccountOpened")
class SavingsAccountOpened(_Savings):
    opened_on = _Day(required=True)
    pokok_amount = Money(required=True)
    wajib_amount = Money(required=True)
    locked_through = fields.Integer(required=True, strict=True)


class _Movement(_Savings):
    kind = fields.String(required=True, validate=OneOf(SAVINGS_KINDS))
    amount = Money(required=True)
    date = _Day(required=True)
    entry_id = fields.String(required=True)


registry.register("SavingsDeposited", _Movement)
registry.register("SavingsWithdrawn", _Movement)


@registry.event("SavingsSettled")
class SavingsSettled(_Savings):
    date = _Day(required=True)
    returned = fields.Dict(keys=fields.String(validate=OneOf(SAVINGS_KINDS)),
                           values=fields.Integer(strict=True), required=True)
    entry_id = fields.String(required=True, allow_none=True)


@registry.event("SavingsMovementReversed")
class SavingsMovementReversed(_Savings):
    """`amount`: the change of the `kind` balance (the reversed movement's, negated)."""

    kind = fields.String(required=True, validate=OneOf(SAVINGS_KINDS))
    amount = fields.Integer(required=True, strict=True, validate=lambda n: n != 0)
    date = _Day(required=True)
    entry_id = fields.String(required=True)
    reversal_id = fields.String(required=True)


class _Paid(Schema):
    member_id = fields.String(required=True)
    amount = Money(required=True)
    to = fields.String(required=True, validate=OneOf(SHU_PAYOUT_TARGETS))


@registry.event("ShuPaidOut")
class ShuPaidOut(_Event):
    cooperative_id = fields.String(required=True)
    fiscal_year = fields.Integer(required=True, strict=True)
    date = _Day(required=True)
    members = fields.List(fields.Nested(_Paid), required=True)
    entry_id = fields.String(required=True, allow_none=True)


@registry.event("ShuCredited")
class ShuCredited(_Savings):
    fiscal_year = fields.Integer(required=True, strict=True)
    amount = Money(required=True)
    date = _Day(required=True)
    entry_id = fields.String(required=True)


@registry.event("ExitSettled")
class ExitSettled(_Event):
    """The books' side of a member's exit: unpaid SHU per year paid, receivables netted per account."""

    cooperative_id = fields.String(required=True)
    member_id = fields.String(required=True)
    date = _Day(required=True)
    shu_paid = fields.Dict(keys=fields.String(), values=fields.Integer(strict=True), required=True)
    receivables_netted = fields.Dict(keys=fields.String(), values=fields.Integer(strict=True), required=True)
    entry_id = fields.String(required=True)


@registry.event("BooksDissolved")
class BooksDissolved(_Event):
    cooperative_id = fields.String(required=True)
    dissolved_on = _Day(required=True)


@registry.event("SavingsYearLocked")
class SavingsYearLocked(_Savings):
    fiscal_year = fields.Integer(required=True, strict=True)
