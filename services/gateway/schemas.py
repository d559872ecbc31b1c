"""The public contract's shapes (http-api.md): request bodies, query strings, responses.

The membership service's own request schemas (services/membership/schemas.py) validate its
bodies here too, so the domain's rules live in one place; the gateway owns the rest: the
query strings (paging 1..200), HTTP-only bodies, the response shapes and the error body.
Requests are loaded strictly (unknown fields are errors) and then dumped back to plain JSON
values before they go to a service. Responses are dumped through their schema, so the API
answers exactly what the OpenAPI document (generated from these classes) says.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from services.membership import schemas as membership
from services.membership.domain import EXIT_REASONS, KINDS, REGENCIES
from services.membership.schemas import COOPERATIVE_STATUSES, MEMBER_STATUSES

MAX_LIMIT, DEFAULT_LIMIT = 200, 50


def Text(maximum: int = 200, **options: Any) -> fields.String:  # noqa: N802 - a field factory
    return fields.String(validate=validate.Length(1, maximum), **options)


def DateText(**options: Any) -> fields.String:  # noqa: N802
    """A date as the API sends it (`YYYY-MM-DD`), for responses."""
    return fields.String(metadata={"format": "date"}, **options)


def NextCursor() -> fields.String:  # noqa: N802
    return fields.String(allow_none=True, metadata={"description": "the next page's cursor; null at the end"})


# -- requests -----------------------------------------------------------------------------
# Bodies the membership service defines (its domain's rules, e.g. the 27 regencies, in one
# place) are used as they are; the gateway adds the ones that are HTTP-only.
RegisterCooperative = membership.CooperativeRegistrationSchema
ApplyMember = membership.MemberApplicationSchema
RecordAnnualMeeting = membership.AnnualMeetingSchema
CorrectAnnualMeeting = membership.AnnualMeetingCorrectionSchema


CorrectMember = membership.MemberCorrectionSchema


class MemberAction(Schema):
    date = fields.Date(metadata={"description": "effective date; today (WIB) when left out (admit: savings "
                                              "may not be dated before it)"})


class ExitMember(MemberAction):
    reason = fields.String(validate=validate.OneOf(EXIT_REASONS),
                           metadata={"description": "resigned (default), expelled or deceased"})


class Dissolve(Schema):
    pass


# -- query strings ------------------------------------------------------------------------
class Page(Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(1, MAX_LIMIT),
                           metadata={"description": f"page size, 1..{MAX_LIMIT} (default {DEFAULT_LIMIT})"})
    cursor = Text(500, metadata={"description": "`next` of the previous page"})


class CooperativeQuery(Page):
    regency = fields.String(validate=validate.OneOf(REGENCIES))
    kind = fields.String(validate=validate.OneOf(KINDS))
    status = fields.String(validate=validate.OneOf(COOPERATIVE_STATUSES))
    healthy = fields.Boolean(truthy={"true"}, falsy={"false"}, metadata={"description": "true or false"})


class MemberQuery(Page):
    status = fields.String(validate=validate.OneOf(MEMBER_STATUSES))


# -- responses ----------------------------------------------------------------------------
class Health(Schema):
    active = fields.Boolean(metadata={"description": "business activity in the last 12 months"})
    rat_compliant = fields.Boolean(metadata={"description": "held the RAT for the last closed fiscal year"})
    reporting_online = fields.Boolean(metadata={"description": "books closed or reported through kopnet"})
    healthy = fields.Boolean(metadata={"description": "active and RAT-compliant"})


class Cooperative(Schema):
    id = fields.String()
    name = fields.String()
    registration_number = fields.String()
    kind = fields.String(validate=validate.OneOf(KINDS))
    regency = fields.String(validate=validate.OneOf(REGENCIES))
    is_pesantren = fields.Boolean()
    founded_on = DateText()
    bylaws = fields.Nested(membership.BylawsSchema)
    status = fields.String(validate=validate.OneOf(COOPERATIVE_STATUSES))
    health = fields.Nested(Health)
    registered_at = fields.String(metadata={"format": "date-time"})


class Member(Schema):
    id = fields.String()
    cooperative_id = fields.String()
    name = fields.String()
    nik = fields.String()
    phone = fields.String()
    joined_on = DateText()
    status = fields.String(validate=validate.OneOf(MEMBER_STATUSES))
    exit_reason = fields.String(allow_none=True, metadata={"description": "set once the member exited"})


class AnnualMeetingRecord(Schema):
    cooperative_id = fields.String()
    fiscal_year = fields.Integer()
    held_on = DateText()
    attendees = fields.Integer()
    admitted_members = fields.Integer()
    quorum_reached = fields.Boolean()
    shu_allocation = fields.Nested(membership.ShuAllocationSchema)


class CooperativePage(Schema):
    items = fields.List(fields.Nested(Cooperative))
    next = NextCursor()


class MemberPage(Schema):
    items = fields.List(fields.Nested(Member))
    next = NextCursor()


class HealthRow(Schema):
    regency = fields.String()
    kind = fields.String()
    registered = fields.Integer()
    active = fields.Integer()
    rat_compliant = fields.Integer()
    reporting_online = fields.Integer()
    healthy = fields.Integer()


class NetworkHealth(Schema):
    items = fields.List(fields.Nested(HealthRow))


class ErrorDetail(Schema):
    code = fields.String(required=True, metadata={"description": "validation_error, unauthenticated, "
                                                  "forbidden, not_found, conflict, unavailable, or a "
                                                  "business rule's own code"})
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", required=True,
                          metadata={"description": "what is wrong, per field"})


class Error(Schema):
    error = fields.Nested(ErrorDetail, required=True)


def plain(schema: Schema, data: Any) -> dict[str, Any]:
    """Validates `data` against a request schema; returns it as plain JSON values (dates as text)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError({"_schema": ["must be a JSON object"]})
    return schema.dump(schema.load(data))
