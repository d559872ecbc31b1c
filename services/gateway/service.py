"""The public HTTP API (/api/v1, Membership and Ledger slices): one thin entrypoint per route
of `routes.ROUTES`; the pipeline is `application.Gateway.handle`."""
from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from .admission import Admission, Saturated
from .application import Gateway
from .idempotency import Claim, Replay, check_key, record_id
from .providers import GatewayProvider
from .rpc import ExpiringRpcProxy
from .web import api


class ShedAnswers:
    """The Gateway, shedding what admission control (rpc.py) would refuse before doing work for it,
    and saying when to retry in the 503 of a shed request."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    def handle(self, request: Request, route_name: str, rpc: Any, **path: str) -> Response:
        keys = AdmittedKeys(self.gateway.keys, rpc)
        gateway = Gateway(self.gateway.secret, keys, self.gateway.max_body_bytes)
        response = gateway.handle(request, route_name, rpc, **path)
        shed = getattr(rpc, "shed", None)
        if isinstance(shed, Saturated) and response.status_code == 503:
            response.headers["Retry-After"] = str(shed.retry_after)
        return response

    def openapi(self, request: Request) -> Response:
        return self.gateway.openapi(request)


class AdmittedKeys:
    """Claims an Idempotency-Key only if the call may get a slot. When the service is saturated a
    key never seen is shed before anything is stored (freeing a claim scans the collection on
    FerretDB v1); a known key goes on to its replay, which needs no slot, or its 409."""

    def __init__(self, keys: Any, rpc: Any):
        self.keys, self.rpc = keys, rpc

    def begin(self, principal: str, key: str, request_print: str) -> Claim | Replay:
        admission = getattr(self.rpc, "admission", None)
        if isinstance(admission, Admission) and admission.saturated() and self.keys.records.find_one(
                {"_id": record_id(principal, check_key(key))}, {"_id": 1}) is None:
            self.rpc.shed = admission.refuse()
            raise self.rpc.shed
        return self.keys.begin(principal, key, request_print)

    def finish(self, claim: Claim, status: int, body: Any) -> None:
        self.keys.finish(claim, status, body)

    def abandon(self, claim: Claim) -> None:
        self.keys.abandon(claim)


class ShedAnswersProvider(GatewayProvider):
    def get_dependency(self, worker_ctx: Any) -> ShedAnswers:  # type: ignore[override]
        return ShedAnswers(super().get_dependency(worker_ctx))


class GatewayService:
    name = "gateway"
    gateway = ShedAnswersProvider()
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
