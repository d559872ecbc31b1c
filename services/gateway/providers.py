"""The gateway's one DependencyProvider: builds the Gateway from config, counts and times
every HTTP request, and serves /metrics, /health and /ready on the metrics port.

The gateway has no event-sourced domain, so it does not use the kernel's KernelProvider;
its only state is the idempotency store in its own database (KOPNET.DATABASE).
"""
from __future__ import annotations

import logging
import time
from typing import Any

from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from shared.eventstore import connect
from shared.kernel import Settings
from shared.metrics import Metrics
from shared.ops_endpoints import OpsServer, readiness_problems

from .application import Gateway
from .auth import DEV_SECRET, secret_problem
from .idempotency import IdempotencyStore

log = logging.getLogger(__name__)


class GatewayProvider(DependencyProvider):
    def __init__(self) -> None:
        self.gateway: Gateway | None = None
        self.metrics = Metrics("gateway")
        self._started: dict[Any, float] = {}
        self._server = OpsServer(self.metrics, lambda: readiness_problems(
            self.database, self.settings.amqp_uri))

    def setup(self) -> None:
        config = self.container.config
        self.settings = Settings.from_config(config, "gateway")
        secret = str((config.get("GATEWAY") or {}).get("JWT_SECRET") or DEV_SECRET)
        problem = secret_problem(secret)
        if problem:
            log.warning("%s; set KOPNET_JWT_SECRET to a random value of 32+ bytes outside development",
                        problem)
        self.database = connect(self.settings.mongodb_uri, self.settings.database)
        self.gateway = Gateway(secret, IdempotencyStore(self.database))

    def start(self) -> None:
        if self.settings.metrics_port:
            self._server.start(self.container, self.settings.metrics_port)

    def stop(self) -> None:
        self._server.stop()

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx: Any) -> Gateway:
        assert self.gateway is not None
        return self.gateway

    # -- counting every request ------------------------------------------------------------
    def worker_setup(self, worker_ctx: Any) -> None:
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx: Any, result: Any = None, exc_info: Any = None) -> None:
        started = self._started.pop(worker_ctx, None)
        if started is None or not worker_ctx.args:
            return
        # The route as the OpenAPI document writes it: /api/v1/cooperatives/{cooperative_id}
        route = worker_ctx.entrypoint.url.replace("<", "{").replace(">", "}")
        method = worker_ctx.args[0].method
        status = result.status_code if isinstance(result, Response) else 500
        self.metrics.http_seconds.labels("gateway", method, route).observe(time.perf_counter() - started)
        self.metrics.http_requests.labels("gateway", method, route, str(status)).inc()
