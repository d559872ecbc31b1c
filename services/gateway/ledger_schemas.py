"""The Ledger slice's shapes (http-api.md, Ledger). Request bodies and the report periods are
the ledger service's own schemas (its rules in one place); the responses are the gateway's."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.ledger import schemas as ledger
from services.ledger.accounting import ACCOUNT_TYPES, SAVINGS_KINDS, SHU_POOLS

from .schemas import DateText, NextCursor, Page

# -- requests -----------------------------------------------------------------------------
AddAccount = ledger.AccountRequestSchema
ChangeAccount = ledger.AccountChangeSchema
PostJournalEntry = ledger.JournalEntryRequestSchema
SavingsMovement = ledger.MovementRequestSchema
AccountQuery = Page
# `from` is a query name no attribute can have; the ledger checks how the dates go together.
ReportPeriod = Schema.from_dict({
    "as_of": fields.Date(metadata={"description": "a balance as of this date (default today)"}),
    "from": fields.Date(metadata={"description": "a period's first day, with `to`"}),
    "to": fields.Date(metadata={"description": "a period's last day, with `from`"})}, name="ReportPeriod")
StatementPeriod = Schema.from_dict({
    "from": fields.Date(metadata={"description": "default: 1 January of `to`'s year"}),
    "to": fields.Date(metadata={"description": "default: today"})}, name="StatementPeriod")


class Reverse(Schema):
    pass


class CloseFiscalYear(Schema):
    pass


ShuPayout = ledger.ShuPayoutSchema


# -- responses ----------------------------------------------------------------------------
_Money = fields.Integer  # integer rupiah


class Account(Schema):
    code = fields.String()
    name = fields.String()
    type = fields.String(validate=validate.OneOf(ACCOUNT_TYPES))
    normal_balance = fields.String(validate=validate.OneOf(("debit", "credit")))
    balance = _Money(metadata={"description": "on the account's normal side, all entries so far"})
    active = fields.Boolean(metadata={"description": "false: deactivated, takes no new lines"})


class AccountPage(Schema):
    items = fields.List(fields.Nested(Account))
    next = NextCursor()


class EntryLine(Schema):
    account = fields.String()
    debit = _Money()
    credit = _Money()
    member_id = fields.String(allow_none=True)


class EntrySource(Schema):
    service = fields.String()
    id = fields.String()


class JournalEntry(Schema):
    id = fields.String()
    cooperative_id = fields.String()
    date = DateText()
    memo = fields.String(allow_none=True)
    kind = fields.String(metadata={"description": "manual, integration, savings, reversal or closing"})
    lines = fields.List(fields.Nested(EntryLine))
    business_activity = fields.Boolean(allow_none=True)
    source = fields.Nested(EntrySource, allow_none=True)
    reverses = fields.String(allow_none=True)
    reversed_by = fields.String(allow_none=True)


class Actor(Schema):
    role = fields.String(metadata={"description": "the token's role (a request through the API)"})
    subject = fields.String(metadata={"description": "the member, partner or cooperative the token names"})
    service = fields.String(metadata={"description": "the service that posted (a reaction or integration)"})
    event = fields.String(metadata={"description": "the event type it reacted to"})
    event_id = fields.String()
    source = fields.String(metadata={"description": "the posting service's own id (integration path)"})


class JournalLine(JournalEntry):
    voucher = fields.String(metadata={"description": "YYYY/NNNNNN: sequential per cooperative and year"})
    voucher_number = fields.Integer()
    actor = fields.Nested(Actor, allow_none=True, metadata={"description": "who posted it (null: before "
                                                                          "actors were recorded)"})


class JournalPage(Schema):
    items = fields.List(fields.Nested(JournalLine))
    next = NextCursor()


JournalQuery = Schema.from_dict({
    "from": fields.Date(metadata={"description": "first date"}),
    "to": fields.Date(metadata={"description": "last date"}),
    "account": fields.String(metadata={"description": "entries with a line on this account"}),
    "member_id": fields.String(metadata={"description": "entries with a line naming this member"}),
    "limit": fields.Integer(load_default=50, validate=validate.Range(1, 200)),
    "cursor": fields.String(metadata={"description": "`next` of the previous page"})}, name="JournalQuery")


class ReversedEntry(JournalEntry):
    reversal = fields.Nested(JournalEntry, metadata={"description": "the reversing entry"})


class Savings(Schema):
    cooperative_id = fields.String()
    member_id = fields.String()
    status = fields.String(validate=validate.OneOf(("open", "closed")))
    pokok = _Money()
    wajib = _Money()
    sukarela = _Money()
    total = _Money()
    pokok_amount = _Money(metadata={"description": "simpanan pokok due once, by the bylaws"})
    pokok_paid = fields.Boolean()
    wajib_amount = _Money(metadata={"description": "simpanan wajib per period, by the bylaws"})


class SavingsMovementResult(Savings):
    entry_id = fields.String(allow_none=True, metadata={"description": "the movement's journal entry"})


class Balances(Schema):
    pokok = _Money()
    wajib = _Money()
    sukarela = _Money()


class StatementLine(Schema):
    date = DateText()
    kind = fields.String(validate=validate.OneOf(SAVINGS_KINDS))
    movement = fields.String(validate=validate.OneOf(("deposit", "withdrawal", "return", "reversal", "shu")))
    amount = _Money(metadata={"description": "signed: a withdrawal or return is negative"})
    entry_id = fields.String(allow_none=True)


class BusinessLine(Schema):
    date = DateText()
    amount = _Money()
    entry_id = fields.String()


class MemberStatement(Schema):
    cooperative_id = fields.String()
    member_id = fields.String()
    from_ = DateText(data_key="from", attribute="from")
    to = DateText()
    opening = fields.Nested(Balances)
    movements = fields.List(fields.Nested(StatementLine))
    closing = fields.Nested(Balances)
    business = fields.List(fields.Nested(BusinessLine), metadata={"description": "jasa usaha in the period"})
    jasa_usaha = _Money()


class ReportRow(Schema):
    code = fields.String()
    name = fields.String()
    type = fields.String()
    debit = _Money()
    credit = _Money()
    balance = _Money()


class TrialBalanceRow(ReportRow):
    opening = _Money(metadata={"description": "balance before `from` (0 for an as-of report)"})
    closing = _Money(metadata={"description": "opening + the period's movements (= balance)"})


class IncomeRow(ReportRow):
    member = _Money(metadata={"description": "partisipasi anggota: on lines naming a member"})
    non_member = _Money(metadata={"description": "business with non-members"})


class _Report(Schema):
    cooperative_id = fields.String()
    report = fields.String()


class TrialBalance(_Report):
    as_of = DateText()
    from_ = DateText(data_key="from", attribute="from")
    to = DateText()
    accounts = fields.List(fields.Nested(TrialBalanceRow))
    total_debit = _Money()
    total_credit = _Money()
    balanced = fields.Boolean()


class BalanceSheet(_Report):
    as_of = DateText()
    assets = fields.List(fields.Nested(ReportRow))
    liabilities = fields.List(fields.Nested(ReportRow))
    equity = fields.List(fields.Nested(ReportRow))
    current_result = _Money(metadata={"description": "income − expenses not yet closed into SHU"})
    total_assets = _Money()
    total_liabilities = _Money()
    total_equity = _Money()
    total_liabilities_and_equity = _Money()
    balanced = fields.Boolean()


class IncomeStatement(_Report):
    from_ = DateText(data_key="from", attribute="from")
    to = DateText()
    income = fields.List(fields.Nested(IncomeRow))
    expenses = fields.List(fields.Nested(ReportRow))
    total_income = _Money()
    member_income = _Money(metadata={"description": "partisipasi anggota (members' business)"})
    non_member_income = _Money()
    total_expenses = _Money()
    shu = _Money()


class ShuLine(Schema):
    member_id = fields.String()
    jasa_modal = _Money()
    jasa_usaha = _Money()
    total = _Money()
    paid = fields.Boolean(metadata={"description": "paid out (to sukarela, in cash, or on exit)"})


class ShuResult(Schema):
    cooperative_id = fields.String()
    fiscal_year = fields.Integer()
    date = DateText()  # the day the year was closed
    shu = _Money(metadata={"description": "income − expenses of the fiscal year; a loss is negative"})
    pools = fields.Dict(keys=fields.String(validate=validate.OneOf(SHU_POOLS)), values=_Money())
    members = fields.List(fields.Nested(ShuLine),
                          metadata={"description": "a member sees their own line only"})
    loss_covered_by_reserve = _Money(metadata={"description": "a loss year: the part the reserve covered"})
    carried_loss_covered = _Money(metadata={"description": "earlier years' loss covered before any pool"})
    carried_loss = _Money(metadata={"description": "losses still carried forward after this close"})
