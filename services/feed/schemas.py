"""The edge of the feed: its own event schemas (the entitlement facts it records) and the shapes
of its RPC answers, which the gateway imports (services/gateway/feed_schemas.py)."""
from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import Length, Range

from shared.registry import EventRegistry

registry = EventRegistry("feed")

EXCHANGE = "kopnet.partner-feed"
MAX_PAGE = 500


def queue_name(partner_id: str) -> str:
    """The partner's durable queue, and the routing key its feed is published with."""
    return f"partner.{partner_id}"


def username(partner_id: str) -> str:
    """The partner's own RabbitMQ user."""
    return f"kopnet-partner-{partner_id}"


@registry.event("ContractEntitled")
class ContractEntitled(Schema):
    contract_id = fields.String(required=True)
    cooperative_id = fields.String(required=True, allow_none=True)
    partners = fields.List(fields.String(), required=True)


class _Access(Schema):
    cooperative_id = fields.String(required=True)
    partnership_id = fields.String(required=True)
    partner_id = fields.String(required=True)
    at = fields.String(required=True)


registry.register("AccessOpened", _Access)
registry.register("AccessClosed", _Access)


@registry.event("PartnerKnown")
class PartnerKnown(Schema):
    partner_id = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    kind = fields.String(required=True, allow_none=True)


@registry.event("CredentialsIssued")
class CredentialsIssued(Schema):
    partner_id = fields.String(required=True)
    username = fields.String(required=True)
    issued_at = fields.String(required=True)
    rotation = fields.Integer(required=True)


# -- answers ----------------------------------------------------------------------------------------
class FeedQuery(Schema):
    after = fields.Integer(load_default=0, validate=Range(min=0))
    limit = fields.Integer(load_default=100, validate=Range(min=1, max=MAX_PAGE))


class FeedItem(Schema):
    """The envelope of events.md plus `feed_position` (what the partner's queue carries too)."""

    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    schema_version = fields.Integer(required=True)
    stream_type = fields.String(required=True)
    stream_id = fields.String(required=True)
    stream_version = fields.Integer(required=True)
    position = fields.Integer(required=True)
    occurred_at = fields.String(required=True)
    cooperative_id = fields.String(allow_none=True)
    correlation_id = fields.String(required=True)
    causation_id = fields.String(allow_none=True)
    payload = fields.Dict(required=True)
    feed_position = fields.Integer(required=True)


class FeedPage(Schema):
    items = fields.List(fields.Nested(FeedItem), required=True)
    next = fields.Integer(required=True, metadata={"description": "pass as `after` to continue"})


class FeedAccess(Schema):
    """Given once: the password inside `amqp_uri` is kept nowhere in kopnet."""

    amqp_uri = fields.String(required=True, validate=Length(min=1))
    queue = fields.String(required=True)


class FeedCredentials(Schema):
    feed = fields.Nested(FeedAccess, required=True)
