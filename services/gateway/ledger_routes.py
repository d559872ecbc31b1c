"""The Ledger slice of /api/v1 (http-api.md, Ledger)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema

from . import access
from . import ledger_schemas as ledger
from .access import Policy
from .routing import COOP as _COOP
from .routing import MEMBER as _MEMBER
from .routing import Call, Route

REPORTS = {"trial_balance": "trial-balance", "balance_sheet": "balance-sheet",
           "income_statement": "income-statement"}
_REPORT_SHAPES = {"trial_balance": ledger.TrialBalance, "balance_sheet": ledger.BalanceSheet,
                  "income_statement": ledger.IncomeStatement}


def _ledger(name: str, method: str, path: str, allow: Policy, run: Callable[[Any, Call], Any],
            response: type[Schema], summary: str, **options: Any) -> Route:
    return Route(name, method, path, allow, run, response, summary, tags=("ledger",), service="ledger",
                 **options)


def _list_accounts(rpc: Any, call: Call) -> Any:
    """The chart in code order, paged by code."""
    accounts = sorted(rpc.list_accounts(call.path["cooperative_id"]), key=lambda a: a["code"])
    cursor, limit = call.query.get("cursor"), call.query["limit"]
    after = [a for a in accounts if cursor is None or a["code"] > cursor]
    page = after[:limit]
    return {"items": page, "next": page[-1]["code"] if len(after) > limit else None}


def _year(call: Call) -> Any:
    text = call.path["fiscal_year"]
    return int(text) if text.isdigit() else text  # anything else: the ledger answers validation_error


def _deposit(kind: str, allow: Policy) -> Route:
    return _ledger(
        f"deposit_{kind}", "POST", f"{_MEMBER}/savings/{kind}/deposits", allow,
        lambda rpc, c: rpc.deposit(c.path["cooperative_id"], c.path["member_id"], kind, c.body, c.context),
        ledger.SavingsMovementResult, f"Deposit simpanan {kind}; answers the member's savings",
        body=ledger.SavingsMovement, status=201)


def _report(name: str) -> Route:
    return _ledger(
        name, "GET", f"{_COOP}/reports/{REPORTS[name]}", access.coop_admin_or_network_admin,
        lambda rpc, c: rpc.report(c.path["cooperative_id"], REPORTS[name], c.query.get("as_of"),
                                  c.query.get("from"), c.query.get("to")),
        _REPORT_SHAPES[name], f"The {REPORTS[name].replace('-', ' ')}: `as_of` a date (default today), "
        "or `from` and `to`", query=ledger.ReportPeriod)


LEDGER_ROUTES = [
    _ledger("list_accounts", "GET", f"{_COOP}/accounts", access.coop_admin, _list_accounts,
            ledger.AccountPage, "The chart of accounts with balances", query=ledger.AccountQuery),
    _ledger("add_account", "POST", f"{_COOP}/accounts", access.coop_admin,
            lambda rpc, c: rpc.add_account(c.path["cooperative_id"], c.body, c.context),
            ledger.Account, "Add an account to the chart", body=ledger.AddAccount, status=201),
    _ledger("change_account", "PATCH", f"{_COOP}/accounts/{{code}}", access.coop_admin,
            lambda rpc, c: rpc.change_account(c.path["cooperative_id"], c.path["code"], c.body, c.context),
            ledger.Account, "Rename an account, or deactivate it (no new lines) or reactivate it",
            body=ledger.ChangeAccount),
    _ledger("remove_account", "DELETE", f"{_COOP}/accounts/{{code}}", access.coop_admin,
            lambda rpc, c: rpc.remove_account(c.path["cooperative_id"], c.path["code"], c.context),
            ledger.Account, "Remove an account nothing was posted to (else 422 account_has_movements: "
            "deactivate it)"),
    _ledger("post_journal_entry", "POST", f"{_COOP}/journal-entries", access.coop_admin,
            lambda rpc, c: rpc.post_journal_entry(c.path["cooperative_id"], c.body, c.context),
            ledger.JournalEntry, "Post a balanced journal entry; an income line naming a member is that "
            "member's business (jasa usaha)", body=ledger.PostJournalEntry, status=201),
    _ledger("list_journal", "GET", f"{_COOP}/journal-entries", access.coop_admin_or_network_admin,
            lambda rpc, c: rpc.list_journal(c.path["cooperative_id"], dict(c.query)),
            ledger.JournalPage, "The journal: entries by date and voucher number, each with who posted it; "
            "filters `from`, `to`, `account`, `member_id`", query=ledger.JournalQuery),
    _ledger("reverse_journal_entry", "POST", f"{_COOP}/journal-entries/{{entry_id}}/reverse",
            access.coop_admin,
            lambda rpc, c: rpc.reverse_journal_entry(c.path["cooperative_id"], c.path["entry_id"], c.context),
            ledger.ReversedEntry, "Reverse an entry (once) with a mirrored entry on its date: any entry but "
            "a closing one; a savings movement's balance follows (a sukarela deposit: not below zero)",
            body=ledger.Reverse),
    _deposit("pokok", access.coop_admin),
    _deposit("wajib", access.coop_admin),
    _deposit("sukarela", access.coop_admin_or_the_member),
    _ledger("withdraw_sukarela", "POST", f"{_MEMBER}/savings/sukarela/withdrawals",
            access.coop_admin_or_the_member,
            lambda rpc, c: rpc.withdraw(c.path["cooperative_id"], c.path["member_id"], c.body, c.context),
            ledger.SavingsMovementResult, "Withdraw simpanan sukarela (never below zero: 422 "
            "insufficient_balance)", body=ledger.SavingsMovement, status=201),
    _ledger("get_savings", "GET", f"{_MEMBER}/savings", access.coop_admin_or_the_member,
            lambda rpc, c: rpc.get_savings(c.path["cooperative_id"], c.path["member_id"]),
            ledger.Savings, "A member's savings balances per kind"),
    _ledger("member_statement", "GET", f"{_MEMBER}/statement", access.coop_admin_or_the_member,
            lambda rpc, c: rpc.member_statement(c.path["cooperative_id"], c.path["member_id"],
                                                c.query.get("from"), c.query.get("to")),
            ledger.MemberStatement, "A member's savings movements and business in a period",
            query=ledger.StatementPeriod),
    *[_report(name) for name in REPORTS],
    _ledger("close_fiscal_year", "POST", f"{_COOP}/fiscal-years/{{fiscal_year}}/close", access.coop_admin,
            lambda rpc, c: rpc.close_fiscal_year(c.path["cooperative_id"], _year(c), c.context),
            ledger.ShuResult, "Close a fiscal year: needs its RAT resolution; computes and distributes "
            "SHU and locks the year; closing again changes nothing", body=ledger.CloseFiscalYear),
    _ledger("pay_shu", "POST", f"{_COOP}/fiscal-years/{{fiscal_year}}/shu/payout", access.coop_admin,
            lambda rpc, c: rpc.pay_shu(c.path["cooperative_id"], _year(c), c.body, c.context),
            ledger.ShuResult, "Pay every member's unpaid SHU of a closed year once, `to` sukarela or cash "
            "(members who exited: cash); answers the SHU with `paid`", body=ledger.ShuPayout),
    _ledger("get_shu", "GET", f"{_COOP}/fiscal-years/{{fiscal_year}}/shu", access.coop_admin_or_member,
            lambda rpc, c: rpc.get_shu(c.path["cooperative_id"], _year(c),
                                       c.principal.member_id if c.principal.role == "member" else None),
            ledger.ShuResult, "A closed year's SHU, pools and member lines (a member: their own line)"),
]
