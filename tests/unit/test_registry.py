from marshmallow import Schema, fields

from shared.envelope import Envelope, new_id, utc_now
from shared.registry import EventRegistry


class DepositedV1(Schema):
    amount = fields.Integer(required=True)


class DepositedV2(Schema):
    amount = fields.Integer(required=True)
    channel = fields.String(required=True)


def v1_event(payload: dict) -> Envelope:
    return Envelope(new_id(), "bank.Deposited", 1, "Account", "a1", 1, 1, utc_now(), None, new_id(), None, payload)


def test_an_old_payload_is_upcast_to_the_current_schema():
    registry = EventRegistry("bank")
    registry.register("Deposited", DepositedV1, version=1)
    registry.register("Deposited", DepositedV2, version=2)

    @registry.upcaster("Deposited", from_version=1)
    def add_channel(payload):
        return {**payload, "channel": "teller"}

    upcast = registry.upcast(v1_event({"amount": 5}))
    assert (upcast.schema_version, upcast.payload) == (2, {"amount": 5, "channel": "teller"})
    assert registry.validate("bank.Deposited", upcast.payload) == 2


def test_a_current_event_is_left_alone_and_unknown_types_pass_through():
    registry = EventRegistry("bank")
    registry.register("Deposited", DepositedV1)
    event = v1_event({"amount": 5})
    assert registry.upcast(event) is event
    foreign = Envelope(new_id(), "ledger.X", 3, "S", "s", 1, 1, utc_now(), None, new_id(), None, {})
    assert registry.upcast(foreign) is foreign
