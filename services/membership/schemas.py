"""The edge of membership: event payload schemas (validated on append) and the public
request/response schemas the gateway uses for validation and OpenAPI."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Range, Regexp

from shared.registry import EventRegistry

from .domain import DEFAULT_BYLAWS, EXIT_REASONS, KINDS, REGENCIES, SHU_POOLS, nik_problem
from .nik import PRIVATE_FIELDS, nik_digest

registry = EventRegistry("membership")

MEMBER_STATUSES = ("applied", "admitted", "suspended", "exited", "rejected")
COOPERATIVE_STATUSES = ("active", "dissolved")
MEMBER_ACTIONS = ("admit", "reject", "suspend", "reinstate", "exit")

_nik = Regexp(r"^[0-9]{16}$", error="NIK is exactly 16 digits")


def _plausible_nik(value: str) -> None:
    """The 400 names the rule the NIK breaks (domain.nik_problem)."""
    problem = nik_problem(value)
    if problem:
        raise ValidationError(problem)
# Nomor Induk Koperasi: digits only, so that "the same number" is unambiguous.
_registration_number = Regexp(r"^[0-9]{10,20}$", error="registration number is 10 to 20 digits")
_phone = Regexp(r"^\+?[0-9]{8,15}$", error="phone is 8 to 15 digits, optionally with a leading +")


# Every kopnet cooperative is in West Java, on Western Indonesia Time: "today" is WIB's today,
# so a member joining at 06:00 WIB (23:00 UTC the day before) is not "in the future".
WIB = timezone(timedelta(hours=7), "WIB")


def local_today() -> date:
    return datetime.now(WIB).date()


def _not_in_future(value: date) -> None:
    if value > local_today():
        raise ValidationError("must not be in the future")


def Money(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    return fields.Integer(strict=True, validate=Range(min=1), **kwargs)


# -- requests -----------------------------------------------------------------------------------
class BylawsSchema(Schema):
    pokok_amount = Money(load_default=DEFAULT_BYLAWS["pokok_amount"])
    wajib_amount = Money(load_default=DEFAULT_BYLAWS["wajib_amount"])
    # Attendance must exceed this percentage of admitted members (50: more than half).
    quorum_percent = fields.Integer(strict=True, validate=Range(1, 99),
                                    load_default=DEFAULT_BYLAWS["quorum_percent"])


class CooperativeRegistrationSchema(Schema):
    name = fields.String(required=True, validate=Length(1, 200))
    registration_number = fields.String(required=True, validate=_registration_number)
    kind = fields.String(required=True, validate=OneOf(KINDS))
    regency = fields.String(required=True, validate=OneOf(REGENCIES))
    is_pesantren = fields.Boolean(load_default=False)
    founded_on = fields.Date(required=True, validate=_not_in_future)
    bylaws = fields.Nested(BylawsSchema, load_default=lambda: dict(DEFAULT_BYLAWS))


class MemberApplicationSchema(Schema):
    name = fields.String(required=True, validate=Length(1, 200))
    nik = fields.String(required=True, validate=_plausible_nik)
    phone = fields.String(required=True, validate=_phone)
    joined_on = fields.Date(required=True, validate=_not_in_future)


class MemberStatusChangeSchema(Schema):
    """`date` (default today); `reason` only for `exit` (default resigned)."""

    action = fields.String(required=True, validate=OneOf(MEMBER_ACTIONS))
    date = fields.Date(load_default=None, allow_none=True, validate=_not_in_future)
    reason = fields.String(load_default=None, allow_none=True, validate=OneOf(EXIT_REASONS))

    @validates_schema
    def _reason_only_on_exit(self, data, **kwargs) -> None:
        if data.get("reason") is not None and data["action"] != "exit":
            raise ValidationError("only an exit has a reason", "reason")


class MemberCorrectionSchema(Schema):
    """PATCH a member: any of name, phone, nik (at least one); the NIK stays unique."""

    name = fields.String(validate=Length(1, 200))
    phone = fields.String(validate=_phone)
    nik = fields.String(validate=_plausible_nik)

    @validates_schema
    def _something(self, data, **kwargs) -> None:
        if not data:
            raise ValidationError("give name, phone or nik", "_schema")


class ShuAllocationSchema(Schema):
    """Percentages per pool: whole numbers, a missing pool is 0, the pools add up to 100."""

    reserve = fields.Integer(strict=True, validate=Range(min=0), load_default=0)
    jasa_modal = fields.Integer(strict=True, validate=Range(min=0), load_default=0)
    jasa_usaha = fields.Integer(strict=True, validate=Range(min=0), load_default=0)
    board = fields.Integer(strict=True, validate=Range(min=0), load_default=0)
    staff = fields.Integer(strict=True, validate=Range(min=0), load_default=0)
    education = fields.Integer(strict=True, validate=Range(min=0), load_default=0)
    social = fields.Integer(strict=True, validate=Range(min=0), load_default=0)

    @validates_schema
    def _sums_to_100(self, data, **kwargs) -> None:
        total = sum(data.get(pool, 0) for pool in SHU_POOLS)
        if total != 100:
            raise ValidationError(f"the pools add up to {total}, not 100", "_schema")


class AnnualMeetingSchema(Schema):
    fiscal_year = fields.Integer(required=True, strict=True, validate=Range(1900, 2999))
    held_on = fields.Date(required=True, validate=_not_in_future)
    attendees = fields.Integer(required=True, strict=True, validate=Range(min=0))
    shu_allocation = fields.Nested(ShuAllocationSchema, required=True)


class AnnualMeetingCorrectionSchema(Schema):
    """PATCH of a recorded RAT: any of its facts; the others stay as recorded."""

    held_on = fields.Date(validate=_not_in_future)
    attendees = fields.Integer(strict=True, validate=Range(min=0))
    shu_allocation = fields.Nested(ShuAllocationSchema)


class CooperativeFiltersSchema(Schema):
    regency = fields.String(validate=OneOf(REGENCIES))
    kind = fields.String(validate=OneOf(KINDS))
    status = fields.String(validate=OneOf(COOPERATIVE_STATUSES))
    healthy = fields.Boolean()
    ids = fields.List(fields.String(), validate=Length(max=1000))


class MemberListFiltersSchema(Schema):
    status = fields.String(validate=OneOf(MEMBER_STATUSES))


class PageRequestSchema(Schema):
    limit = fields.Integer(strict=True, validate=Range(1, 500), load_default=50)
    cursor = fields.String(load_default=None, allow_none=True)


# -- responses ----------------------------------------------------------------------------------
class HealthSchema(Schema):
    active = fields.Boolean()
    rat_compliant = fields.Boolean()
    reporting_online = fields.Boolean()
    healthy = fields.Boolean()


class CooperativeProfileSchema(Schema):
    id = fields.String()
    name = fields.String()
    registration_number = fields.String()
    kind = fields.String()
    regency = fields.String()
    is_pesantren = fields.Boolean()
    founded_on = fields.String()
    bylaws = fields.Nested(BylawsSchema)
    status = fields.String()
    health = fields.Nested(HealthSchema)
    registered_at = fields.String()


class CooperativePageSchema(Schema):
    items = fields.List(fields.Nested(CooperativeProfileSchema))
    next = fields.String(allow_none=True)


class MemberSchema(Schema):
    id = fields.String()
    cooperative_id = fields.String()
    name = fields.String()
    nik = fields.String()
    phone = fields.String()
    joined_on = fields.String()
    status = fields.String()
    exit_reason = fields.String(allow_none=True)


class MemberPageSchema(Schema):
    items = fields.List(fields.Nested(MemberSchema))
    next = fields.String(allow_none=True)


class AnnualMeetingResultSchema(Schema):
    cooperative_id = fields.String()
    fiscal_year = fields.Integer()
    held_on = fields.String()
    attendees = fields.Integer()
    admitted_members = fields.Integer()
    quorum_reached = fields.Boolean()
    shu_allocation = fields.Nested(ShuAllocationSchema)


class NetworkHealthRowSchema(Schema):
    regency = fields.String()
    kind = fields.String()
    registered = fields.Integer()
    active = fields.Integer()
    rat_compliant = fields.Integer()
    reporting_online = fields.Integer()
    healthy = fields.Integer()


class NetworkHealthSchema(Schema):
    items = fields.List(fields.Nested(NetworkHealthRowSchema))


# -- events (payloads hold plain JSON: dates as YYYY-MM-DD strings) -----------------------------
class _Event(Schema):
    """Every event records who caused it (the audit trail): {role, subject} of the token the
    gateway passed, or {service, event, event_id} of the event a policy reacted to. Optional:
    events stored before it was recorded have none (null when read)."""

    actor = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)


_Day = fields.Date  # validates the ISO string form that is stored


@registry.event("CooperativeRegistered")
class CooperativeRegistered(_Event):
    cooperative_id = fields.String(required=True)
    name = fields.String(required=True)
    registration_number = fields.String(required=True)
    kind = fields.String(required=True, validate=OneOf(KINDS))
    regency = fields.String(required=True, validate=OneOf(REGENCIES))
    is_pesantren = fields.Boolean(required=True)
    founded_on = _Day(required=True)
    bylaws = fields.Nested(BylawsSchema, required=True)
    registered_at = fields.String(required=True)


@registry.event("CooperativeDissolved")
class CooperativeDissolved(_Event):
    cooperative_id = fields.String(required=True)
    dissolved_on = _Day(required=True)


@registry.event("MemberApplied")
class MemberApplied(_Event):
    cooperative_id = fields.String(required=True)
    member_id = fields.String(required=True)
    name = fields.String(required=True)
    nik = fields.String(required=True, validate=_nik)
    phone = fields.String(required=True)
    joined_on = _Day(required=True)


@registry.event("MemberAdmitted")
class MemberAdmitted(_Event):
    cooperative_id = fields.String(required=True)
    member_id = fields.String(required=True)
    admitted_on = _Day(required=True)
    pokok_amount = Money(required=True)
    wajib_amount = Money(required=True)


@registry.event("MemberSuspended")
class MemberSuspended(_Event):
    cooperative_id = fields.String(required=True)
    member_id = fields.String(required=True)
    suspended_on = _Day(required=True)


@registry.event("MemberReinstated")
class MemberReinstated(_Event):
    cooperative_id = fields.String(required=True)
    member_id = fields.String(required=True)
    reinstated_on = _Day(required=True)


class MemberExitedV1(_Event):
    """What the ledger needs to return the member's pokok and wajib."""

    cooperative_id = fields.String(required=True)
    member_id = fields.String(required=True)
    exited_on = _Day(required=True)
    previous_status = fields.String(required=True, validate=OneOf(("admitted", "suspended")))


registry.register("MemberExited", MemberExitedV1, version=1)


@registry.event("MemberExited", version=2)
class MemberExited(MemberExitedV1):
    """v2 records why (resigned, expelled, deceased); v1 exits are upcast with reason null."""

    reason = fields.String(required=True, allow_none=True, validate=OneOf(EXIT_REASONS))


@registry.upcaster("MemberExited", from_version=1)
def _exit_reason_unknown(payload: dict) -> dict:
    return {**payload, "reason": None}


@registry.event("MemberRejected")
class MemberRejected(_Event):
    cooperative_id = fields.String(required=True)
    member_id = fields.String(required=True)
    rejected_on = _Day(required=True)


@registry.event("MemberDetailsCorrected")
class MemberDetailsCorrected(_Event):
    """Only the corrected fields are present."""

    cooperative_id = fields.String(required=True)
    member_id = fields.String(required=True)
    name = fields.String()
    phone = fields.String()
    nik = fields.String(validate=_nik)


class NikClaimedV1(_Event):
    cooperative_id = fields.String(required=True)
    nik = fields.String(required=True, validate=_nik)
    member_id = fields.String(required=True)
    claimed_at = fields.String(required=True)


class NikReleasedV1(_Event):
    cooperative_id = fields.String(required=True)
    nik = fields.String(required=True, validate=_nik)
    member_id = fields.String(required=True)


registry.register("NikClaimed", NikClaimedV1, version=1)
registry.register("NikReleased", NikReleasedV1, version=1)


@registry.event("NikClaimed", version=2)
class NikClaimed(_Event):
    """v2: the keyed hash of the NIK (services/membership/nik.py), never the number."""

    cooperative_id = fields.String(required=True)
    nik_digest = fields.String(required=True, validate=Length(equal=64))
    member_id = fields.String(required=True)
    claimed_at = fields.String(required=True)


@registry.event("NikReleased", version=2)
class NikReleased(_Event):
    cooperative_id = fields.String(required=True)
    nik_digest = fields.String(required=True, validate=Length(equal=64))
    member_id = fields.String(required=True)


@registry.upcaster("NikClaimed", from_version=1)
def _claimed_nik_hashed(payload: dict) -> dict:
    return _nik_hashed(payload)


@registry.upcaster("NikReleased", from_version=1)
def _released_nik_hashed(payload: dict) -> dict:
    return _nik_hashed(payload)


def _nik_hashed(payload: dict) -> dict:
    """Claims stored with the number load (and publish) with its digest only."""
    hashed = {key: value for key, value in payload.items() if key != "nik"}
    return {**hashed, "nik_digest": nik_digest(payload["nik"])}


# The member's own events keep the NIK (the member read model shows it to the board and the
# member); what the relay publishes on kopnet.events never carries it (nik.py).
for _name, _fields in PRIVATE_FIELDS.items():
    registry.private(_name, *_fields)


@registry.event("AnnualMeetingHeld")
class AnnualMeetingHeld(_Event):
    cooperative_id = fields.String(required=True)
    fiscal_year = fields.Integer(required=True, strict=True)
    held_on = _Day(required=True)
    attendees = fields.Integer(required=True, strict=True)
    admitted_members = fields.Integer(required=True, strict=True)
    quorum_percent = fields.Integer(required=True, strict=True)
    shu_allocation = fields.Nested(ShuAllocationSchema, required=True)


# A correction carries the whole corrected RAT (the same fields), so a reader needs no merge.
registry.register("AnnualMeetingCorrected", AnnualMeetingHeld)


@registry.event("FiscalYearCloseRecorded")
class FiscalYearCloseRecorded(_Event):
    """The ledger closed (or began closing) the year: its RAT can no longer be corrected."""

    cooperative_id = fields.String(required=True)
    fiscal_year = fields.Integer(required=True, strict=True)
    source_event_id = fields.String(required=True)


class _Recorded(_Event):
    cooperative_id = fields.String(required=True)
    on = _Day(required=True)
    source_event_id = fields.String(required=True)
    source_event_type = fields.String(required=True)


registry.register("BusinessActivityRecorded", _Recorded)
registry.register("OnlineReportRecorded", _Recorded)
