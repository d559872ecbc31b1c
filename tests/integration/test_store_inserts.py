"""What the event store relies on when it inserts a commit and its index entry in one ordered
insert_many (eventstore._insert_rounds): the documents before a failing one are stored once,
the failing one and those after it not at all, and the error names the failing one's index.

On FerretDB v1 an insert first goes to SQLite as one multi-row INSERT and, when that fails,
document by document; patch 0008 (deploy/ferretdb/patches) runs that one INSERT without an
explicit transaction. These tests hold it to MongoDB's answers: had the multi-row statement left
some of its rows behind, the document-by-document retry would fail at an earlier index, or
store a document twice.
"""
from __future__ import annotations

import pytest
from pymongo.errors import BulkWriteError


@pytest.fixture
def commits(database):
    collection = database["inserts"]
    collection.create_index([("stream", 1), ("version", 1)], unique=True, name="stream_version")
    collection.create_index([("command", 1)], unique=True, name="command")
    collection.insert_one({"_id": "taken", "stream": "s", "version": 1, "command": "c1"})
    return collection


def _failure(error: BulkWriteError) -> tuple[int, int, int]:
    failed = error.details["writeErrors"][0]
    return failed["index"], failed["code"], error.details["nInserted"]


def _ids(collection) -> list[str]:
    return sorted(document["_id"] for document in collection.find({}, {"_id": 1}))


@pytest.mark.parametrize("duplicate", [
    {"_id": "taken", "stream": "t", "version": 1, "command": "c9"},   # the _id
    {"_id": "d2", "stream": "s", "version": 1, "command": "c9"},      # a secondary unique index
    {"_id": "d2", "stream": "t", "version": 1, "command": "c1"},      # the other one
])
def test_an_ordered_insert_stores_what_precedes_a_duplicate_and_nothing_after_it(commits, duplicate):
    documents = [{"_id": "d1", "stream": "u", "version": 1, "command": "c2"}, duplicate,
                 {"_id": "d3", "stream": "u", "version": 2, "command": "c3"}]
    with pytest.raises(BulkWriteError) as raised:
        commits.insert_many(documents, ordered=True)
    assert _failure(raised.value) == (1, 11000, 1)
    assert _ids(commits) == ["d1", "taken"]


def test_a_commit_whose_index_entry_is_taken_is_stored_alone(commits):
    """The kernel's pair: the commit goes in, its entry (second) fails, nothing is half-stored."""
    pair = [{"_id": "p5", "stream": "v", "version": 1, "command": "c5"},
            {"_id": "taken", "stream": "entry", "version": 0, "command": "entry-c5"}]
    with pytest.raises(BulkWriteError) as raised:
        commits.insert_many(pair, ordered=True)
    assert _failure(raised.value) == (1, 11000, 1)
    assert commits.count_documents({"_id": "p5"}) == 1
    assert commits.count_documents({"command": "entry-c5"}) == 0


def test_an_unordered_insert_stores_every_document_but_the_duplicates(commits):
    documents = [{"_id": "taken", "stream": "t", "version": 1, "command": "c8"},
                 {"_id": "d2", "stream": "w", "version": 1, "command": "c6"},
                 {"_id": "d3", "stream": "s", "version": 1, "command": "c7"},
                 {"_id": "d4", "stream": "w", "version": 2, "command": "c7b"}]
    with pytest.raises(BulkWriteError) as raised:
        commits.insert_many(documents, ordered=False)
    assert sorted(e["index"] for e in raised.value.details["writeErrors"]) == [0, 2]
    assert raised.value.details["nInserted"] == 2
    assert _ids(commits) == ["d2", "d4", "taken"]


def test_a_clean_multi_document_insert_stores_every_document_once(commits):
    """250 documents: more than one INSERT statement (FerretDB's batch size is 100)."""
    commits.insert_many([{"_id": f"m{n}", "stream": "m", "version": n, "command": f"m{n}"}
                         for n in range(250)])
    assert commits.count_documents({"stream": "m"}) == 250
    assert len(set(_ids(commits))) == 251
