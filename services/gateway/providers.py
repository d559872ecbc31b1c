"""The gateway's one DependencyProvider: builds the Gateway from config, counts and times
every HTTP request, and serves /metrics, /health and /ready on the metrics port.

The gateway has no event-sourced domain, so it does not use the kernel's KernelProvider;
its only state is the idempotency store in its own database (KOPNET.DATABASE).
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

import eventlet
import eventlet.wsgi
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from shared.broker import BrokerUnavailable
from shared.broker import connect as connect_broker
from shared.eventstore import connect
from shared.kernel import Settings
from shared.metrics import Metrics

from .application import Gateway
from .auth import DEV_SECRET, secret_problem
from .idempotency import IdempotencyStore

log = logging.getLogger(__name__)


class GatewayProvider(DependencyProvider):
    def __init__(self) -> None:
        self.gateway: Gateway | None = None
        self.metrics = Metrics("gateway")
        self._started: dict[Any, float] = {}
        self._server: Any = None

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
            self._server = eventlet.listen(("0.0.0.0", self.settings.metrics_port))
            self.container.spawn_managed_thread(
                lambda: eventlet.wsgi.server(self._server, self._wsgi, log_output=False),
                identifier="gateway.metrics")

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

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

    # -- /metrics, /health, /ready ---------------------------------------------------------
    def readiness_problems(self) -> list[str]:
        problems = []
        try:
            self.database.command("ping")
        except Exception as error:  # noqa: BLE001 - any failure means not ready; the text says which
            problems.append(f"store: {error}")
        try:
            connect_broker(self.settings.amqp_uri, timeout=2).release()
        except BrokerUnavailable as error:
            problems.append(f"broker: {error}")
        return problems

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
            return [self.metrics.exposition()]
        if path == "/health":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status":"alive"}']
        if path == "/ready":
            problems = self.readiness_problems()
            start_response("503 Service Unavailable" if problems else "200 OK",
                           [("Content-Type", "application/json")])
            return [json.dumps({"ready": not problems, "problems": problems}).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
