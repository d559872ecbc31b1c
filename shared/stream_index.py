"""Index entries: one per commit, keyed by (stream, first_version) in its `_id`, so that every
step of a stream read is a lookup by `_id` (the one lookup FerretDB v1 serves from an index).

Entries live beside the commits and are inserted with them; they carry `stream_type`
INDEX_ENTRY and no `end`, so every reader of commits (by `end`, by `command_id`, by stream)
passes them by. They are derived data: the commits stay the truth.
"""
from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

INDEX_ENTRY = "~index"  # the stream_type of index entries (no aggregate is called so)
POSITION_DIGITS = 20

# every commit stored before this marker has its entry
INDEX_COMPLETE = {"_id": "~complete", "stream_type": INDEX_ENTRY, "stream_id": "~complete",
                  "first_version": 0, "command_id": "~complete"}
COMMITS_ONLY = {"end": {"$gte": 1}}


def position_key(position: int) -> str:
    # A string `_id`: FerretDB v1 pushes down only string and ObjectId `_id` equality (and, with
    # patch 0005, a range of them).
    return str(position).zfill(POSITION_DIGITS)


def commits_from(first: int) -> dict[str, Any]:
    """The filter of the commits that start at `first` or later, by `_id` range: served by the
    `_id` index on MongoDB and (patch 0005) on FerretDB v1, where a filter on `end` decodes every
    document of the collection; the upper bound leaves the index entries out."""
    return {"_id": {"$gte": position_key(max(first, 0)), "$lte": "9" * POSITION_DIGITS}}


def stream_key(stream_type: str, stream_id: str, first_version: int) -> str:
    return f"{stream_type}\x1f{stream_id}\x1f{first_version}"


def index_entry(commit: dict[str, Any]) -> dict[str, Any]:
    key = stream_key(commit["stream_type"], commit["stream_id"], commit["first_version"])
    # unique values for the unique indexes of commits, and no `end`
    return {"_id": key, "stream_type": INDEX_ENTRY, "stream_id": key, "first_version": 0,
            "command_id": f"{INDEX_ENTRY}\x1f{key}", "last_version": commit["last_version"],
            "position": commit["position"]}


def index_all(entries: Collection, documents: list[dict[str, Any]]) -> int:
    """Inserts the index entries of `documents` that are missing; returns how many were."""
    if not documents:
        return 0
    return len(documents) - len(insert_missing(entries, [index_entry(d) for d in documents]))


def insert_missing(collection: Collection, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inserts `documents` in one unordered request; returns those whose `_id` exists already
    (any other failure raises)."""
    try:
        if len(documents) == 1:
            collection.insert_one(documents[0])
        else:
            collection.insert_many(documents, ordered=False)
        return []
    except DuplicateKeyError:
        return documents
    except BulkWriteError as error:
        failed = error.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in failed):
            raise
        return [documents[e["index"]] for e in failed]
