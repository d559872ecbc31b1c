"""The public HTTP API (/api/v1): one thin entrypoint per route of `routes.ROUTES`, made from the
table so that a route and its entrypoint cannot drift apart; the pipeline is
`application.Gateway.handle`, called with the RPC proxy of the service the route names."""
from __future__ import annotations

from collections.abc import Callable

from werkzeug.wrappers import Request, Response

from .dashboard import page
from .feed_routes import PartnerRegistration
from .providers import GatewayProvider
from .routes import ROUTES, Route
from .rpc import ExpiringRpcProxy
from .web import api


class GatewayService:
    name = "gateway"
    gateway = GatewayProvider()
    membership = ExpiringRpcProxy("membership")
    ledger = ExpiringRpcProxy("ledger")
    feed = ExpiringRpcProxy("feed")
    financing = ExpiringRpcProxy("financing")
    networking = ExpiringRpcProxy("networking")

    @property
    def partner_registration(self) -> PartnerRegistration:
        """POST /partners: financing registers the partner, then the feed gives it its access."""
        return PartnerRegistration(self.financing, self.feed)

    @api("GET", "/api/v1/openapi.json")
    def openapi(self, request: Request) -> Response:
        return self.gateway.openapi(request)

    @api("GET", "/dashboard/")
    def dashboard(self, request: Request) -> Response:
        return page("index.html")

    @api("GET", "/dashboard/<path:name>")
    def dashboard_asset(self, request: Request, name: str) -> Response:
        return page(name)


def _entrypoint(route: Route) -> Callable[..., Response]:
    def serve(self: GatewayService, request: Request, **path: str) -> Response:
        return self.gateway.handle(request, route.name, getattr(self, route.service), **path)

    serve.__name__ = serve.__qualname__ = route.name
    return api(route.method, route.url)(serve)


for _route in ROUTES.values():
    setattr(GatewayService, _route.name, _entrypoint(_route))

service_class = GatewayService
