from marshmallow import Schema, fields

from shared.eventstore import EventStore, NewEvent
from shared.registry import EventRegistry


class OpenedV1(Schema):
    owner = fields.String(required=True)


class OpenedV2(Schema):
    owner = fields.String(required=True)
    cooperative_id = fields.String(required=True)


def test_events_stored_with_an_old_schema_are_read_upcast(database):
    old = EventRegistry("bank")
    old.register("AccountOpened", OpenedV1)
    EventStore(database, old).append("Account", "a1", 0, [NewEvent("bank.AccountOpened", {"owner": "siti"})])

    new = EventRegistry("bank")
    new.register("AccountOpened", OpenedV1, version=1)
    new.register("AccountOpened", OpenedV2, version=2)
    new.upcaster("AccountOpened", 1)(lambda payload: {**payload, "cooperative_id": "unknown"})

    [event] = EventStore(database, new).read_stream("Account", "a1")
    assert event.schema_version == 2
    assert event.payload == {"owner": "siti", "cooperative_id": "unknown"}
    stored = database["commits"].find_one({"stream_id": "a1"})
    assert stored["events"][0]["schema_version"] == 1, "history is never rewritten"
