"""The edge of membership's health slice: the HealthRecord's event payloads (registered on
membership's registry, validated on append, internal: they restate other services' events for
membership's own health projection, so the relay never publishes them) and the response shapes
the gateway documents."""
from __future__ import annotations

from marshmallow import Schema, fields

from .schemas import registry

_Day = fields.Date  # validates the ISO string form that is stored


class _Source(Schema):
    cooperative_id = fields.String(required=True)
    source_event_id = fields.String(required=True)
    source_event_type = fields.String(required=True)


@registry.event("HealthChartRecorded", internal=True)
class HealthChartRecorded(_Source):
    """The account types of the cooperative's chart (ledger.BooksOpened / AccountAdded)."""

    accounts = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


@registry.event("HealthPostingRecorded", internal=True)
class HealthPostingRecorded(_Source):
    """One ledger posting summarised by account type (normal-balance sign: + grows the type).
    `business`: counts as activity; `cancels`: the business entry a reversal undoes."""

    entry_id = fields.String(required=True)
    date = _Day(required=True)
    closing = fields.Boolean(required=True)
    business = fields.Boolean(required=True)
    cancels = fields.Dict(required=True, allow_none=True)
    amounts = fields.Dict(keys=fields.String(), values=fields.Integer(strict=True), required=True)


@registry.event("HealthReportRecorded", internal=True)
class HealthReportRecorded(_Source):
    on = _Day(required=True)
    fiscal_year = fields.Integer(required=True, strict=True, allow_none=True)


@registry.event("HealthFinancingRecorded", internal=True)
class HealthFinancingRecorded(_Source):
    """A contract's state after a financing event; `disbursed` the amount paid out by this one."""

    contract_id = fields.String(required=True)
    change = fields.String(required=True)
    on = _Day(required=True)
    outstanding = fields.Integer(required=True, strict=True)
    overdue = fields.Integer(required=True, strict=True)
    disbursed = fields.Integer(required=True, strict=True)


@registry.event("HealthCatalogRecorded", internal=True)
class HealthCatalogRecorded(_Source):
    change = fields.String(required=True)   # product_listed | order_settled | order_bought
    on = _Day(required=True)
    amount = fields.Integer(required=True, strict=True)


# -- responses ----------------------------------------------------------------------------------
class FlagsSchema(Schema):
    active = fields.Boolean()
    rat_compliant = fields.Boolean()
    reporting_online = fields.Boolean()
    healthy = fields.Boolean()


class AspectSchema(Schema):
    ratio_bp = fields.Integer(allow_none=True, metadata={"description": "the ratio in basis points"})
    score = fields.Integer()
    weight = fields.Integer()
    points = fields.Integer()


class ScoreSchema(Schema):
    score = fields.Integer()
    category = fields.String(metadata={"enum": ["sehat", "cukup sehat", "dalam pengawasan",
                                                "dalam pengawasan khusus"]})
    capped_below_sehat = fields.Boolean(metadata={
        "description": "not healthy (inactive or no RAT): the score is held at 79 at most"})
    aspects = fields.Dict(keys=fields.String(), values=fields.Nested(AspectSchema))
    inputs = fields.Dict()


class CooperativeHealthSchema(Schema):
    cooperative_id = fields.String()
    name = fields.String()
    kind = fields.String()
    regency = fields.String()
    status = fields.String()
    as_of = fields.String()
    flags = fields.Nested(FlagsSchema)
    evidence = fields.Dict(metadata={"description": "per flag: the rule, dates and events it rests on"})
    score = fields.Nested(ScoreSchema)


class _Row(Schema):
    cooperative_id = fields.String()
    name = fields.String()
    regency = fields.String()
    kind = fields.String()
    score = fields.Integer()
    category = fields.String()
    flags = fields.Nested(FlagsSchema)
    reasons = fields.List(fields.String())


class _Counts(Schema):
    registered = fields.Integer()
    active = fields.Integer()
    rat_compliant = fields.Integer()
    reporting_online = fields.Integer()
    healthy = fields.Integer()


class _Regency(_Counts):
    regency = fields.String()


class _Target(Schema):
    percent = fields.Integer()
    cooperatives = fields.Integer()
    reporting_online = fields.Integer()
    progress_percent = fields.Integer()


class NetworkDashboardSchema(Schema):
    as_of = fields.String()
    province = fields.Nested(_Counts)
    target = fields.Nested(_Target)
    categories = fields.Dict(keys=fields.String(), values=fields.Integer())
    regencies = fields.List(fields.Nested(_Regency))
    months = fields.List(fields.Dict())
    follow_up = fields.List(fields.Nested(_Row))
    best = fields.List(fields.Nested(_Row))
    catalog = fields.Dict(keys=fields.String(), values=fields.Integer())
    financing = fields.Dict(keys=fields.String(), values=fields.Integer())
