"""What the store gives back is what was stored, value type by value type.

On FerretDB v1 (SQLite) every document is stored as JSON with a schema of its value types, and
patch 0009 (deploy/ferretdb/patches) decodes it in one pass instead of level by level; a value
the one-pass decoder does not take (binary, regex, timestamp) goes the original way. Both are
held here to what was stored, through the real store: nested documents and arrays, strings with
escapes, control characters and characters outside ASCII, the number types and their edges.
"""
from __future__ import annotations

from datetime import UTC, datetime

from bson import Binary, Int64, ObjectId, Regex, Timestamp
from bson.codec_options import CodecOptions

EDGES = {
    "_id": "00000000000000000042",
    "stream_id": "Account\x1fa7\x1f1",  # the stream index's separator, escaped in JSON
    "events": [{"event_type": "ledger.JournalEntryPosted", "payload": {
        "lines": [{"account": "1101", "debit": 1500, "credit": 0}, {"account": "3102", "debit": 0,
                                                                      "credit": 1500}],
        "memo": 'setoran "wajib" \\ Rp 1.000 — koperasi ✓ 😀\ttab\nline', "none": None}},
        {}, "x", 7, None],
    "empty_document": {}, "empty_array": [], "": "an empty key",
    "int32": -2**31, "int64": Int64(2**63 - 1), "small_int64": Int64(5),
    "double": 0.1, "negative_zero": -0.0, "big": 1e300, "tiny": 5e-324, "whole": 3.0,
    "true": True, "false": False, "null": None,
    "date": datetime(2026, 12, 3, 15, 0, 0, 123000, tzinfo=UTC),
    "object_id": ObjectId("65a1b2c3d4e5f60718293a4b"),
}
ORIGINAL_WAY = {"binary": b"\x00\x01kopnet", "user_binary": Binary(b"\x02", 128),
                "regex": Regex("^koperasi", "i"), "timestamp": Timestamp(1764720000, 7)}


def test_every_value_type_reads_back_as_stored(database):
    collection = database.get_collection("documents", codec_options=CodecOptions(tz_aware=True))
    collection.insert_one(dict(EDGES))
    nested = {"binary": ORIGINAL_WAY["binary"]}
    collection.insert_one({"_id": "original-way", **ORIGINAL_WAY, "nested": nested})
    found = collection.find_one({"_id": EDGES["_id"]})
    assert found == EDGES
    assert list(found) == list(EDGES), "field order kept"
    assert type(found["int64"]) is Int64 and type(found["int32"]) is int
    assert collection.find_one({"_id": "original-way"}) == {"_id": "original-way", **ORIGINAL_WAY,
                                                          "nested": nested}
    # a range read (the relay's) decodes the same
    assert list(collection.find({"_id": {"$gte": "0", "$lte": "9"}})) == [EDGES]
