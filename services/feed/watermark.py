"""Whether the feed has recorded every entitlement fact that reached the broker before a moment.

The feed decides an event against the entitlement facts recorded so far, and facts and events
come on two queues (policies.py). The settle delay covers the different speeds of the services'
relays; this covers the feed's own: after a backlog (the feed was down), the events queue must not
be decided ahead of the entitlements queue. `wait_until_recorded(moment)` returns once, at some
instant >= `moment`, the entitlements queue held no ready message and its handler held none in
hand (its subscriber takes one message at a time: prefetch 1). Every fact that reached the broker
before `moment` has then been recorded.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import kombu

from shared.broker import connect


class EntitlementWatermark:
    def __init__(self, amqp_uri: str, queue: str, sleep: Callable[[float], None] = time.sleep,
                 interval: float = 0.05):
        self.amqp_uri, self.queue, self.sleep, self.interval = amqp_uri, queue, sleep, interval
        self.recorded_until = 0.0  # epoch seconds: facts that reached the broker before it are recorded
        self._busy = 0
        self._lock = threading.Lock()
        self._connection: kombu.Connection | None = None

    @contextmanager
    def handling(self) -> Iterator[None]:
        """Wraps the handling of one entitlement fact."""
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1

    def wait_until_recorded(self, moment: float) -> None:
        while self.recorded_until < moment:
            now = time.time()
            if self._ready() == 0 and self._busy == 0:
                self.recorded_until = max(self.recorded_until, now)
                if now >= moment:
                    return
            self.sleep(min(self.interval, max(0.0, moment - now)) or self.interval)

    def _ready(self) -> int:
        """Ready messages on the entitlements queue (a passive declare: no permission to change it)."""
        try:
            if self._connection is None:
                self._connection = connect(self.amqp_uri)
            _, ready, _ = self._connection.default_channel.queue_declare(self.queue, passive=True)
            return int(ready)
        except Exception:  # noqa: BLE001 - the queue or the broker is gone: unknown, so not caught up
            if self._connection is not None:
                self._connection.release()
            self._connection = None
            return 1
