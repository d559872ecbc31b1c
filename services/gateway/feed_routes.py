"""The Feed slice of /api/v1 (http-api.md, Feed), and the feed's part of POST /partners.

POST /partners is financing's route; its 201 answer carries the partner's feed access once. The
route runs `register_partner_with_feed` on a `PartnerRegistration` (financing's and the feed's
proxies): financing registers, then the feed creates the partner's queue and RabbitMQ user. If the
feed fails after financing succeeded, the partner exists without feed access and the answer is the
feed's error (503); the network admin then gets the access with POST
/partners/{partner}/feed-credentials (nothing else is lost: the queue fills from the partner's
first entitled event, and the replay holds everything).
"""
from __future__ import annotations

from typing import Any

from . import access
from . import feed_schemas as feed
from .routing import Call, Route


def _feed(name: str, method: str, path: str, allow: Any, run: Any, response: Any, summary: str,
          **options: Any) -> Route:
    return Route(name, method, path, allow, run, response, summary, tags=("feed",), service="feed", **options)


FEED_ROUTES = [
    _feed("read_feed", "GET", "/feed", access.partner,
          lambda rpc, c: rpc.replay(c.principal.partner_id, c.query["after"], c.query["limit"]),
          feed.FeedPage, "The partner's entitled events after `after`, in feed order (the same as on its "
          "queue); `next` continues", query=feed.FeedQuery),
    _feed("rotate_feed_credentials", "POST", "/partners/{partner_id}/feed-credentials", access.network_admin,
          lambda rpc, c: rpc.rotate_credentials(c.path["partner_id"], c.context),
          feed.FeedCredentials, "Rotate a partner's RabbitMQ credentials: the old password stops working at "
          "once; answers the new `feed: {amqp_uri, queue}` (given only here)", body=feed.RotateCredentials,
          secret_fields=("feed",)),
]


class PartnerRegistration:
    """The two proxies POST /partners needs, as the one `rpc` a route receives."""

    def __init__(self, financing: Any, feed: Any):
        self.financing, self.feed = financing, feed

    @property
    def shed(self) -> Any:  # admission control's refusal, whichever proxy met it (application.py)
        return getattr(self.financing, "shed", None) or getattr(self.feed, "shed", None)


def register_partner_with_feed(register: Any) -> Any:
    """Wraps financing's run of POST /partners: `register(financing_proxy, call)` answers the
    partner (with its `id`); the answer gains `feed: {amqp_uri, queue}` from the feed."""

    def run(rpc: PartnerRegistration, call: Call) -> Any:
        partner = register(rpc.financing, call)
        return {**partner, **rpc.feed.issue_credentials(partner["id"], call.context)}

    return run
