"""nameko RPC with a deadline: an answer within `timeout` seconds, or 503 and nothing changed.

nameko 2.14's RpcProxy waits forever, and a request published while the service is down
waits in the service's durable queue to run whenever it comes back — after the client was
told it failed. This proxy publishes every request with an AMQP per-message expiration
(`EXPIRY_SHARE` of the timeout, e.g. 4 s of 5 s; nameko's Publisher passes `expiration`
through to kombu), so RabbitMQ drops a request nobody picked up in time and never delivers
it later; and it waits for the reply at most `timeout`, so a request picked up just before
it expired still has the rest of the timeout to answer. Requests are transient (not written to
the broker's disk): one is worth nothing after its expiry, and a broker restart that drops it
is a 503 like any other request that was not answered in time; they are still published with
confirms and `mandatory`, which is how nameko tells that no service is there. Requests also
carry their deadline as nameko context data (`kopnet_deadline`, epoch seconds); every kernel
service refuses work that reaches it too late (shared/providers.py). A service that was never
started (no queue) fails at once.

Admission control (admission.py): at most `GATEWAY.MAX_IN_FLIGHT` calls in flight per target
service, a wait of at most `GATEWAY.ADMISSION_WAIT` seconds for a slot, else `Saturated` (503 at
once, nothing sent). The proxy of one worker remembers it (`shed`) so the answer can say when to
retry. Its metrics join those the gateway's other provider exports (shared/metrics.py).
"""
from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import eventlet
from marshmallow import ValidationError
from nameko.constants import NON_PERSISTENT
from nameko.exceptions import UnknownService, deserialize_to_instance
from nameko.rpc import MethodProxy, RpcProxy, ServiceProxy

import shared.providers  # noqa: F401 - DomainError, ConcurrencyError, StoreUnavailable cross RPC as themselves
from shared.logs import CORRELATION_ID
from shared.metrics import Metrics

from .admission import Admission, AdmissionMetrics, Saturated
from .errors import DependencyUnavailable

DEFAULT_TIMEOUT = 5.0
EXPIRY_SHARE = 0.8
DEADLINE = "kopnet_deadline"
DEFAULT_MAX_IN_FLIGHT = 16
DEFAULT_ADMISSION_WAIT = 0.5

deserialize_to_instance(ValidationError)


class ExpiringRpcProxy(RpcProxy):
    def __init__(self, target_service: str):
        super().__init__(target_service)
        self.timeout = DEFAULT_TIMEOUT
        self.admission: Admission | None = None

    def setup(self) -> None:
        settings = self.container.config.get("GATEWAY") or {}
        self.timeout = float(settings.get("RPC_TIMEOUT") or DEFAULT_TIMEOUT)
        self.options["expiration"] = self.timeout * EXPIRY_SHARE  # seconds, as kombu takes it
        self.options["delivery_mode"] = NON_PERSISTENT
        limit = settings.get("MAX_IN_FLIGHT")
        wait = settings.get("ADMISSION_WAIT")
        self.admission = Admission(
            self.target_service, int(DEFAULT_MAX_IN_FLIGHT if limit in (None, "") else limit),
            float(DEFAULT_ADMISSION_WAIT if wait in (None, "") else wait), _admission_metrics(self.container))

    def get_dependency(self, worker_ctx: Any) -> ServiceProxy:
        return _ServiceProxy(worker_ctx, self.target_service, self.rpc_reply_listener, self.timeout,
                             self.admission, **self.options)


_METRICS: weakref.WeakKeyDictionary[Any, AdmissionMetrics] = weakref.WeakKeyDictionary()


def _admission_metrics(container: Any) -> AdmissionMetrics | None:
    """One set per registry: the registry of the gateway's Metrics (served on /metrics), if any."""
    metrics = next((provider.metrics for provider in getattr(container, "dependencies", ())
                    if isinstance(getattr(provider, "metrics", None), Metrics)), None)
    if metrics is None:
        return None
    if metrics.registry not in _METRICS:
        _METRICS[metrics.registry] = AdmissionMetrics(metrics.registry, metrics.service)
    return _METRICS[metrics.registry]


class _ServiceProxy(ServiceProxy):
    def __init__(self, worker_ctx: Any, service_name: str, reply_listener: Any, timeout: float,
                 admission: Admission | None = None, **options: Any):
        self.timeout, self.admission = timeout, admission
        self.shed: Saturated | None = None  # set when a call of this worker was shed
        self.reserved = False  # whether this worker holds a slot for its calls (see `reserve`)
        super().__init__(worker_ctx, service_name, reply_listener, **options)

    def __getattr__(self, name: str) -> MethodProxy:
        admission = None if self.reserved else self.admission  # a reserved slot is the call's slot
        return _MethodProxy(self.worker_ctx, self.service_name, name, self.reply_listener, self.timeout,
                            admission=admission, on_shed=self._remember, **self.options)

    def reserve(self) -> None:
        """Takes a slot for this worker's calls until `release`, before the request stores anything
        (its Idempotency-Key claim): shed then, it has nothing to undo, where shed at the call it had
        a claim to free, a write more on a store that is already behind."""
        if self.admission is None or self.reserved:
            return
        try:
            self.admission.acquire()
        except Saturated as shed:
            self._remember(shed)
            raise
        self.reserved = True

    def release(self) -> None:
        if self.reserved and self.admission is not None:
            self.reserved = False
            self.admission.release()

    def _remember(self, shed: Saturated) -> None:
        self.shed = shed


class _MethodProxy(MethodProxy):
    def __init__(self, worker_ctx: Any, service_name: str, method_name: str, reply_listener: Any,
                 timeout: float, admission: Admission | None = None,
                 on_shed: Callable[[Saturated], None] | None = None, **options: Any):
        self.timeout = timeout
        self.deadline = 0.0
        self.admission, self.on_shed = admission, on_shed
        super().__init__(worker_ctx, service_name, method_name, reply_listener, **options)

    def get_message_headers(self, worker_ctx: Any) -> dict[str, Any]:
        headers = super().get_message_headers(worker_ctx)
        headers[self._get_header_name(DEADLINE)] = self.deadline
        correlation_id = CORRELATION_ID.get()
        if correlation_id:  # the request's id, so the service's log lines and events name it
            headers[self._get_header_name("correlation_id")] = correlation_id
        return headers

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            slot = self.admission.slot() if self.admission else nullcontext()
            with slot:
                return self._call_in_time(*args, **kwargs)
        except Saturated as shed:
            if self.on_shed:
                self.on_shed(shed)
            raise

    def _call_in_time(self, *args: Any, **kwargs: Any) -> Any:
        self.deadline = time.time() + self.timeout
        try:
            reply = self._call(*args, **kwargs)
        except UnknownService:
            raise DependencyUnavailable(f"{self.service_name} is not running") from None
        with eventlet.Timeout(self.timeout, False):
            return reply.result()
        self._forget(reply)
        raise DependencyUnavailable(f"{self.service_name} did not answer within {self.timeout:g}s; "
                                    "the request expired unprocessed")

    def _forget(self, reply: Any) -> None:
        waiting = self.reply_listener._reply_events
        for correlation_id, event in list(waiting.items()):
            if event is reply.reply_event:
                waiting.pop(correlation_id, None)
