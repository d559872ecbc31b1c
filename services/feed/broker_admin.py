"""Partners' RabbitMQ users, through the management HTTP API (the plugin `make up` enables).

Each partner gets the user `kopnet-partner-<id>` with a random password that kopnet never stores
(RabbitMQ keeps only its hash) and permissions on the vhost of AMQP_URI that allow reading its
queue `partner.<id>` and nothing else: configure `^$` (declares nothing, not even a server-named
queue), write `^$` (publishes nowhere), read `^partner\\.<id>$`, and no tags (no management
access). Every call is idempotent: PUT of the user and of its permissions; a repeat is a rotation:
the new password replaces the old one, and the user's open connections are closed, so the old
password stops working at once (a connection authenticates only when it opens).
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from shared.broker import BrokerUnavailable

from .schemas import queue_name, username


@dataclass(frozen=True)
class FeedAccess:
    amqp_uri: str
    queue: str

    def to_dict(self) -> dict[str, str]:
        return {"amqp_uri": self.amqp_uri, "queue": self.queue}


class BrokerAdmin:
    """`amqp_uri`: the service's own (its user administers the vhost); `management_url`: the
    API's base (default http://<amqp host>:$RABBITMQ_MGMT_PORT); `public_uri`: the broker as
    partners reach it (default the service's host and port)."""

    def __init__(self, amqp_uri: str, management_url: str | None = None, public_uri: str | None = None,
                 timeout: float = 10.0):
        parsed = urllib.parse.urlsplit(amqp_uri)
        self.vhost = urllib.parse.unquote(parsed.path[1:]) if parsed.path not in ("", "/") else "/"
        self.api = (management_url or
                    f"http://{parsed.hostname}:{os.environ.get('RABBITMQ_MGMT_PORT', '15672')}").rstrip("/")
        self.public = urllib.parse.urlsplit(public_uri or amqp_uri)
        credentials = f"{urllib.parse.unquote(parsed.username or 'guest')}:" \
                      f"{urllib.parse.unquote(parsed.password or 'guest')}"
        self._auth = "Basic " + base64.b64encode(credentials.encode()).decode()
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.api + "/api" + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": self._auth, "Content-Type": "application/json",
                     "X-Reason": "kopnet: partner feed credentials rotated"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            if error.code == 404 and method in ("DELETE", "GET"):
                return None
            # the API's own message (never our request body, which may hold a password)
            raise BrokerUnavailable(
                f"RabbitMQ management API: {method} {path} answered {error.code}") from None
        except OSError as error:
            raise BrokerUnavailable(
                f"RabbitMQ management API at {self.api} did not answer ({error})") from None
        return json.loads(raw) if raw else None

    def _quoted(self, name: str) -> str:
        return urllib.parse.quote(name, safe="")

    def grant(self, partner_id: str) -> FeedAccess:
        """Creates or rotates the partner's user; answers its feed access (the only copy of the
        password). Call declare_partner_queue too, so the queue exists before its first message."""
        user, queue = username(partner_id), queue_name(partner_id)
        password = secrets.token_urlsafe(32)
        self._call("PUT", f"/users/{self._quoted(user)}", {"password": password, "tags": ""})
        self._call("PUT", f"/permissions/{self._quoted(self.vhost)}/{self._quoted(user)}",
                   {"configure": "^$", "write": "^$", "read": f"^{re.escape(queue)}$"})
        self.close_connections(user)
        return FeedAccess(self._uri(user, password), queue)

    def close_connections(self, user: str) -> None:
        """Closes every open connection of `user` (those authenticated with an old password)."""
        self._call("DELETE", f"/connections/username/{self._quoted(user)}")

    def remove(self, partner_id: str) -> None:
        self._call("DELETE", f"/users/{self._quoted(username(partner_id))}")

    def partner_queues(self) -> list[dict[str, Any]]:
        """Each partner queue of the vhost: name, messages, head_message_timestamp (may be absent)."""
        found = self._call("GET", f"/queues/{self._quoted(self.vhost)}?columns=name,messages,"
                                  "head_message_timestamp") or []
        return [q for q in found if q.get("name", "").startswith("partner.")]

    def _uri(self, user: str, password: str) -> str:
        port = f":{self.public.port}" if self.public.port else ""
        vhost = self._quoted(self.vhost)  # "/" as %2F: one meaning for every client
        return (f"{self.public.scheme}://{self._quoted(user)}:{self._quoted(password)}@"
                f"{self.public.hostname}{port}/{vhost}")
