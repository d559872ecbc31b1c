"""Admission control: at most `limit` calls in flight to one service, a short bounded wait for a
slot, and past that an immediate refusal (`Saturated`) before anything was sent.

Past a service's capacity, requests that queue (in RabbitMQ, in the gateway's workers) only
wait for their deadline and are then refused as too late: goodput collapses. Bounding what is
in flight keeps the service busy at its capacity, and the excess is answered at once, so that
the client retries after a second instead of waiting for a 503 at the deadline.

Queue time is bounded twice (a simple take on CoDel): a caller waits at most `wait` seconds,
and once callers have been waiting without a break for longer than `wait` (a standing queue:
sustained overload, not a burst) new callers wait only `wait * STANDING_SHARE`, so that the
requests admitted are not delayed by a queue that never drains. At most `max_waiting` callers
wait; more are refused at once. A freed slot passes to the oldest waiter (first come, first
served). Plain Python: `threading` primitives, which eventlet's monkey patching makes green.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge

RETRY_AFTER = 1  # seconds: what a shed request's Retry-After header says
STANDING_SHARE = 0.1  # of `wait`: how long a caller waits while the queue is standing


class Saturated(Exception):
    """Shed: no slot for a call to `service` in time. Nothing was sent to it."""

    def __init__(self, service: str, limit: int, retry_after: int = RETRY_AFTER):
        super().__init__(f"{service} is saturated ({limit} requests in flight)")
        self.service, self.limit, self.retry_after = service, limit, retry_after


class AdmissionMetrics:
    """Shed requests and calls in flight, per target service (`service` is the calling process)."""

    def __init__(self, registry: CollectorRegistry, service: str = "gateway"):
        self.service = service
        self.shed = Counter(
            "kopnet_gateway_shed_total", "Requests refused at once (503) because a service had no "
            "free slot in time", ["service", "target"], registry=registry)
        self.in_flight = Gauge(
            "kopnet_gateway_rpc_in_flight", "RPCs sent to a service and not answered yet",
            ["service", "target"], registry=registry)


class Admission:
    """The slots for one target service."""

    def __init__(self, target: str, limit: int, wait: float, metrics: AdmissionMetrics | None = None,
                 max_waiting: int | None = None, clock: Callable[[], float] = time.monotonic):
        if limit < 1 or wait < 0:
            raise ValueError(f"admission for {target}: limit must be 1 or more and wait 0 or more "
                             f"(got {limit}, {wait})")
        self.target, self.limit, self.wait = target, limit, wait
        self.max_waiting = limit if max_waiting is None else max_waiting
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._queue: deque[threading.Event] = deque()  # one event per waiter, oldest first
        self._queued_since: float | None = None  # since when the queue has not been empty
        metrics = metrics or AdmissionMetrics(CollectorRegistry())
        self._shed = metrics.shed.labels(metrics.service, target)
        self._gauge = metrics.in_flight.labels(metrics.service, target)
        self._gauge.set(0)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Holds a slot for the block (released however it ends); raises Saturated when shed."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def patience(self, now: float) -> float:
        """How long a caller arriving `now` may wait for a slot."""
        standing = self._queued_since is not None and now - self._queued_since >= self.wait
        return self.wait * STANDING_SHARE if standing else self.wait

    def saturated(self) -> bool:
        """Whether a caller arriving now would most likely be shed: no free slot, and the queue is
        full or standing. Lets a caller refuse before doing work it would have to undo."""
        with self._lock:
            return self._in_flight >= self.limit and (
                not self.wait or len(self._queue) >= self.max_waiting
                or self.patience(self._clock()) < self.wait)

    def refuse(self) -> Saturated:
        """Counts a request shed by the caller (after `saturated`); the error to raise."""
        return self._refuse()

    def acquire(self) -> None:
        with self._lock:
            if self._in_flight < self.limit:
                self._set_in_flight(self._in_flight + 1)
                return
            if len(self._queue) >= self.max_waiting:
                raise self._refuse()
            now = self._clock()
            patience = self.patience(now)
            if not self._queue:
                self._queued_since = now
            turn = threading.Event()
            self._queue.append(turn)
        try:
            turn.wait(patience)
        except BaseException:  # killed while waiting: a slot handed over meanwhile passes on
            if not self._withdraw(turn):
                self.release()
            raise
        if not self._withdraw(turn):
            return
        raise self._refuse()

    def release(self) -> None:
        with self._lock:
            if self._queue:
                self._leave(self._queue[0]).set()  # the slot passes on; in flight is unchanged
            else:
                self._set_in_flight(self._in_flight - 1)

    def _withdraw(self, turn: threading.Event) -> bool:
        """Leaves the queue unless a slot was handed over (perhaps just as the wait ran out)."""
        with self._lock:
            if turn.is_set():
                return False
            self._leave(turn)
            return True

    def _leave(self, turn: threading.Event) -> threading.Event:
        self._queue.remove(turn)
        if not self._queue:
            self._queued_since = None
        return turn

    def _set_in_flight(self, count: int) -> None:
        self._in_flight = count
        self._gauge.set(count)

    def _refuse(self) -> Saturated:
        self._shed.inc()
        return Saturated(self.target, self.limit)

