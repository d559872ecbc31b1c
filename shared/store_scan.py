"""Putting the commits of an unsorted cursor back in position order, and passing holes.

The relay reads commits with an unsorted cursor so the server streams while it scans
(FerretDB v1 sorts in memory after a full scan). Positions are gap-free, so order is cheap
to restore: the next commit always starts at the last one's end + 1. A commit that arrives
before its predecessor waits. What still waits when the cursor ends either follows a commit
that became visible during the scan (left for the next read) or a hole: a position missing
for longer than the hole timeout (holes.py), which is passed, so one rolled-back commit never
stalls a follower for ever.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .holes import Holes


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
