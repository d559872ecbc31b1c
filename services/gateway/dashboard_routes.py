"""The regulator's slice of /api/v1 (http-api.md, Membership): a cooperative's health with its
evidence and score, and the dashboard's data. Both are served by membership's health queries."""
from __future__ import annotations

from services.membership import health_schemas

from . import access
from .routing import Route


class CooperativeHealth(health_schemas.CooperativeHealthSchema):
    pass


class NetworkDashboard(health_schemas.NetworkDashboardSchema):
    pass


DASHBOARD_ROUTES = [
    Route("cooperative_health", "GET", "/cooperatives/{cooperative_id}/health",
          access.coop_admin_or_network_admin,
          lambda rpc, c: rpc.cooperative_health(c.path["cooperative_id"]),
          CooperativeHealth, "A cooperative's health flags with their evidence, and its health score "
          "by aspect with its category (docs/health.md)"),
    Route("network_dashboard", "GET", "/network/dashboard", access.network_admin,
          lambda rpc, c: rpc.network_dashboard(),
          NetworkDashboard, "The regulator's dashboard: province, regencies, months, follow-up list, "
          "best scores, catalog and financing activity", tags=("network",)),
]
