"""The partner feed nameko service ("feed"): thin RPC entrypoints over application.Feed.

    replay(partner_id, after=0, limit=100) -> {items: [envelope + feed_position], next}
    issue_credentials(partner_id, context=None) -> {feed: {amqp_uri, queue}}   (POST /partners)
    rotate_credentials(partner_id, context=None) -> {feed: {amqp_uri, queue}}  (404 for a partner
        the feed does not know)

Besides the kernel's loops it runs the partner feed relay (partner_relay.py) and the queue
monitor (monitor.py). The password in `amqp_uri` is answered once and kept nowhere.
"""
from __future__ import annotations

from shared.application import CommandContext
from shared.kernel import ServiceDefinition
from shared.providers import KernelProvider, rpc

from .application import Feed
from .policies import entitlement_policy, feeding_policy
from .projections import PROJECTIONS
from .runtime import FeedSettings, configure, feed_of
from .schemas import registry

definition = ServiceDefinition("feed", registry, projections=[cls() for cls in PROJECTIONS],
                               policies=[entitlement_policy, feeding_policy])


class FeedKernelProvider(KernelProvider):
    """The kernel, with the feed's parts configured from the container's config and the feed's
    own loops (relay, queue monitor) run beside the kernel's."""

    def setup(self) -> None:
        super().setup()
        assert self.kernel is not None
        configure(self.kernel, FeedSettings.from_config(self.container.config))

    def start(self) -> None:
        super().start()
        assert self.kernel is not None
        parts = feed_of(self.kernel)
        if self.run_loops:
            self.container.spawn_managed_thread(parts.relay.run, identifier="kopnet.feed.relay")
            self.container.spawn_managed_thread(parts.monitor.run, identifier="kopnet.feed.monitor")

    def stop(self) -> None:
        if self.kernel is not None:
            parts = feed_of(self.kernel)
            parts.relay.stop()
            parts.monitor.stop()
        super().stop()


class FeedService:
    name = "feed"
    kernel = FeedKernelProvider(definition)

    @property
    def feed(self) -> Feed:
        return feed_of(self.kernel).feed

    @rpc
    def replay(self, partner_id, after=0, limit=100):
        return self.feed.replay(partner_id, after, limit)

    @rpc
    def issue_credentials(self, partner_id, context=None):
        return self.feed.issue_credentials(partner_id, CommandContext.from_wire(context))

    @rpc
    def rotate_credentials(self, partner_id, context=None):
        return self.feed.rotate_credentials(partner_id, CommandContext.from_wire(context))


service_class = FeedService
