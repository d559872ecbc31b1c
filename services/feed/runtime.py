"""One place that builds the feed's parts (store, relay, broker admin, metrics, use cases) for a
running kernel, from the `FEED` section of config.yml; the subscriptions and the service share
them through `feed_of(kernel)`."""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from shared.kernel import Kernel

from .application import ENTITLEMENT_FACTS, Feed
from .broker_admin import BrokerAdmin
from .feedstore import FeedStore
from .monitor import FeedMetrics, QueueMonitor
from .partner_relay import PartnerFeedRelay
from .watermark import EntitlementWatermark


@dataclass(frozen=True)
class FeedSettings:
    settle_seconds: float = 2.0
    management_url: str | None = None   # default http://<AMQP host>:$RABBITMQ_MGMT_PORT
    public_amqp_uri: str | None = None  # the broker as partners reach it; default AMQP_URI's host
    monitor_seconds: float = 15.0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeedSettings:
        feed = config.get("FEED", {}) or {}
        return cls(settle_seconds=float(feed.get("SETTLE_SECONDS", 2.0)),
                   management_url=feed.get("MANAGEMENT_URL") or None,
                   public_amqp_uri=feed.get("PUBLIC_AMQP_URI") or None,
                   monitor_seconds=float(feed.get("MONITOR_SECONDS", 15.0)))


@dataclass
class FeedParts:
    feed: Feed
    store: FeedStore
    relay: PartnerFeedRelay
    monitor: QueueMonitor
    metrics: FeedMetrics


_parts: weakref.WeakKeyDictionary[Kernel, FeedParts] = weakref.WeakKeyDictionary()


def configure(kernel: Kernel, settings: FeedSettings) -> FeedParts:
    """Builds the kernel's feed parts (once per kernel; later calls answer the first ones)."""
    if kernel not in _parts:
        uri = kernel.settings.amqp_uri
        metrics = FeedMetrics(kernel.metrics.registry)
        store = FeedStore(kernel.database)
        admin = BrokerAdmin(uri, settings.management_url, settings.public_amqp_uri)
        relay = PartnerFeedRelay(store, kernel.database, uri, metrics)
        [facts] = [s for s in kernel.subscribers if s.subscription.name == ENTITLEMENT_FACTS]
        watermark = EntitlementWatermark(uri, facts.queue, kernel.database)
        facts.barrier_listeners.append(watermark.passed)
        feed = Feed(kernel.application, store, admin, uri, watermark, metrics, settings.settle_seconds)
        _parts[kernel] = FeedParts(feed, store, relay, QueueMonitor(admin, metrics, settings.monitor_seconds),
                                   metrics)
    return _parts[kernel]


def feed_of(kernel: Kernel) -> FeedParts:
    """The kernel's parts; built with the defaults if the service has not configured them."""
    return configure(kernel, FeedSettings())
