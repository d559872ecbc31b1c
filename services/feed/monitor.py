"""The feed's metrics: per partner, what waits in its queue and for how long (from the RabbitMQ
management API), and how far the feed is behind (from the relay).

* kopnet_feed_queue_messages{partner}: messages in `partner.<id>` (ready and unacked)
* kopnet_feed_queue_oldest_message_age_seconds{partner}: age of the message at the head (0 if empty)
* kopnet_feed_lag_seconds{partner}: from an event's occurred_at until the broker confirmed it on
  the partner's queue, for the last batch relayed (the settle delay included)
* kopnet_feed_events_total{partner}: events appended to the partner's feed
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.broker import BrokerUnavailable

from .broker_admin import BrokerAdmin
from .domain import instant

log = logging.getLogger(__name__)


class FeedMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.queue_messages = Gauge("kopnet_feed_queue_messages", "Messages waiting in a partner's queue",
                                    ["partner"], registry=registry)
        self.oldest_age = Gauge("kopnet_feed_queue_oldest_message_age_seconds",
                                "Age of the oldest message in a partner's queue", ["partner"],
                                registry=registry)
        self.lag = Gauge("kopnet_feed_lag_seconds", "occurred_at to confirmed on the partner's queue, "
                         "last relayed event", ["partner"], registry=registry)
        self.appended = Counter("kopnet_feed_events_total", "Events appended to a partner's feed",
                                ["partner"], registry=registry)

    def relayed(self, partner_id: str, last: dict[str, Any]) -> None:
        self.lag.labels(partner_id).set(max(0.0, time.time() - instant(last["occurred_at"]).timestamp()))

    def observe_queues(self, queues: list[dict[str, Any]], now: float) -> None:
        for queue in queues:
            partner = queue["name"].removeprefix("partner.")
            messages = int(queue.get("messages") or 0)
            head = queue.get("head_message_timestamp")
            self.queue_messages.labels(partner).set(messages)
            self.oldest_age.labels(partner).set(max(0.0, now - head) if messages and head else 0.0)


class QueueMonitor:
    """Polls the management API every `interval` seconds (its statistics refresh every 5 s)."""

    def __init__(self, admin: BrokerAdmin, metrics: FeedMetrics, interval: float = 15.0):
        self.admin, self.metrics, self.interval = admin, metrics, interval
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.metrics.observe_queues(self.admin.partner_queues(), time.time())
            except BrokerUnavailable as error:
                log.warning("feed queue monitor: %s", error)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
