"""A route of /api/v1: path, who may call it, what it takes and answers, and which service's RPC
serves it (the gateway's entrypoint passes that service's proxy). Each service's slice of the API
is a list of routes in `<service>_routes.py`; `routes.ROUTES` joins them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from marshmallow import Schema

from .access import Policy
from .auth import Principal

PREFIX = "/api/v1"
COOP = "/cooperatives/{cooperative_id}"
MEMBER = COOP + "/members/{member_id}"


@cache
def schema(declared: type[Schema] | None) -> Schema:
    """The one instance of a route's query, body or answer schema (an empty one for None).
    marshmallow schemas keep nothing between load and dump calls, and building one deep-copies
    its fields: ~0.17 ms of the gateway's CPU per request, measured."""
    return (declared or Schema)()


@dataclass(frozen=True)
class Call:
    """One request as a use case sees it: validated, plain JSON values."""

    principal: Principal
    path: dict[str, str]
    query: dict[str, Any]
    body: dict[str, Any]
    context: dict[str, Any]


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str                       # OpenAPI template under PREFIX, e.g. /cooperatives/{cooperative_id}
    allow: Policy
    run: Callable[[Any, Call], Any]  # (the service's proxy, call) -> the service's answer
    response: type[Schema]
    summary: str
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    status: int = 200
    tags: tuple[str, ...] = field(default=("membership",))
    service: str = "membership"     # whose RPC proxy `run` receives (a GatewayService attribute)
    #: Answer fields given once and never stored, not even as an Idempotency-Key's answer (a replay
    #: answers without them): credentials.
    secret_fields: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """The werkzeug rule nameko routes on."""
        return PREFIX + self.path.replace("{", "<").replace("}", ">")

    @property
    def path_names(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]
