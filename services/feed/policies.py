"""The feed's two subscriptions to kopnet.events, on queues of their own so that the one never
waits behind the other:

* `entitlement-facts`: the facts (PartnerRegistered, ContractApplied, PartnershipActivated/Ended),
  recorded as they come, by one replica at a time in queue order (`single_active`: the watermark's
  barriers rely on it; an earlier version's queue `feed.entitlements` was shared by competing
  consumers, and RabbitMQ cannot turn that into a single active consumer in place);
* `events`: every event (`#`), held until it is `settle` seconds old (application.Feed._settle),
  then fed to each entitled partner; the events delivered together are decided together
  (application.Feed.on_events: one wait, one read of each entitlement for the batch).

Both are idempotent by themselves (derived command ids; the feed store's unique (partner,
event_id)), so no processed marks are kept (`remember=False`).
"""
from __future__ import annotations

from shared.consumer import Subscription
from shared.kernel import Kernel

from .application import ENTITLEMENT_EVENTS, ENTITLEMENT_FACTS
from .runtime import feed_of


def entitlement_policy(kernel: Kernel) -> Subscription:
    # resolved per event: the service configures the feed's parts after the kernel is built
    return Subscription(ENTITLEMENT_FACTS, ENTITLEMENT_EVENTS,
                        lambda event, context: feed_of(kernel).feed.on_entitlement_event(event, context),
                        remember=False, single_active=True)


def feeding_policy(kernel: Kernel) -> Subscription:
    return Subscription("events", ["#"], lambda event, context: feed_of(kernel).feed.on_event(event, context),
                        remember=False, batch_handler=lambda items: feed_of(kernel).feed.on_events(items))
