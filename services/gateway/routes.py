"""The Membership and Ledger slices of /api/v1 as one table: path, who may call it, what it
takes and answers, and which service RPC serves it (the entrypoint passes that service's
proxy). The service's entrypoints and the OpenAPI document are both checked against /
generated from this table.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema

from . import access, schemas
from . import ledger_schemas as ledger
from .access import Policy
from .auth import Principal

PREFIX = "/api/v1"
MEMBER_ACTIONS = ("admit", "suspend", "reinstate", "exit")


@dataclass(frozen=True)
class Call:
    """One request as a use case sees it: validated, plain JSON values."""

    principal: Principal
    path: dict[str, str]
    query: dict[str, Any]
    body: dict[str, Any]
    context: dict[str, str]


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str                       # OpenAPI template under PREFIX, e.g. /cooperatives/{cooperative_id}
    allow: Policy
    run: Callable[[Any, Call], Any]  # (the service's proxy, call) -> the service's answer
    response: type[Schema]
    summary: str
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    status: int = 200
    tags: tuple[str, ...] = field(default=("membership",))

    @property
    def url(self) -> str:
        """The werkzeug rule nameko routes on."""
        return PREFIX + self.path.replace("{", "<").replace("}", ">")

    @property
    def path_names(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


def _list_cooperatives(rpc: Any, call: Call) -> Any:
    query = dict(call.query)
    limit, cursor = query.pop("limit"), query.pop("cursor", None)
    if call.principal.role != "network_admin":  # a cooperative's principals see their own only
        query["ids"] = [call.principal.cooperative_id]
    return rpc.list_cooperatives(query, limit, cursor)


def _member_action(action: str) -> Route:
    return Route(
        f"{action}_member", "POST", f"/cooperatives/{{cooperative_id}}/members/{{member_id}}/{action}",
        access.coop_admin,
        lambda rpc, c: rpc.change_member_status(c.path["cooperative_id"], c.path["member_id"], action,
                                                c.context, on=c.body.get("on")),
        schemas.Member, f"{action.capitalize()} a member; answers the member's new state",
        body=schemas.MemberAction)


ROUTES: dict[str, Route] = {route.name: route for route in [
    Route("register_cooperative", "POST", "/cooperatives", access.network_admin,
          lambda rpc, c: rpc.register_cooperative(c.body, c.context),
          schemas.Cooperative, "Register a cooperative", body=schemas.RegisterCooperative, status=201),
    Route("list_cooperatives", "GET", "/cooperatives", access.network_or_cooperative, _list_cooperatives,
          schemas.CooperativePage, "List cooperatives (a cooperative's principals see only their own)",
          query=schemas.CooperativeQuery),
    Route("get_cooperative", "GET", "/cooperatives/{cooperative_id}", access.of_cooperative,
          lambda rpc, c: rpc.get_cooperative(c.path["cooperative_id"]),
          schemas.Cooperative, "A cooperative's profile, status and health flags"),
    Route("dissolve_cooperative", "POST", "/cooperatives/{cooperative_id}/dissolve", access.network_admin,
          lambda rpc, c: rpc.dissolve_cooperative(c.path["cooperative_id"], c.context),
          schemas.Cooperative, "Dissolve a cooperative", body=schemas.Dissolve),
    Route("apply_member", "POST", "/cooperatives/{cooperative_id}/members", access.coop_admin,
          lambda rpc, c: rpc.apply_member(c.path["cooperative_id"], c.body, c.context),
          schemas.Member, "Record a membership application", body=schemas.ApplyMember, status=201),
    Route("list_members", "GET", "/cooperatives/{cooperative_id}/members", access.coop_admin,
          lambda rpc, c: rpc.list_members(c.path["cooperative_id"], c.query["limit"], c.query.get("cursor"),
                                          status=c.query.get("status")),
          schemas.MemberPage, "List the cooperative's members", query=schemas.MemberQuery),
    Route("get_member", "GET", "/cooperatives/{cooperative_id}/members/{member_id}",
          access.coop_admin_or_the_member,
          lambda rpc, c: rpc.get_member(c.path["cooperative_id"], c.path["member_id"]),
          schemas.Member, "One member"),
    *[_member_action(action) for action in MEMBER_ACTIONS],
    Route("record_annual_meeting", "POST", "/cooperatives/{cooperative_id}/annual-meetings",
          access.coop_admin,
          lambda rpc, c: rpc.record_annual_meeting(c.path["cooperative_id"], c.body, c.context),
          schemas.AnnualMeetingRecord, "Record a RAT (annual members' meeting) and its SHU allocation",
          body=schemas.RecordAnnualMeeting, status=201),
    Route("network_health", "GET", "/network/health", access.network_admin,
          lambda rpc, c: rpc.network_health(),
          schemas.NetworkHealth, "Health of the network per regency and kind", tags=("network",)),
]}


# -- Ledger -------------------------------------------------------------------------------------
_COOP = "/cooperatives/{cooperative_id}"
_MEMBER = _COOP + "/members/{member_id}"
REPORTS = {"trial_balance": "trial-balance", "balance_sheet": "balance-sheet",
           "income_statement": "income-statement"}
_REPORT_SHAPES = {"trial_balance": ledger.TrialBalance, "balance_sheet": ledger.BalanceSheet,
                  "income_statement": ledger.IncomeStatement}


def _ledger(name: str, method: str, path: str, allow: Policy, run: Callable[[Any, Call], Any],
            response: type[Schema], summary: str, **options: Any) -> Route:
    return Route(name, method, path, allow, run, response, summary, tags=("ledger",), **options)


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
    _ledger("post_journal_entry", "POST", f"{_COOP}/journal-entries", access.coop_admin,
            lambda rpc, c: rpc.post_journal_entry(c.path["cooperative_id"], c.body, c.context),
            ledger.JournalEntry, "Post a balanced journal entry; an income line naming a member is that "
            "member's business (jasa usaha)", body=ledger.PostJournalEntry, status=201),
    _ledger("reverse_journal_entry", "POST", f"{_COOP}/journal-entries/{{entry_id}}/reverse",
            access.coop_admin,
            lambda rpc, c: rpc.reverse_journal_entry(c.path["cooperative_id"], c.path["entry_id"], c.context),
            ledger.ReversedEntry, "Reverse an entry (once) with a mirrored entry on its date",
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
    _ledger("get_shu", "GET", f"{_COOP}/fiscal-years/{{fiscal_year}}/shu", access.coop_admin_or_member,
            lambda rpc, c: rpc.get_shu(c.path["cooperative_id"], _year(c),
                                       c.principal.member_id if c.principal.role == "member" else None),
            ledger.ShuResult, "A closed year's SHU, pools and member lines (a member: their own line)"),
]
ROUTES.update((route.name, route) for route in LEDGER_ROUTES)
