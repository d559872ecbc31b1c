"""The whole /api/v1 as one table, joined from each service's slice. The gateway's entrypoints
and the OpenAPI document are both generated from this table."""
from __future__ import annotations

from .dashboard_routes import DASHBOARD_ROUTES
from .feed_routes import FEED_ROUTES
from .financing_routes import FINANCING_ROUTES
from .ledger_routes import LEDGER_ROUTES
from .membership_routes import MEMBER_ACTIONS, MEMBERSHIP_ROUTES
from .networking_routes import NETWORKING_ROUTES
from .routing import PREFIX, Call, Route

ROUTES: dict[str, Route] = {route.name: route for route in [
    *MEMBERSHIP_ROUTES, *LEDGER_ROUTES, *FINANCING_ROUTES, *NETWORKING_ROUTES, *FEED_ROUTES,
    *DASHBOARD_ROUTES]}

__all__ = ["MEMBER_ACTIONS", "PREFIX", "ROUTES", "Call", "Route"]
