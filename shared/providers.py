"""nameko at the edge: thin DependencyProviders around the plain-Python kernel.

`KernelProvider` builds the kernel from the container's config, runs its loops (relay,
projections, subscribers) as managed threads, times every entrypoint of the service, and
serves `/metrics`, `/health` and `/ready` on the service's metrics port (ops_endpoints.py).
"""
from __future__ import annotations

import logging
import time
from typing import Any

import nameko.rpc
from nameko.amqp.publish import Publisher
from nameko.constants import NON_PERSISTENT
from nameko.exceptions import deserialize_to_instance
from nameko.extensions import DependencyProvider

from .aggregate import DomainError
from .eventstore import CommandIdReused, ConcurrencyError, OutcomeUnknown, StoreUnavailable
from .kernel import Kernel, ServiceDefinition, Settings
from .logs import redact_niks_in_framework_logs, reset_correlation_id, set_correlation_id
from .ops_endpoints import OpsServer, readiness_problems

log = logging.getLogger(__name__)

#: nameko context data a caller may set: epoch seconds after which it no longer waits.
DEADLINE = "kopnet_deadline"
#: Work that could not finish before the caller's deadline is refused up front.
DEADLINE_MARGIN = 1.0

_KINDS = {"Rpc": "rpc", "HttpRequestHandler": "http", "EventHandler": "event"}


class KernelProvider(DependencyProvider):
    def __init__(self, definition: ServiceDefinition, run_loops: bool = True):
        self.definition = definition
        self.run_loops = run_loops
        self.kernel: Kernel | None = None
        self._started: dict[Any, float] = {}
        self._log_context: dict[Any, Any] = {}
        self._server: OpsServer | None = None

    def setup(self) -> None:
        redact_niks_in_framework_logs()
        settings = Settings.from_config(self.container.config, self.definition.name)
        self.kernel = Kernel(self.definition, settings)

    def start(self) -> None:
        kernel = self.kernel
        assert kernel is not None
        if self.run_loops:
            for loop in kernel.background_loops():
                self.container.spawn_managed_thread(loop, identifier=f"kopnet.{loop.__qualname__}")
        if kernel.settings.metrics_port:
            self._server = OpsServer(kernel.metrics, lambda: readiness_problems(
                kernel.database, kernel.settings.amqp_uri))
            self._server.start(self.container, kernel.settings.metrics_port)

    def stop(self) -> None:
        if self.kernel is not None:
            self.kernel.stop()
        if self._server is not None:
            self._server.stop()

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx) -> Kernel:
        assert self.kernel is not None
        deadline = worker_ctx.data.get(DEADLINE)
        if deadline and time.time() > float(deadline) - DEADLINE_MARGIN:
            # The caller has given up (or is about to) and answered its client 503; doing
            # the work now would change state behind that answer. (Raising here would kill
            # the worker without a reply, so the refusal happens on first use instead.)
            return _TooLate()  # type: ignore[return-value]
        return self.kernel

    # -- timing every entrypoint ------------------------------------------------------------
    def worker_setup(self, worker_ctx) -> None:
        self._started[worker_ctx] = time.perf_counter()
        # log lines of this worker carry the request's correlation id (shared/logs.py)
        correlation_id = worker_ctx.data.get("correlation_id") or worker_ctx.call_id
        self._log_context[worker_ctx] = set_correlation_id(correlation_id)

    def worker_teardown(self, worker_ctx) -> None:
        token = self._log_context.pop(worker_ctx, None)
        if token is not None:
            reset_correlation_id(token)

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        started = self._started.pop(worker_ctx, None)
        if started is None or self.kernel is None:
            return
        entrypoint = worker_ctx.entrypoint
        kind = _KINDS.get(type(entrypoint).__name__, type(entrypoint).__name__.lower())
        name = entrypoint.method_name
        metrics = self.kernel.metrics
        metrics.entrypoint_seconds.labels(metrics.service, kind, name).observe(time.perf_counter() - started)
        metrics.entrypoint_calls.labels(metrics.service, kind, name, "error" if exc_info else "ok").inc()


def rpc(function: Any) -> Any:
    """nameko's @rpc for kernel services: a DomainError (a refused command, a 404) is an
    expected answer, logged as a warning without a traceback, not as a failure."""
    return nameko.rpc.rpc(expected_exceptions=(DomainError, ConcurrencyError, OutcomeUnknown))(function)


class ReplyPublisher(Publisher):
    """Publishes RPC replies transient and without waiting for the broker's confirm. A reply goes
    to its caller's exclusive, non-durable queue, so the disk flag bought nothing, and the confirm
    cost a broker round trip per call while it saved nothing: a reply lost with the broker is a
    caller's timeout (the gateway answers 503), the command stayed stored, and the client's retry
    with the same Idempotency-Key finds it by its command id. Set as nameko's `Responder.
    publisher_cls` (its hook for this) for every service process that imports the kernel."""

    use_confirms = False
    delivery_mode = NON_PERSISTENT


nameko.rpc.Responder.publisher_cls = ReplyPublisher


class _TooLate:
    def __getattr__(self, name: str) -> Any:
        raise DomainError("unavailable", "the request reached the service after its caller's "
                                         "deadline; nothing was done")


# Errors that cross nameko RPC as themselves (not as a bare RemoteError), so the gateway
# can answer with the right status and code.
for _error in (DomainError, ConcurrencyError, StoreUnavailable, OutcomeUnknown, CommandIdReused):
    deserialize_to_instance(_error)
