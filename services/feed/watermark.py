"""Whether the feed has recorded every entitlement fact that reached the broker before a moment.

The feed decides an event against the entitlement facts recorded so far, and facts and events
come on two queues (policies.py). The settle delay covers the different speeds of the services'
relays; this covers the feed's own: after a backlog (the feed was down), the events queue must not
be decided ahead of the entitlements queue.

`wait_until_recorded(moment)` sends a barrier (shared/consumer.py) into the entitlement facts
queue at an instant >= `moment` and returns once it has been passed. That queue has a single
active consumer (one replica of the feed takes its messages, one after another, in queue
order), so every fact that reached the queue before the barrier has been recorded by then (or,
if recording it failed, sent to its retry queue: a fact retried later can still come after
events it concerns). The replica that passes a barrier stores its stamp in the feed's database
(one document, `$max`), where the waiters of every replica find it; its own waiters also hear at
once. An earlier version counted the queue's ready messages instead, which missed a fact the
broker had already pushed to a subscriber but that was not yet in a handler's hand, and any fact
in another replica's hands.

A barrier passed answers every wait for a moment up to its own, and at most one is sent per
`gap` seconds, so a steady stream of events costs a few barriers a second, not one each; one
that does not come back (its queue was deleted and declared again) is sent again after
`resend_after` seconds.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import kombu
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.broker import connect
from shared.consumer import barrier_message
from shared.publisher import ConfirmedPublisher

log = logging.getLogger(__name__)
RETRY_SECONDS = 0.5  # after a barrier the broker did not take (it restarts: the feed waits meanwhile)
WATERMARK = "entitlements"  # its document's _id in the collection `feed_watermark`


class EntitlementWatermark:
    def __init__(self, amqp_uri: str, queue: str, database: Database,
                 sleep: Callable[[float], None] = time.sleep, gap: float = 0.05, poll: float = 0.02,
                 resend_after: float = 10.0):
        self.amqp_uri, self.queue, self.sleep = amqp_uri, queue, sleep
        self.marks = database["feed_watermark"]
        self.gap, self.poll, self.resend_after = gap, poll, resend_after
        self.recorded_until = 0.0  # epoch seconds: facts that reached the broker before it are recorded
        self.barriers_sent = 0
        self._sent_stamp, self._sent_at = 0.0, -math.inf  # the newest barrier sent: its stamp, and when
        self._passed = threading.Condition()
        self._sending = threading.Lock()
        self._connection: kombu.Connection | None = None
        self._publisher: ConfirmedPublisher | None = None

    def passed(self, token: str) -> None:
        """The entitlement facts' subscriber passed a barrier (one of its barrier_listeners): stored
        for every replica's waiters. A store that does not answer fails the barrier's delivery,
        which comes again."""
        try:
            stamp = float(token)
        except ValueError:
            return  # not one of ours
        try:
            self.marks.update_one({"_id": WATERMARK}, {"$max": {"recorded_until": stamp}}, upsert=True)
        except DuplicateKeyError:  # two first upserts at once: the document exists now
            self.marks.update_one({"_id": WATERMARK}, {"$max": {"recorded_until": stamp}})
        self._heard(stamp)

    def wait_until_recorded(self, moment: float) -> None:
        while self.recorded_until < moment:
            now = time.time()
            if now < moment:
                self.sleep(moment - now)
            elif self._sent_stamp < moment or now - self._sent_at >= self.resend_after:
                self._send_barrier(moment)
            else:
                with self._passed:
                    self._passed.wait_for(lambda: self.recorded_until >= moment, timeout=self.poll)
                if self.recorded_until < moment:
                    self._read_stored()

    def _heard(self, stamp: float) -> None:
        with self._passed:
            if stamp > self.recorded_until:
                self.recorded_until = stamp
                self._passed.notify_all()

    def _read_stored(self) -> None:
        """What another replica passed (a lookup by _id); an outage reads as nothing new."""
        try:
            document = self.marks.find_one({"_id": WATERMARK})
        except Exception as error:  # noqa: BLE001 - the store is away: wait on, it is asked again
            log.warning("feed watermark: not read (%s); waiting on", error)
            self.sleep(RETRY_SECONDS)
            return
        if document is not None:
            self._heard(float(document["recorded_until"]))

    def _send_barrier(self, moment: float) -> None:
        """A barrier stamped with the time it is sent, at most one per `gap` (of any waiter)."""
        with self._sending:
            if self._sent_stamp >= moment and time.time() - self._sent_at < self.resend_after:
                return  # another waiter sent one meanwhile that answers this wait too
            wait = self._sent_at + self.gap - time.time()
            if wait > 0:
                self.sleep(wait)
            stamp = time.time()
            try:
                if self._publisher is None:
                    self._connection = connect(self.amqp_uri)
                    self._publisher = ConfirmedPublisher(self._connection)
                self._publisher.publish_all([("", self.queue, barrier_message(repr(stamp)))])
            except Exception as error:  # noqa: BLE001 - the broker is away: nothing is known, try again
                log.warning("feed watermark: no barrier sent to %s (%s); trying again", self.queue, error)
                self._close()
                self.sleep(RETRY_SECONDS)
                return
            self._sent_stamp, self._sent_at = stamp, stamp
            self.barriers_sent += 1

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.release()
        self._connection = self._publisher = None
