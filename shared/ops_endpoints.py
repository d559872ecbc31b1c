"""`/metrics`, `/health` and `/ready`: what every service process serves on its metrics port."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import eventlet
import eventlet.wsgi
from pymongo.database import Database

from .broker import BrokerUnavailable
from .broker import connect as connect_broker
from .metrics import Metrics


def readiness_problems(database: Database, amqp_uri: str) -> list[str]:
    """What keeps a process from serving: the store or the broker not answering."""
    problems = []
    try:
        database.command("ping")
    except Exception as error:  # noqa: BLE001 - any failure means not ready; the text says which
        problems.append(f"store: {error}")
    try:
        connect_broker(amqp_uri, timeout=2).release()
    except BrokerUnavailable as error:
        problems.append(f"broker: {error}")
    return problems


class OpsServer:
    """A small WSGI server in a nameko managed thread (started by a DependencyProvider)."""

    def __init__(self, metrics: Metrics, readiness: Callable[[], list[str]]):
        self.metrics = metrics
        self.readiness = readiness
        self._socket: Any = None

    def start(self, container: Any, port: int) -> None:
        self._socket = eventlet.listen(("0.0.0.0", port))
        container.spawn_managed_thread(
            lambda: eventlet.wsgi.server(self._socket, self.wsgi, log_output=False),
            identifier=f"{self.metrics.service}.ops")

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
            return [self.metrics.exposition()]
        if path == "/health":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status":"alive"}']
        if path == "/ready":
            problems = self.readiness()
            start_response("503 Service Unavailable" if problems else "200 OK",
                           [("Content-Type", "application/json")])
            return [json.dumps({"ready": not problems, "problems": problems}).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
