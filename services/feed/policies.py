"""The feed's two subscriptions to kopnet.events, on queues of their own so that the one never
waits behind the other:

* `entitlements`: the facts (PartnerRegistered, ContractApplied, PartnershipActivated/Ended),
  recorded as they come;
* `events`: every event (`#`), held until it is `settle` seconds old (application.Feed._settle),
  then fed to each entitled partner.

Both are idempotent by themselves (derived command ids; the feed store's unique (partner,
event_id)), so no processed marks are kept (`remember=False`).
"""
from __future__ import annotations

from shared.consumer import Subscription
from shared.kernel import Kernel

from .application import ENTITLEMENT_EVENTS
from .runtime import feed_of


def entitlement_policy(kernel: Kernel) -> Subscription:
    # resolved per event: the service configures the feed's parts after the kernel is built
    return Subscription("entitlements", ENTITLEMENT_EVENTS,
                        lambda event, context: feed_of(kernel).feed.on_entitlement_event(event, context),
                        remember=False)


def feeding_policy(kernel: Kernel) -> Subscription:
    return Subscription("events", ["#"], lambda event, context: feed_of(kernel).feed.on_event(event, context),
                        remember=False)
