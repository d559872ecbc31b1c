"""The feed's use cases: record entitlement facts, feed each event to the partners entitled to it,
replay a partner's feed, issue and rotate its RabbitMQ credentials.

Once per event: the facts go through the kernel's Application with the delivery's command id (a
redelivery stores nothing new), and each feed entry is unique per (partner, event_id) in the feed
store, so a redelivered or re-decided event is never fed twice.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.aggregate import not_found
from shared.application import Application, CommandContext
from shared.broker import connect
from shared.envelope import Envelope, utc_now

from . import domain
from .broker_admin import BrokerAdmin
from .domain import CooperativeAccess, FeedPartner, FundedContract
from .feedstore import FeedStore
from .monitor import FeedMetrics
from .partner_relay import declare_partner_queue
from .schemas import MAX_PAGE, username
from .watermark import EntitlementWatermark

ENTITLEMENT_EVENTS = ["financing.PartnerRegistered", "financing.ContractApplied",
                      "networking.PartnershipActivated", "networking.PartnershipEnded"]
ENTITLEMENT_FACTS = "entitlement-facts"  # the subscription (queue feed.entitlement-facts) of those
#: Aggregates read fresh for one batch of events, by (class, stream id).
Entitlements = dict[tuple[type, str], Any]


class Feed:
    def __init__(self, application: Application, store: FeedStore, admin: BrokerAdmin, amqp_uri: str,
                 watermark: EntitlementWatermark, metrics: FeedMetrics | None = None, settle: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.application = application
        self.store = store
        self.admin = admin
        self.amqp_uri = amqp_uri
        self.watermark = watermark
        self.metrics = metrics
        self.settle = settle
        self.sleep = sleep

    # -- entitlement facts (subscription "entitlement-facts") ------------------------------------------
    def on_entitlement_event(self, event: Envelope, context: CommandContext) -> None:
        payload, execute = event.payload, self.application.execute
        if event.event_type == "financing.PartnerRegistered":
            execute(FeedPartner, payload["partner_id"],
                    lambda p: p.register(payload.get("name"), payload.get("kind")), context)
        elif event.event_type == "financing.ContractApplied":
            cooperative = domain.cooperative_of(event.cooperative_id, payload)
            execute(FundedContract, payload["contract_id"],
                    lambda c: c.record(cooperative, domain.contract_partners(payload)), context)
        elif event.event_type in ("networking.PartnershipActivated", "networking.PartnershipEnded"):
            partnership = domain.partnership(payload)
            if not partnership.feed_entitled:
                return
            opening = event.event_type.endswith("Activated")
            for cooperative_id in partnership.cooperatives:
                def change(access: CooperativeAccess) -> None:
                    for partner_id in partnership.partners:
                        step = access.open if opening else access.close
                        step(payload["partnership_id"], partner_id, event.occurred_at)
                execute(CooperativeAccess, cooperative_id, change, context.step(cooperative_id))

    # -- feeding (subscription "events") ----------------------------------------------------------------
    def on_event(self, event: Envelope, context: CommandContext) -> None:
        if event.service == "feed":  # the feed's own facts are no partner's business
            return
        self._settle(event.occurred_at)
        # and every fact that reached the broker by then is recorded (a backlog on the events queue
        # must not be decided ahead of the entitlements queue: watermark.py)
        self.watermark.wait_until_recorded(domain.instant(event.occurred_at).timestamp() + self.settle)
        self._feed(event)

    def on_events(self, items: list[tuple[Envelope, CommandContext]]) -> list[bool]:
        """The events delivered together, each decided as `on_event` decides it, after one wait:
        until the newest is `settle` seconds old and every fact up to that moment is recorded,
        which covers the older ones too; so each cooperative's access and each contract's
        funders are read once for the batch. All done, or (an outage) raised: then each goes
        through `on_event`, and the feed store's unique (partner, event_id) feeds none twice."""
        events = [event for event, _context in items if event.service != "feed"]
        if events:
            newest = max(events, key=lambda event: domain.instant(event.occurred_at))
            self._settle(newest.occurred_at)
            self.watermark.wait_until_recorded(domain.instant(newest.occurred_at).timestamp() + self.settle)
        read: Entitlements = {}
        for event in events:
            self._feed(event, read)
        return [True] * len(items)

    def _feed(self, event: Envelope, read: Entitlements | None = None) -> None:
        for partner_id in self.entitled_partners(event, read):
            appended = self.store.append(partner_id, event)
            if self.metrics is not None and not appended.duplicate:
                self.metrics.appended.labels(partner_id).inc()

    def _settle(self, occurred_at: str) -> None:
        """Holds an event until it is `settle` seconds old, so that entitlement facts of the same
        moment, relayed by other services at their own pace, are recorded before it is decided
        (at most `settle`: a clock ahead of ours costs no more)."""
        wait = domain.instant(occurred_at).timestamp() + self.settle - time.time()
        if wait > 0:
            self.sleep(min(wait, self.settle))

    def entitled_partners(self, event: Envelope, read: Entitlements | None = None) -> list[str]:
        """`read`: what was read fresh for the batch the event is decided in (on_events)."""
        read = {} if read is None else read

        def fresh(cls: type, stream_id: str) -> Any:
            if (cls, stream_id) not in read:
                read[(cls, stream_id)] = self.application.load(cls, stream_id, fresh=True)
            return read[(cls, stream_id)]

        contract_id = domain.contract_of(event.event_type, event.payload)
        funders = fresh(FundedContract, contract_id).partners if contract_id else []
        cooperative_id = domain.cooperative_of(event.cooperative_id, event.payload)
        windows = fresh(CooperativeAccess, cooperative_id).windows.values() if cooperative_id else []
        return domain.entitled(funders, windows, event.occurred_at)

    # -- replay -------------------------------------------------------------------------------------------
    def replay(self, partner_id: str, after: int = 0, limit: int = 100) -> dict[str, Any]:
        """The partner's entries after `after` in feed order; `next` is the last position returned
        (or `after` when there is nothing new): pass it as `after` to continue."""
        domain.check_partner_id(partner_id)
        items = self.store.read(partner_id, max(0, int(after)), max(1, min(int(limit), MAX_PAGE)))
        for item in items:
            item.pop("fed_at", None)
        return {"items": items, "next": items[-1]["feed_position"] if items else max(0, int(after))}

    # -- credentials --------------------------------------------------------------------------------------
    def issue_credentials(self, partner_id: str, context: CommandContext) -> dict[str, Any]:
        """The partner's queue and its own RabbitMQ user with a new password (given only here)."""
        domain.check_partner_id(partner_id)
        connection = connect(self.amqp_uri)
        try:  # the queue first: it keeps the partner's messages from the first one on
            declare_partner_queue(connection.channel(), partner_id)
        finally:
            connection.release()
        access = self.admin.grant(partner_id)
        self.application.execute(FeedPartner, partner_id,
                                 lambda p: p.credentials_issued(username(partner_id), utc_now()), context)
        return {"feed": access.to_dict()}

    def rotate_credentials(self, partner_id: str, context: CommandContext) -> dict[str, Any]:
        """A new password for a partner the feed knows; the old one stops working at once."""
        domain.check_partner_id(partner_id)
        partner = self.application.load(FeedPartner, partner_id, fresh=True)
        if not (partner.registered or partner.username):
            raise not_found("partner", partner_id)
        return self.issue_credentials(partner_id, context)
