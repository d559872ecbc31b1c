"""Books: every financing event that moves money is posted in the cooperative's ledger.

A policy on financing's own events (its own queue, fed by the relay after the event is stored)
sends the event's `entry` to the ledger's `post_entry` RPC with source id = the event's id. The
ledger posts each source at most once, ever, so a redelivery, a retry after a timeout, or a
request that waited in the ledger's queue while it was down all end in exactly one posting.
A ledger that is down (no answer, unknown service) fails the handler, which the kernel retries
with backoff (`MAX_ATTEMPTS` over about an hour) and then parks for an operator: a posting is
delayed, never lost and never doubled. The contract's own answers never wait for the ledger.
"""
from __future__ import annotations

import logging
from typing import Any

from nameko.standalone.rpc import ClusterRpcProxy

from shared.application import CommandContext
from shared.consumer import Subscription
from shared.envelope import Envelope
from shared.kernel import Kernel

log = logging.getLogger(__name__)

MONEY_EVENTS = [f"financing.{name}" for name in (
    "ContractSigned", "ContractDisbursed", "PaymentReceived", "GuaranteeClaimed", "ProfitReported",
    "ContractWrittenOff", "OwnershipTransferred")]
MAX_ATTEMPTS = 60
LEDGER_TIMEOUT = 10.0  # seconds for one post_entry answer


class LedgerPoster:
    """Posts an event's entry through one long-lived RPC proxy (re-opened after any failure)."""

    def __init__(self, amqp_uri: str, timeout: float = LEDGER_TIMEOUT):
        self.config = {"AMQP_URI": amqp_uri}
        self.timeout = timeout
        self._cluster: ClusterRpcProxy | None = None
        self._proxy: Any = None

    def __call__(self, event: Envelope, context: CommandContext) -> None:
        entry = event.payload.get("entry")
        if not entry:
            return  # nothing moved (e.g. a signing without a guarantee fee)
        source = {"service": "financing", "id": event.event_id}
        wire = {"command_id": context.command_id, "correlation_id": context.correlation_id}
        try:
            self._ledger().post_entry(event.payload["cooperative_id"], entry, source, wire)
        except Exception:
            self.close()  # the next try starts from a fresh connection
            raise

    def _ledger(self) -> Any:
        if self._proxy is None:
            self._cluster = ClusterRpcProxy(self.config, timeout=self.timeout)
            self._proxy = self._cluster.start().ledger
        return self._proxy

    def close(self) -> None:
        cluster, self._cluster, self._proxy = self._cluster, None, None
        if cluster is not None:
            try:
                cluster.stop()
            except Exception:  # noqa: BLE001 - a broken connection is being discarded anyway
                log.debug("closing the ledger proxy failed", exc_info=True)


def books_policy(kernel: Kernel) -> Subscription:
    return Subscription("books", MONEY_EVENTS, LedgerPoster(kernel.settings.amqp_uri),
                        max_attempts=MAX_ATTEMPTS, remember=False)
