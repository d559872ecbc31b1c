"""Index entries: one per commit, keyed by (stream, first_version) in its `_id`, so that every
step of a stream read is a lookup by `_id` (the one lookup FerretDB v1 serves from an index).

Entries live beside the commits and are inserted with them; they carry `stream_type`
INDEX_ENTRY and no `end`, so every reader of commits (by `end`, by `command_id`, by stream)
passes them by. They are derived data: the commits stay the truth.
"""
from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

INDEX_ENTRY = "~index"  # the stream_type of index entries (no aggregate is called so)
POSITION_DIGITS = 20

# every commit stored before this marker has its entry
INDEX_COMPLETE = {"_id": "~complete", "stream_type": INDEX_ENTRY, "stream_id": "~complete",
                  "first_version": 0, "command_id": "~complete"}
COMMITS_ONLY = {"end": {"$gte": 1}}


def position_key(position: int) -> str:
    # A string `_id`: FerretDB v1 pushes down only string and ObjectId `_id` equality.
    return str(position).zfill(POSITION_DIGITS)


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
    try:
        entries.insert_many([index_entry(d) for d in documents], ordered=False)
    except BulkWriteError as error:  # entries that exist already: all that may fail here
        if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
            raise
        return int(error.details.get("nInserted", 0))
    return len(documents)
