"""The Financing slice of /api/v1 (http-api.md, Financing): partners and syariah contracts.

Who sees what: the role matrix lets a cooperative's board and members and any partner read; the
financing service then shows a member their own contracts and a partner exactly those it funds
or guarantees (any other is 404). Only the cooperative's board acts on a contract.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema

from shared.aggregate import DomainError

from . import access
from . import financing_schemas as fin
from .access import Policy
from .auth import Principal
from .errors import ApiError
from .feed_routes import register_partner_with_feed
from .routing import COOP, Call, Route

CONTRACT = COOP + "/financing/{contract_id}"
ACTIONS = {"approve": fin.Dated, "reject": fin.Reject, "sign": fin.Dated, "disburse": fin.Dated,
           "write-off": fin.Dated}


def _financing(name: str, method: str, path: str, allow: Policy, run: Callable[[Any, Call], Any],
               response: type[Schema], summary: str, **options: Any) -> Route:
    return Route(name, method, path, allow, run, response, summary, tags=("financing",),
                 **{"service": "financing", **options})


def viewer(principal: Principal) -> dict[str, str] | None:
    if principal.role == "member":
        return {"member_id": principal.member_id or ""}
    if principal.role == "partner":
        return {"partner_id": principal.partner_id or ""}
    return None


def _apply(rpc: Any, call: Call) -> Any:
    principal = call.principal
    if principal.role == "member" and call.body.get("member_id") != principal.member_id:
        raise ApiError("forbidden", "a member applies for their own financing only")
    return rpc.apply(call.path["cooperative_id"], call.body, call.context)


def _list_partners(rpc: Any, call: Call) -> Any:
    if call.principal.role == "partner":  # a partner sees its own record (none if it is not registered)
        try:
            return {"items": [rpc.get_partner(call.principal.partner_id)], "next": None}
        except DomainError as error:
            if error.code != "not_found":
                raise
            return {"items": [], "next": None}
    return rpc.list_partners(call.query["limit"], call.query.get("cursor"))


def _list_contracts(rpc: Any, call: Call) -> Any:
    query = dict(call.query)
    limit, cursor = query.pop("limit"), query.pop("cursor", None)
    return rpc.list_contracts(call.path["cooperative_id"], query, limit, cursor, viewer(call.principal))


def _action(action: str) -> Route:
    return _financing(
        f"{action.replace('-', '_')}_contract", "POST", f"{CONTRACT}/{action}", access.coop_admin,
        lambda rpc, c: rpc.act(c.path["cooperative_id"], c.path["contract_id"], action, c.body, c.context),
        fin.Contract, f"{action.capitalize()} a contract; answers its new state (a step its status does "
        "not allow: 422 illegal_transition)", body=ACTIONS[action])


def _command(name: str, path: str, method: str, body: type[Schema], summary: str) -> Route:
    return _financing(
        name, "POST", f"{CONTRACT}/{path}", access.coop_admin,
        lambda rpc, c: getattr(rpc, method)(c.path["cooperative_id"], c.path["contract_id"], c.body,
                                            c.context),
        fin.Contract, summary, body=body)


FINANCING_ROUTES = [
    _financing("register_partner", "POST", "/partners", access.network_admin,
               register_partner_with_feed(lambda rpc, c: rpc.register_partner(c.body, c.context)),
               fin.RegisteredPartner, "Register a partner institution (bank_syariah, bprs, pegadaian, "
               "jamkrida); the answer carries, once, its event feed's RabbitMQ access (`feed`: a replay "
               "of the same Idempotency-Key answers without it; rotate with POST "
               "/partners/{partner_id}/feed-credentials)",
               body=fin.RegisterPartner, status=201, service="partner_registration", secret_fields=("feed",)),
    _financing("list_partners", "GET", "/partners", access.network_admin_or_the_partner, _list_partners,
               fin.PartnerPage, "List partners (a partner: itself)", query=fin.PartnerQuery),
    _financing("get_partner", "GET", "/partners/{partner_id}", access.network_admin_or_the_partner,
               lambda rpc, c: rpc.get_partner(c.path["partner_id"]), fin.Partner, "One partner"),
    _financing("apply_financing", "POST", f"{COOP}/financing", access.coop_admin_or_member, _apply,
               fin.Contract, "Apply for financing (a member: for themself); terms are checked per product",
               body=fin.ApplyFinancing, status=201),
    _financing("list_contracts", "GET", f"{COOP}/financing", access.financing_reader, _list_contracts,
               fin.ContractPage, "The cooperative's contracts (a member: own; a partner: funded/guaranteed)",
               query=fin.ContractQuery),
    _financing("get_contract", "GET", CONTRACT, access.financing_reader,
               lambda rpc, c: rpc.get_contract(c.path["cooperative_id"], c.path["contract_id"],
                                               viewer(c.principal)),
               fin.Contract, "One contract with its schedule, late fees and profit reports"),
    *[_action(action) for action in ACTIONS],
    _command("restructure_contract", "restructure", "restructure", fin.Restructure,
             "Re-spread what is outstanding over a new schedule; the price never changes"),
    _command("pay_contract", "payments", "pay", fin.Payment,
             "A payment: to unpaid late fees, then profit shares due, then instalments in due order; more "
             "than is owed is refused (422 overpayment)"),
    _command("report_profit", "profit-reports", "report_profit", fin.ProfitReport,
             "Mudharabah/musyarakah: a period's actual profit (a loss is negative)"),
    _command("claim_guarantee", "guarantee-claims", "claim_guarantee", fin.GuaranteeClaim,
             "Kafalah claim after default: the guarantor pays the covered share of what is outstanding"),
    _financing("waive_late_fee", "POST", f"{CONTRACT}/late-fees/{{due_on}}/waive", access.coop_admin,
               lambda rpc, c: rpc.waive_late_fee(c.path["cooperative_id"], c.path["contract_id"],
                                                 c.path["due_on"], c.body, c.context),
               fin.Contract, "Waive a late fee (ta'zir) for a member who cannot pay", body=fin.Dated),
]
