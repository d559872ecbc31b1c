"""The public HTTP API (/api/v1, Membership slice): one thin entrypoint per route of
`routes.ROUTES`; the pipeline is `application.Gateway.handle`."""
from __future__ import annotations

from werkzeug.wrappers import Request, Response

from .providers import GatewayProvider
from .rpc import ExpiringRpcProxy
from .web import api


class GatewayService:
    name = "gateway"
    gateway = GatewayProvider()
    membership = ExpiringRpcProxy("membership")

    @api("GET", "/api/v1/openapi.json")
    def openapi(self, request: Request) -> Response:
        return self.gateway.openapi(request)

    @api("POST", "/api/v1/cooperatives")
    def register_cooperative(self, request: Request) -> Response:
        return self.gateway.handle(request, "register_cooperative", self.membership)

    @api("GET", "/api/v1/cooperatives")
    def list_cooperatives(self, request: Request) -> Response:
        return self.gateway.handle(request, "list_cooperatives", self.membership)

    @api("GET", "/api/v1/cooperatives/<cooperative_id>")
    def get_cooperative(self, request: Request, cooperative_id: str) -> Response:
        return self.gateway.handle(request, "get_cooperative", self.membership, cooperative_id=cooperative_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/dissolve")
    def dissolve_cooperative(self, request: Request, cooperative_id: str) -> Response:
        return self.gateway.handle(request, "dissolve_cooperative", self.membership,
                                   cooperative_id=cooperative_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/members")
    def apply_member(self, request: Request, cooperative_id: str) -> Response:
        return self.gateway.handle(request, "apply_member", self.membership, cooperative_id=cooperative_id)

    @api("GET", "/api/v1/cooperatives/<cooperative_id>/members")
    def list_members(self, request: Request, cooperative_id: str) -> Response:
        return self.gateway.handle(request, "list_members", self.membership, cooperative_id=cooperative_id)

    @api("GET", "/api/v1/cooperatives/<cooperative_id>/members/<member_id>")
    def get_member(self, request: Request, cooperative_id: str, member_id: str) -> Response:
        return self.gateway.handle(request, "get_member", self.membership,
                                   cooperative_id=cooperative_id, member_id=member_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/members/<member_id>/admit")
    def admit_member(self, request: Request, cooperative_id: str, member_id: str) -> Response:
        return self.gateway.handle(request, "admit_member", self.membership,
                                   cooperative_id=cooperative_id, member_id=member_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/members/<member_id>/suspend")
    def suspend_member(self, request: Request, cooperative_id: str, member_id: str) -> Response:
        return self.gateway.handle(request, "suspend_member", self.membership,
                                   cooperative_id=cooperative_id, member_id=member_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/members/<member_id>/reinstate")
    def reinstate_member(self, request: Request, cooperative_id: str, member_id: str) -> Response:
        return self.gateway.handle(request, "reinstate_member", self.membership,
                                   cooperative_id=cooperative_id, member_id=member_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/members/<member_id>/exit")
    def exit_member(self, request: Request, cooperative_id: str, member_id: str) -> Response:
        return self.gateway.handle(request, "exit_member", self.membership,
                                   cooperative_id=cooperative_id, member_id=member_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/annual-meetings")
    def record_annual_meeting(self, request: Request, cooperative_id: str) -> Response:
        return self.gateway.handle(request, "record_annual_meeting", self.membership,
                                   cooperative_id=cooperative_id)

    @api("GET", "/api/v1/network/health")
    def network_health(self, request: Request) -> Response:
        return self.gateway.handle(request, "network_health", self.membership)


service_class = GatewayService
