"""The Membership slice of /api/v1 (http-api.md, Membership)."""
from __future__ import annotations

from typing import Any

from . import access, schemas
from .routing import Call, Route

MEMBER_ACTIONS = ("admit", "reject", "suspend", "reinstate", "exit")


def _list_cooperatives(rpc: Any, call: Call) -> Any:
    query = dict(call.query)
    limit, cursor = query.pop("limit"), query.pop("cursor", None)
    if call.principal.role != "network_admin":  # a cooperative's principals see their own only
        query["ids"] = [call.principal.cooperative_id]
    return rpc.list_cooperatives(query, limit, cursor)


def _member_action(action: str) -> Route:
    summary = {"reject": "Reject an application (its NIK is free again)",
               "exit": "Exit a member (reason: resigned, expelled, deceased); the ledger settles the savings"}
    return Route(
        f"{action}_member", "POST", f"/cooperatives/{{cooperative_id}}/members/{{member_id}}/{action}",
        access.coop_admin,
        lambda rpc, c: rpc.change_member_status(
            c.path["cooperative_id"], c.path["member_id"], action, c.context, on=c.body.get("date"),
            reason=c.body.get("reason")),
        schemas.Member, summary.get(action, f"{action.capitalize()} a member") + "; answers the member's new "
        "state (an illegal step: 422 illegal_transition)",
        body=schemas.ExitMember if action == "exit" else schemas.MemberAction)


MEMBERSHIP_ROUTES = [
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
    Route("correct_member", "PATCH", "/cooperatives/{cooperative_id}/members/{member_id}", access.coop_admin,
          lambda rpc, c: rpc.correct_member(c.path["cooperative_id"], c.path["member_id"], c.body, c.context),
          schemas.Member, "Correct a member's name, phone or NIK (the NIK stays unique: 409)",
          body=schemas.CorrectMember),
    *[_member_action(action) for action in MEMBER_ACTIONS],
    Route("record_annual_meeting", "POST", "/cooperatives/{cooperative_id}/annual-meetings",
          access.coop_admin,
          lambda rpc, c: rpc.record_annual_meeting(c.path["cooperative_id"], c.body, c.context),
          schemas.AnnualMeetingRecord, "Record a RAT (annual members' meeting) and its SHU allocation",
          body=schemas.RecordAnnualMeeting, status=201),
    Route("correct_annual_meeting", "PATCH", "/cooperatives/{cooperative_id}/annual-meetings/{fiscal_year}",
          access.coop_admin,
          lambda rpc, c: rpc.correct_annual_meeting(c.path["cooperative_id"], c.path["fiscal_year"], c.body,
                                                    c.context),
          schemas.AnnualMeetingRecord, "Correct a recorded RAT (held_on, attendees, shu_allocation; the rest "
          "stays) before the ledger closes its fiscal year (then 422 fiscal_year_closed); the ledger's "
          "year-end close follows the correction", body=schemas.CorrectAnnualMeeting),
    Route("network_health", "GET", "/network/health", access.network_admin,
          lambda rpc, c: rpc.network_health(),
          schemas.NetworkHealth, "Health of the network per regency and kind", tags=("network",)),
]
