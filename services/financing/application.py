"""Financing use cases: validate at the edge, load → command → save through the kernel's
Application. Command answers come from the aggregate after the command (read models lag).

Concurrency: every command on a contract is one append at the version it read, so two payments
racing on one contract are applied one after the other (the loser retries on fresh state and
is refused if it would over-pay); a repeated command id stores nothing and answers as the first.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from mongoengine import Q

from shared.aggregate import DomainError, not_found
from shared.application import Application, CommandContext
from shared.envelope import derived_id
from shared.projection import documents
from shared.validation import validated

from .domain import Contract, Partner
from .lifecycle import ACTIVE
from .projections import CONTRACTS, PARTNERS, ContractEntry, PartnerEntry
from .schemas import (
    ApplicationRequestSchema,
    ClaimRequestSchema,
    ContractFiltersSchema,
    DatedRequestSchema,
    PartnerRequestSchema,
    PaymentRequestSchema,
    ProfitReportRequestSchema,
    RejectRequestSchema,
    RestructureRequestSchema,
    local_today,
)

#: (cooperative, member) -> the member's status in membership, None if not a member there.
MemberStatus = Callable[[str, str], str | None]
Viewer = dict[str, str] | None  # {"member_id": ...} or {"partner_id": ...}: whose view; None sees all
MAX_PAGE = 200


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _fields(schema: type, data: Any) -> dict[str, Any]:
    return {key: _text(value) for key, value in validated(schema, data).items()}


def entitled(contract: Contract, viewer: Viewer) -> bool:
    """A member sees their own contracts; a partner those it funds or guarantees."""
    if not viewer:
        return True
    if "member_id" in viewer:
        return contract.member_id == viewer["member_id"]
    guarantor = (contract.guarantee or {}).get("partner_id")
    return viewer.get("partner_id") in (contract.partner_id, guarantor)


class Financing:
    def __init__(self, application: Application, database: Any, member_status: MemberStatus | None = None,
                 today: Callable[[], date] = local_today):
        self.app = application
        self.database = database
        self.member_status = member_status
        self.today = today

    # -- partners --------------------------------------------------------------------------------
    def register_partner(self, data: Any, context: dict | None = None) -> dict[str, Any]:
        fields = _fields(PartnerRequestSchema, data)
        command = CommandContext.from_wire(context)
        partner_id = derived_id("partner", command.command_id)
        outcome = self.app.execute(Partner, partner_id, lambda p: p.register(fields["name"], fields["kind"]),
                                   command)
        return self._partner_view(outcome.aggregate)  # type: ignore[arg-type]

    def get_partner(self, partner_id: str) -> dict[str, Any]:
        partner = self.app.read(Partner, partner_id)
        if not partner.exists:
            raise not_found("partner", partner_id)
        return self._partner_view(partner)

    def list_partners(self, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        return self._page(documents(self.database, PartnerEntry, PARTNERS), limit, cursor,
                          lambda doc: {key: doc[key] for key in ("id", "name", "kind")})

    @staticmethod
    def _partner_view(partner: Partner) -> dict[str, Any]:
        return {"id": partner.id, "name": partner.name, "kind": partner.kind}

    # -- contracts --------------------------------------------------------------------------------
    def apply(self, cooperative_id: str, data: Any, context: dict | None = None) -> dict[str, Any]:
        fields = _fields(ApplicationRequestSchema, data)
        today = self.today()
        member = fields["member_id"]
        if self.member_status is not None and self.member_status(cooperative_id, member) != "admitted":
            raise DomainError("validation_error", "the member is not an admitted member of the cooperative",
                              {"member_id": [f"no admitted member {member} in cooperative {cooperative_id}"]})
        partner = self._partner(fields["partner_id"], "partner_id")
        guarantee = fields["guarantee"]
        guarantor = self._partner(guarantee["partner_id"], "guarantee") if guarantee else None
        command = CommandContext.from_wire(context)
        applied_on = fields["applied_on"] or today.isoformat()
        contract_id = derived_id("contract", command.command_id)
        outcome = self.app.execute(Contract, contract_id, lambda c: c.apply_for(
            cooperative_id, member, fields["product"], fields["terms"], applied_on, today, partner, guarantee,
            guarantor, fields["partner_share_percent"]), command)
        return outcome.aggregate.view()  # type: ignore[attr-defined]

    def act(self, cooperative_id: str, contract_id: str, action: str, data: Any = None,
            context: dict | None = None) -> dict[str, Any]:
        """approve, reject, sign, disburse or write-off, dated `date` (default today)."""
        fields = _fields(RejectRequestSchema if action == "reject" else DatedRequestSchema, data)
        today = self.today()
        day = fields["date"] or today.isoformat()
        commands: dict[str, Callable[[Contract], None]] = {
            "approve": lambda c: c.approve(day, today),
            "reject": lambda c: c.reject(day, fields.get("reason", ""), today),
            "sign": lambda c: c.sign(day, today), "disburse": lambda c: c.disburse(day, today),
            "write-off": lambda c: c.write_off(day, today)}
        if action not in commands:
            raise DomainError("not_found", f"no contract action {action}")
        return self._command(cooperative_id, contract_id, commands[action], context)

    def pay(self, cooperative_id: str, contract_id: str, data: Any, context: dict | None = None
            ) -> dict[str, Any]:
        fields = _fields(PaymentRequestSchema, data)
        command = CommandContext.from_wire(context)
        payment_id = derived_id("payment", command.command_id)
        return self._command(cooperative_id, contract_id, lambda c: c.pay(
            payment_id, fields["amount"], fields["date"], self.today()), context)

    def waive_late_fee(self, cooperative_id: str, contract_id: str, due_on: str, data: Any = None,
                       context: dict | None = None) -> dict[str, Any]:
        day = _fields(DatedRequestSchema, data)["date"] or self.today().isoformat()
        due = _fields(ClaimRequestSchema, {"date": due_on})["date"]
        return self._command(cooperative_id, contract_id, lambda c: c.waive_late_fee(due, day, self.today()),
                             context)

    def report_profit(self, cooperative_id: str, contract_id: str, data: Any,
                      context: dict | None = None) -> dict[str, Any]:
        fields = _fields(ProfitReportRequestSchema, data)
        return self._command(cooperative_id, contract_id, lambda c: c.report_profit(
            fields["period_end"], fields["actual_profit"], fields["negligence"], self.today()), context)

    def claim_guarantee(self, cooperative_id: str, contract_id: str, data: Any,
                        context: dict | None = None) -> dict[str, Any]:
        day = _fields(ClaimRequestSchema, data)["date"]
        return self._command(cooperative_id, contract_id, lambda c: c.claim_guarantee(day, self.today()),
                             context)

    def restructure(self, cooperative_id: str, contract_id: str, data: Any,
                    context: dict | None = None) -> dict[str, Any]:
        fields = _fields(RestructureRequestSchema, data)
        day = fields["date"] or self.today().isoformat()
        return self._command(cooperative_id, contract_id, lambda c: c.restructure(
            fields["tenor_months"], fields["first_due_on"], day, self.today()), context)

    def sweep_overdue(self, on: date) -> int:
        """The daily overdue sweep: every active contract's instalments due before `on` and unpaid
        become late and are charged their late fee. Once per contract and day (the command id is
        derived from both), and each instalment at most once ever (the domain's rule)."""
        day, changed = on.isoformat(), 0
        active = documents(self.database, ContractEntry, CONTRACTS).filter(status__in=list(ACTIVE))
        for doc in active.only("id").as_pymongo():
            contract_id = doc["_id"]
            context = CommandContext.new(command_id=derived_id("financing-sweep", f"{contract_id}:{day}"))
            outcome = self.app.execute(Contract, contract_id, lambda c: c.mark_overdue(day), context)
            changed += outcome.commit is not None and not outcome.duplicate
        return changed

    # -- queries ----------------------------------------------------------------------------------
    def get_contract(self, cooperative_id: str, contract_id: str, viewer: Viewer = None) -> dict[str, Any]:
        contract = self.app.read(Contract, contract_id)
        if not contract.exists or contract.cooperative_id != cooperative_id or not entitled(contract, viewer):
            raise not_found("contract", contract_id)  # 404 whether it is another's or none at all
        return contract.view()

    def list_contracts(self, cooperative_id: str, filters: dict | None = None, limit: int = 50,
                       cursor: str | None = None, viewer: Viewer = None) -> dict[str, Any]:
        wanted = _fields(ContractFiltersSchema, {k: v for k, v in (filters or {}).items() if v is not None})
        query: dict[str, Any] = {"cooperative_id": cooperative_id, **wanted}
        if viewer and "member_id" in viewer:
            query["member_id"] = viewer["member_id"]
        contracts = documents(self.database, ContractEntry, CONTRACTS).filter(**query)
        if viewer and "partner_id" in viewer:
            funder = viewer["partner_id"]
            contracts = contracts.filter(Q(partner_id=funder) | Q(guarantor_id=funder))
        return self._page(contracts, limit, cursor, lambda doc: self.app.load(Contract, doc["_id"]).view())

    # -- helpers ----------------------------------------------------------------------------------
    def _command(self, cooperative_id: str, contract_id: str, command: Callable[[Contract], None],
                 context: dict | None) -> dict[str, Any]:
        def checked(contract: Contract) -> None:
            if contract.exists and contract.cooperative_id != cooperative_id:
                raise not_found("contract", contract_id)
            command(contract)

        outcome = self.app.execute(Contract, contract_id, checked, CommandContext.from_wire(context))
        return outcome.aggregate.view()  # type: ignore[attr-defined]

    def _partner(self, partner_id: str | None, field: str) -> Partner | None:
        if partner_id is None:
            return None
        partner = self.app.read(Partner, partner_id)
        if not partner.exists:
            raise DomainError("validation_error", f"no partner {partner_id}",
                              {field: [f"no registered partner {partner_id}"]})
        return partner

    @staticmethod
    def _page(found: Any, limit: int, cursor: str | None,
              show: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Documents of the QuerySet `found` in `_id` order after `cursor` (the last id of the
        previous page)."""
        if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise DomainError("validation_error", "limit is 1 to 200", {"limit": ["1 to 200"]})
        if cursor:
            found = found.filter(pk__gt=cursor)
        docs = list(found.order_by("pk").limit(limit + 1).as_pymongo())
        more = len(docs) > limit
        docs = docs[:limit]
        return {"items": [show(doc) for doc in docs], "next": docs[-1]["_id"] if more and docs else None}
