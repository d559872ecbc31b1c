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


def starting_problems(container: Any) -> list[str]:
    """What of the container's entrypoints does not take work yet: a queue consumer (of RPC,
    events, an RPC proxy's replies) whose queues are not consumed, a web server not listening.
    nameko starts a container's extensions side by side, so without this `/ready` answered as
    soon as this server listened, a moment before the service's RPC queue existed, and a first
    call got 503 "not running". Reads two attributes nameko 2.14 keeps for itself (the version
    is pinned): the QueueConsumer's `_consumers_ready` event and the WebServer's `_sock`."""
    problems = []
    for extension in container.subextensions:
        consumers_ready = getattr(extension, "_consumers_ready", None)
        if consumers_ready is not None and not consumers_ready.ready():
            problems.append(f"starting: {type(extension).__name__} is not consuming yet")
        if type(extension).__name__ == "WebServer" and getattr(extension, "_sock", None) is None:
            problems.append("starting: the web server is not listening yet")
    return problems


class OpsServer:
    """A small WSGI server in a nameko managed thread (started by a DependencyProvider)."""

    def __init__(self, metrics: Metrics, readiness: Callable[[], list[str]]):
        self.metrics = metrics
        self.readiness = readiness
        self._socket: Any = None
        self._container: Any = None

    def start(self, container: Any, port: int) -> None:
        self._container = container
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
            problems = starting_problems(self._container) + self.readiness()
            start_response("503 Service Unavailable" if problems else "200 OK",
                           [("Content-Type", "application/json")])
            return [json.dumps({"ready": not problems, "problems": problems}).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
