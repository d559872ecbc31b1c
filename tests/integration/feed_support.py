"""Helpers of the feed's integration tests: the feed service in a nameko container, events in the
contract's shape published to kopnet.events as the other services' relays send them."""
from __future__ import annotations

import dataclasses
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import amqp
import kombu
import requests

from services.feed.runtime import FeedParts, feed_of
from services.feed.service import FeedKernelProvider, FeedService, definition
from shared.broker import EVENTS_EXCHANGE, declare_events_exchange
from shared.envelope import Envelope, new_id
from tests.conftest import free_port, wait_for


def at(seconds: float = 0.0) -> str:
    """An instant `seconds` from now, as envelopes write it."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(event_type: str, payload: dict[str, Any], cooperative_id: str | None = None,
             occurred_at: str | None = None, stream_type: str = "Thing", stream_id: str | None = None) -> Envelope:
    return Envelope(event_id=new_id(), event_type=event_type, schema_version=1, stream_type=stream_type,
                    stream_id=stream_id or new_id(), stream_version=1, position=1, occurred_at=occurred_at or at(),
                    cooperative_id=cooperative_id, correlation_id=new_id(), causation_id=None, payload=payload)


def publish(amqp_uri: str, *events: Envelope) -> None:
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        declare_events_exchange(channel)
        for event in events:
            channel.basic_publish(amqp.Message(event.to_json(), delivery_mode=2), exchange=EVENTS_EXCHANGE,
                                  routing_key=event.event_type)


def feed_config(amqp_uri: str, mongodb_uri: str, prefix: str, settle: float) -> dict[str, Any]:
    from shared.config import load_config

    environ = {**os.environ, "AMQP_URI": amqp_uri, "MONGODB_URI": mongodb_uri, "KOPNET_DB_PREFIX": prefix,
               "FEED_METRICS_PORT": str(free_port()), "FEED_SETTLE_SECONDS": str(settle)}
    return load_config("services/feed/config.yml", environ)


def isolated_feed_class(name: str) -> type:
    return type("IsolatedFeed", (FeedService,),
                {"name": name, "kernel": FeedKernelProvider(dataclasses.replace(definition, name=name))})


@dataclasses.dataclass
class FeedHandle:
    name: str
    config: dict[str, Any]
    kernel: Any
    rpc: Any
    partners: list[str] = dataclasses.field(default_factory=list)

    @property
    def parts(self) -> FeedParts:
        return feed_of(self.kernel)

    def publish(self, *events: Envelope) -> None:
        publish(self.config["AMQP_URI"], *events)

    def partner(self) -> str:
        partner = f"p{uuid.uuid4().hex[:10]}"
        self.partners.append(partner)
        return partner

    def replay_ids(self, partner: str) -> list[str]:
        return [item["event_id"] for item in self.rpc.replay(partner, 0, 500)["items"]]

    def wait_opened(self, cooperative_id: str, *partners: str) -> None:
        """Waits until the feed has recorded access windows of the cooperative for `partners`.

        A test that back-dates an activation sends it long after it happened, outside what the
        settle delay and the watermark promise (every fact reaches the broker within `settle` of
        happening); back-dated events sent with it could be decided first. Waiting puts it back
        inside the contract: the fact is recorded before the events it opens are sent."""
        from services.feed.domain import CooperativeAccess

        def opened() -> bool:
            access = self.kernel.application.load(CooperativeAccess, cooperative_id, fresh=True)
            return set(partners) <= {w["partner_id"] for w in access.windows.values() if w["opened_at"]}
        wait_for(opened, timeout=30, what=f"access of {cooperative_id} opened to {', '.join(partners)}")

    def remove_users(self) -> None:
        for partner in self.partners:
            self.parts.feed.admin.remove(partner)


def management(amqp_uri: str) -> tuple[str, tuple[str, str]]:
    from urllib.parse import urlsplit

    parts = urlsplit(amqp_uri)
    return (f"http://{parts.hostname}:{os.environ.get('RABBITMQ_MGMT_PORT', '15672')}/api",
            (parts.username or "guest", parts.password or "guest"))


def management_status(amqp_uri: str, user: str, password: str) -> int:
    """What the management API answers a partner's credentials (401: no management access)."""
    api, _ = management(amqp_uri)
    return requests.get(f"{api}/overview", auth=(user, password), timeout=10).status_code
