"""The public HTTP API (/api/v1, Membership and Ledger slices): one thin entrypoint per route
of `routes.ROUTES`; the pipeline is `application.Gateway.handle`."""
from __future__ import annotations

from werkzeug.wrappers import Request, Response

from .providers import GatewayProvider
from .rpc import ExpiringRpcProxy
from .web import api


class GatewayService:
    name = "gateway"
    gateway = GatewayProvider()
    membership = ExpiringRpcProxy("membership")
    ledger = ExpiringRpcProxy("ledger")

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

    # -- Ledger ------------------------------------------------------------------------------
    @api("GET", "/api/v1/cooperatives/<cooperative_id>/accounts")
    def list_accounts(self, request: Request, cooperative_id: str) -> Response:
        return self.gateway.handle(request, "list_accounts", self.ledger, cooperative_id=cooperative_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/accounts")
    def add_account(self, request: Request, cooperative_id: str) -> Response:
        return self.gateway.handle(request, "add_account", self.ledger, cooperative_id=cooperative_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/journal-entries")
    def post_journal_entry(self, request: Request, cooperative_id: str) -> Response:
        return self.gateway.handle(request, "post_journal_entry", self.ledger, cooperative_id=cooperative_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/journal-entries/<entry_id>/reverse")
    def reverse_journal_entry(self, request: Request, cooperative_id: str, entry_id: str) -> Response:
        return self.gateway.handle(request, "reverse_journal_entry", self.ledger,
                                   cooperative_id=cooperative_id, entry_id=entry_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/members/<member_id>/savings/pokok/deposits")
    def deposit_pokok(self, request: Request, cooperative_id: str, member_id: str) -> Response:
        return self.gateway.handle(request, "deposit_pokok", self.ledger,
                                   cooperative_id=cooperative_id, member_id=member_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/members/<member_id>/savings/wajib/deposits")
    def deposit_wajib(self, request: Request, cooperative_id: str, member_id: str) -> Response:
        return self.gateway.handle(request, "deposit_wajib", self.ledger,
                                   cooperative_id=cooperative_id, member_id=member_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/members/<member_id>/savings/sukarela/deposits")
    def deposit_sukarela(self, request: Request, cooperative_id: str, member_id: str) -> Response:
        return self.gateway.handle(request, "deposit_sukarela", self.ledger,
                                   cooperative_id=cooperative_id, member_id=member_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/members/<member_id>/savings/sukarela/withdrawals")
    def withdraw_sukarela(self, request: Request, cooperative_id: str, member_id: str) -> Response:
        return self.gateway.handle(request, "withdraw_sukarela", self.ledger,
                                   cooperative_id=cooperative_id, member_id=member_id)

    @api("GET", "/api/v1/cooperatives/<cooperative_id>/members/<member_id>/savings")
    def get_savings(self, request: Request, cooperative_id: str, member_id: str) -> Response:
        return self.gateway.handle(request, "get_savings", self.ledger,
                                   cooperative_id=cooperative_id, member_id=member_id)

    @api("GET", "/api/v1/cooperatives/<cooperative_id>/members/<member_id>/statement")
    def member_statement(self, request: Request, cooperative_id: str, member_id: str) -> Response:
        return self.gateway.handle(request, "member_statement", self.ledger,
                                   cooperative_id=cooperative_id, member_id=member_id)

    @api("GET", "/api/v1/cooperatives/<cooperative_id>/reports/trial-balance")
    def trial_balance(self, request: Request, cooperative_id: str) -> Response:
        return self.gateway.handle(request, "trial_balance", self.ledger, cooperative_id=cooperative_id)

    @api("GET", "/api/v1/cooperatives/<cooperative_id>/reports/balance-sheet")
    def balance_sheet(self, request: Request, cooperative_id: str) -> Response:
        return self.gateway.handle(request, "balance_sheet", self.ledger, cooperative_id=cooperative_id)

    @api("GET", "/api/v1/cooperatives/<cooperative_id>/reports/income-statement")
    def income_statement(self, request: Request, cooperative_id: str) -> Response:
        return self.gateway.handle(request, "income_statement", self.ledger, cooperative_id=cooperative_id)

    @api("POST", "/api/v1/cooperatives/<cooperative_id>/fiscal-years/<fiscal_year>/close")
    def close_fiscal_year(self, request: Request, cooperative_id: str, fiscal_year: str) -> Response:
        return self.gateway.handle(request, "close_fiscal_year", self.ledger,
                                   cooperative_id=cooperative_id, fiscal_year=fiscal_year)

    @api("GET", "/api/v1/cooperatives/<cooperative_id>/fiscal-years/<fiscal_year>/shu")
    def get_shu(self, request: Request, cooperative_id: str, fiscal_year: str) -> Response:
        return self.gateway.handle(request, "get_shu", self.ledger,
                                   cooperative_id=cooperative_id, fiscal_year=fiscal_year)


service_class = GatewayService
