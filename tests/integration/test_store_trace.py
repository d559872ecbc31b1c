"""The store trace (KOPNET_STORE_TRACE) against the real store: what a process sends, counted by
command, collection and the fields its filter names, written where the bench reads it."""
from __future__ import annotations

import pymongo

from shared import store_trace
from tests.conftest import MONGODB_URI


def test_operations_are_counted_by_shape_and_read_back_per_process(database, tmp_path):
    trace = store_trace.StoreTrace(tmp_path)
    client = pymongo.MongoClient(MONGODB_URI, event_listeners=[trace])
    try:
        collection = client[database.name]["things"]
        collection.insert_many([{"_id": "a", "n": 1}, {"_id": "b", "n": 2}])
        for key in ("a", "b", "c"):
            collection.find_one({"_id": key})
        collection.find_one({"n": {"$gt": 1}})
        collection.replace_one({"_id": "a", "n": 1}, {"n": 3})
    finally:
        client.close()
    trace.write()
    [(process, counts)] = store_trace.read(tmp_path).items()
    assert process.endswith(f"({trace.path.stem})")
    counted = {key.split(": ", 1)[1]: int(count) for key, (count, _ms) in counts.items()}
    assert counted["insert things n=2"] == 1
    assert counted["find things ['_id']"] == 3
    assert counted["find things ['n']"] == 1
    assert counted["update things ['_id', 'n']"] == 1
    assert all(ms >= 0 for _count, ms in counts.values())
