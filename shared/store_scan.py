"""Reading the commits after a position: the filter (`following`), the last commit's end
(`last_commit_end`), reading them in chunks two at a time; putting them back in position order,
and passing holes.

`chunks_from` reads `_id` ranges of CHUNK positions, aligned so that each is one exact index
range on FerretDB v1 (patch 0005) as on MongoDB, and keeps two of them in flight: FerretDB
decodes each on its own core (one cursor kept one core busy and left the other idle: the
relay's catch-up was bound by it), while the caller consumes the one before.

The relay reads commits with an unsorted cursor so the server streams while it scans
(FerretDB v1 sorts in memory after a full scan). Positions are gap-free, so order is cheap
to restore: the next commit always starts at the last one's end + 1. A commit that arrives
before its predecessor waits. What still waits when the cursor ends either follows a commit
that became visible during the scan (left for the next read) or a hole: a position missing
for longer than the hole timeout (holes.py), which is passed, so one rolled-back commit never
stalls a follower for ever.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pymongo.collection import Collection

from .commits import MAX_EVENTS_PER_COMMIT
from .holes import Holes
from .stream_index import COMMITS_ONLY, commits_from, position_key

CHUNK = 1000  # a power of ten: an aligned range's bounds share all but its last three digits
IN_FLIGHT = 2


def _start(after: int, at_commit_end: bool) -> tuple[int, dict[str, Any]]:
    """Where the commits holding positions after `after` may start, and what else selects them.
    When `after` is known to end a commit, they start at after + 1; otherwise the first may start
    up to MAX_EVENTS_PER_COMMIT - 1 positions earlier, and only those ending after `after` count."""
    if at_commit_end:
        return after + 1, {}
    return after - MAX_EVENTS_PER_COMMIT + 2, {"end": {"$gt": after}}


def following(after: int, at_commit_end: bool) -> dict[str, Any]:
    """The filter of the commits holding positions after `after`."""
    first, extra = _start(after, at_commit_end)
    return {**commits_from(first), **extra}


def chunks_after(commits: Collection, after: int, at_commit_end: bool) -> Iterator[dict[str, Any]]:
    """`following`'s commits, by chunks_from."""
    first, extra = _start(after, at_commit_end)
    return chunks_from(commits, first, after + 1, extra)


def last_commit_end(commits: Collection) -> int:
    """The end of the last commit, found by galloping over "is any commit stored from position p
    on?" (one `_id`-range lookup each, about 2 log2(head) of them) instead of a sort of every
    commit, which FerretDB v1 does in memory after reading them all (0.9 s at 10,000)."""

    def stored_from(position: int) -> bool:
        return commits.find_one(commits_from(position), {"_id": 1}) is not None

    if not stored_from(1):
        return 0
    low, high = 1, 2  # a commit starts at low or later; none at high or later
    while stored_from(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if stored_from(middle) else (low, middle)
    last = commits.find_one({"_id": position_key(low)}, {"end": 1})
    if last is None:  # the commit went missing meanwhile (a rollback): ask the slow way
        last = commits.find_one(COMMITS_ONLY, {"end": 1}, sort=[("_id", -1)])
    return last["end"] if last else 0


def chunks_from(commits: Collection, first: int, through: int, extra: dict[str, Any] | None = None
                ) -> Iterator[dict[str, Any]]:
    """The commits starting at `first` or later, unsorted within a chunk and chunk after chunk,
    until a chunk holds none. The first chunk reaches at least `through` (the position a reader
    needs first). A chunk can only be empty past the last commit: it spans CHUNK positions and no
    commit is longer (MAX_EVENTS_PER_COMMIT), so one of them starts in it. `extra` is added to
    every chunk's filter. `first` <= `through`."""

    def read(low: int, high: int) -> list[dict[str, Any]]:
        query = {"_id": {"$gte": position_key(low), "$lte": position_key(high)}, **(extra or {})}
        return list(commits.find(query).batch_size(CHUNK))

    def ranges() -> Iterator[tuple[int, int]]:
        low, high = max(first, 0), (max(through, 0) // CHUNK + 1) * CHUNK - 1
        while True:
            yield low, high
            low, high = high + 1, high + CHUNK

    with ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="kopnet-chunks") as pool:
        upcoming = ranges()
        pending: deque[Future[list[dict[str, Any]]]] = deque(
            pool.submit(read, *next(upcoming)) for _ in range(IN_FLIGHT))
        try:
            while documents := pending.popleft().result():
                pending.append(pool.submit(read, *next(upcoming)))
                yield from documents
        finally:
            for future in pending:  # past the end (or the caller stopped): not waited for
                future.cancel()


def in_order(documents: Iterable[dict[str, Any]], after: int, holes: Holes | None = None
             ) -> Iterator[dict[str, Any]]:
    waiting: dict[int, dict[str, Any]] = {}
    next_start: int | None = None
    for document in documents:
        if next_start is None and document["position"] <= after + 1:
            next_start = document["position"]
        waiting[document["position"]] = document
        while next_start is not None and next_start in waiting:
            ready = waiting.pop(next_start)
            next_start = ready["end"] + 1
            yield ready
    while waiting and holes is not None and holes.passable(after + 1 if next_start is None else next_start):
        next_start = min(waiting)  # the hole is passed: the chain goes on from the next commit
        while next_start in waiting:
            ready = waiting.pop(next_start)
            next_start = ready["end"] + 1
            yield ready
