"""The feed service with a partner relay that can be held (fault tests only).

While the file named by KOPNET_RELAY_PAUSE_FILE exists, the feed decides and stores each partner's
entries as usual but its relay publishes nothing: the feed store holds entries no partner queue
has. Killing this process then is a crash of the feed between store and publish; the real
service, started after it, must publish them, so that the queue and GET /feed agree. Run it with
`python -m shared.cli run tests.support.pausable_feed.service`.
"""
from __future__ import annotations

import os
from pathlib import Path

from services.feed.runtime import feed_of
from services.feed.service import FeedKernelProvider, FeedService, definition


class PausableFeedKernelProvider(FeedKernelProvider):
    def setup(self) -> None:
        super().setup()
        assert self.kernel is not None
        relay = feed_of(self.kernel).relay
        pause = Path(os.environ["KOPNET_RELAY_PAUSE_FILE"])
        publish = relay.relay_partner

        def relay_partner(publisher, partner_id: str) -> int:
            if pause.exists():  # the relay's loop keeps its connection alive meanwhile
                return relay.positions.get(partner_id, 0)
            return publish(publisher, partner_id)

        relay.relay_partner = relay_partner  # type: ignore[method-assign]


class PausableFeed(FeedService):
    kernel = PausableFeedKernelProvider(definition)


service_class = PausableFeed
