"""Position holes: the documented rule for a position that never becomes visible.

Positions are gap-free by construction (eventstore.py): a commit is written right after one
its writer has seen. On a single node a gap is therefore only ever a commit still on its way,
and followers wait for it. On a replica set a commit can be rolled back after a later one was
written on top of it (the later writer saw it on a primary that then failed over); the gap it
leaves would stall the relay and the projections for ever.

Rule: a position that is missing while later positions are visible, for longer than
`timeout` seconds, is declared a hole. It is counted (kopnet_position_holes_total, alert
KopnetPositionHole), logged, and followers continue after it. This is safe for what was
rolled back: its writer got an error (OutcomeUnknown) and the command, retried with its
command id, is stored again at a new position. What it costs: a commit slower than `timeout`
to become visible would be passed by; keep `timeout` well above the store's write timeout.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Holes:
    def __init__(self, timeout: float = 60.0, on_hole: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.timeout = timeout
        self.on_hole = on_hole
        self.clock = clock
        self._missing_since: dict[int, float] = {}
        self.declared: list[int] = []

    def passable(self, missing: int) -> bool:
        """True when `missing` (with later positions visible) has been missing for `timeout`
        seconds: a hole, reported once; followers go on after it. False means: wait."""
        now = self.clock()
        since = self._missing_since.setdefault(missing, now)
        if now - since < self.timeout:
            return False
        del self._missing_since[missing]
        self.declared.append(missing)
        log.error("position %d stayed missing for %.0fs while later ones are stored: declared a "
                  "hole (a rolled-back commit) and passed", missing, now - since)
        if self.on_hole is not None:
            self.on_hole(missing)
        return True
