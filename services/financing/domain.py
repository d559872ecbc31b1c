"""Financing aggregates: a Partner institution, and each Contract (akad), one stream per contract.

Pure (standard library and shared only). Commands check the rules and trigger events; the
apply methods only assign. Each event that moves money carries the balanced journal `entry`
for the cooperative's books (books.py), computed once at command time, so the policy that
posts it (policies.py) needs nothing but the event, and a replay never recomputes money.

Guarantees (each one a rule below): the schedule is fixed at signing and its total (the price,
for murabahah and ijarah) never changes — a restructure re-spreads what is outstanding and adds
nothing; a payment is applied to unpaid late fees, then profit shares due, then instalments in
due order, and a payment larger than what is owed is refused whole; a late fee is charged at
most once per instalment (when it first becomes late) and never on a fee; murabahah margin is
recognised as cumulative floor(margin × repaid / price), so it adds up to the margin exactly.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from shared.aggregate import Aggregate, DomainError

from . import books
from .lifecycle import ACTIVE, ContractState, require
from .products import FUNDS, GUARANTORS, PARTNER_KINDS, checked_terms, invalid, schedule


class Partner(Aggregate):
    snapshot_every = 0

    def __init__(self, id: str):
        super().__init__(id)
        self.name = ""
        self.kind = ""

    def register(self, name: str, kind: str) -> None:
        if self.exists:
            raise DomainError("conflict", f"partner {self.id} is registered already")
        if kind not in PARTNER_KINDS:
            raise invalid({"kind": [f"one of {', '.join(PARTNER_KINDS)}"]})
        self.trigger("PartnerRegistered", partner_id=self.id, name=name, kind=kind)

    def apply_PartnerRegistered(self, data: dict[str, Any]) -> None:
        self.name, self.kind = data["name"], data["kind"]


def _day_after(day: str, earliest: str | None, today: date, field: str = "date") -> str:
    if day > today.isoformat():
        raise invalid({field: ["not after today"]})
    if earliest and day < earliest:
        raise invalid({field: [f"not before {earliest}"]})
    return day


class Contract(ContractState):
    # -- application and lifecycle ------------------------------------------------------------
    def apply_for(self, cooperative_id: str, member_id: str, product: str, terms: Any, applied_on: str,
                  today: date, partner: Partner | None, guarantee: dict[str, Any] | None,
                  guarantor: Partner | None, partner_share_percent: int) -> None:
        if self.exists:
            raise DomainError("conflict", f"contract {self.id} exists already")
        _day_after(applied_on, None, today, "applied_on")
        clean = checked_terms(product, terms, applied_on)
        if any(item["amount"] <= 0 for item in schedule(product, clean)):
            raise invalid({"terms": {"tenor_months": ["more months than rupiah to repay"]}})
        if partner is not None and product not in FUNDS[partner.kind]:
            raise invalid({"partner_id": [f"a {partner.kind} partner does not fund {product}"]})
        if partner is None and partner_share_percent:
            raise invalid({"partner_share_percent": ["only for a contract funded by a partner"]})
        if guarantee is not None and (guarantor is None or guarantor.kind not in GUARANTORS):
            raise invalid({"guarantee": {"partner_id": ["a registered jamkrida partner guarantees"]}})
        self.trigger("ContractApplied", contract_id=self.id, cooperative_id=cooperative_id,
                     member_id=member_id, product=product, terms=clean,
                     partner_id=partner.id if partner else None, guarantee=guarantee, applied_on=applied_on,
                     partner_share_percent=partner_share_percent)

    def approve(self, day: str, today: date) -> None:
        require(self, ("applied",), "approve")
        self._event("ContractApproved", "approved", approved_on=_day_after(day, self.applied_on, today))

    def reject(self, day: str, reason: str, today: date) -> None:
        require(self, ("applied",), "reject")
        self._event("ContractRejected", "rejected", rejected_on=_day_after(day, self.applied_on, today),
                    reason=reason)

    def sign(self, day: str, today: date) -> None:
        require(self, ("approved",), "sign")
        day = _day_after(day, self.dates["approved_on"], today)
        fee = self.guarantee["fee"] if self.guarantee else 0
        self._event("ContractSigned", "signed", signed_on=day, schedule=schedule(self.product, self.terms),
                    entry=books.entry(day, f"kafalah fee, contract {self.id}", books.guarantee_fee(fee)))

    def disburse(self, day: str, today: date) -> None:
        require(self, ("signed",), "disburse")
        day = _day_after(day, self.dates["signed_on"], today)
        moves = books.disbursement(self.product, self.terms, self.partner_id is not None, self.member_id)
        self._event("ContractDisbursed", "disbursed", disbursed_on=day,
                    entry=books.entry(day, f"{self.product} disbursed, contract {self.id}", moves))

    def write_off(self, day: str, today: date) -> None:
        require(self, ACTIVE, "write off")
        day = _day_after(day, self.dates["disbursed_on"], today)
        principal = sum(self.principal_unpaid(item) for item in self.schedule)
        deferred = self.terms["margin"] - self.margin_recognised if self.product == "murabahah" else 0
        self._event("ContractWrittenOff", "written_off", written_off_on=day, amount=self.outstanding,
                    entry=books.entry(day, f"write-off, contract {self.id}",
                                      books.write_off(self.product, principal, deferred, self.member_id)))

    # -- lateness --------------------------------------------------------------------------------
    def mark_overdue(self, on: str) -> None:
        """Every instalment due before `on` and not fully paid becomes late, once, and is charged
        the contract's late fee (ta'zir) once. Nothing happens twice: an instalment marked late
        stays marked; a restructured schedule's new instalments start as due."""
        if self.status not in ACTIVE:
            return
        fee = self.terms["late_fee"]
        for item in self.schedule:
            if item["due_on"] < on and item["paid"] < item["amount"] and item["status"] != "late":
                self._event("InstalmentLate", "late", due_on=item["due_on"], on=on)
                if fee and not any(f["due_on"] == item["due_on"] for f in self.late_fees):
                    self._event("LateFeeCharged", "late", due_on=item["due_on"], amount=fee, on=on)

    def waive_late_fee(self, due_on: str, day: str, today: date) -> None:
        """For a member who cannot pay (not one who delays): what is unpaid of the fee is waived."""
        fee = next((f for f in self.late_fees if f["due_on"] == due_on), None)
        if fee is None:
            raise DomainError("not_found", f"contract {self.id} has no late fee for {due_on}")
        if fee["waived"] or fee["paid"] == fee["amount"]:
            raise DomainError("illegal_transition", f"the late fee of {due_on} is already settled")
        day = _day_after(day, None, today)
        self._event("LateFeeWaived", self.status, due_on=due_on, amount=fee["amount"] - fee["paid"],
                    waived_on=day)
        self._settle_if_done(day)

    # -- money in ----------------------------------------------------------------------------------
    def pay(self, payment_id: str, amount: int, day: str, today: date) -> None:
        require(self, ACTIVE, "pay")
        day = _day_after(day, self.dates["disbursed_on"], today)
        self.mark_overdue(day)  # a payment dated after a due date finds that instalment late
        fees, shares, items, left = self.allocate(amount, fees_first=True)
        if left:
            raise DomainError("overpayment", f"the contract owes {amount - left}; a payment of {amount} "
                              "is more than that", {"amount": [f"at most {amount - left}"]})
        money = self.repaid(items, self.member_id)
        profit = sum(share["amount"] for share in shares)
        partner_profit = self.partner_cut(self.profit_paid + profit) - self.partner_profit_paid
        moves = [*books.late_fees(sum(f["amount"] for f in fees)),
                 *books.profit_shares(profit, self.member_id), *money.pop("moves")]
        if self.partner_id:
            moves += books.to_partner(0, partner_profit)
        self._event("PaymentReceived", self._status_after(items), payment_id=payment_id, date=day,
                    amount=amount, late_fees=fees, profit_shares=shares, instalments=items,
                    partner_profit=partner_profit,
                    **money, entry=books.entry(day, f"payment, contract {self.id}", moves))
        self._settle_if_done(day)

    def claim_guarantee(self, day: str, today: date) -> None:
        """Kafalah after default: the guarantor pays the covered share of what is outstanding,
        applied to the instalments in due order (not to late fees: a guarantee covers the financing)."""
        if not self.guarantee:
            raise DomainError("illegal_transition", f"contract {self.id} has no guarantee")
        require(self, ("late",), "claim the guarantee of")
        if self.guarantee_claimed is not None:
            raise DomainError("illegal_transition", "the guarantee was claimed already")
        day = _day_after(day, self.dates["disbursed_on"], today)
        amount = self.outstanding * self.guarantee["coverage_percent"] // 100
        _, _, items, _ = self.allocate(amount, fees_first=False)
        money = self.repaid(items, None)  # the guarantor's money is not the member's business
        entry = books.entry(day, f"kafalah claim, contract {self.id}", money.pop("moves"))
        self._event("GuaranteeClaimed", self._status_after(items), claimed_on=day, amount=amount,
                    guarantor_id=self.guarantee["partner_id"], instalments=items, **money, entry=entry)
        self._settle_if_done(day)

    def report_profit(self, period_end: str, actual_profit: int, negligence: bool, today: date) -> None:
        """Mudharabah: the cooperative's share of a profit by nisbah, due at once; a loss is borne by
        the capital provider unless the member was negligent. Musyarakah: a loss by capital share."""
        if self.product not in ("mudharabah", "musyarakah"):
            raise DomainError("illegal_transition", f"a {self.product} contract has no profit reports")
        require(self, ACTIVE, "report profit on")
        period_end = _day_after(period_end, self.dates["disbursed_on"], today, "period_end")
        if any(report["period_end"] == period_end for report in self.profit_reports):
            raise DomainError("conflict", f"the period ending {period_end} was reported already")
        member_share = max(actual_profit, 0) * self.terms["nisbah_member_percent"] // 100
        coop_share = max(actual_profit, 0) - member_share
        borne = 0 if negligence or actual_profit >= 0 else min(self.loss_share(-actual_profit),
                                                                 self.outstanding)
        reductions = self.reductions(borne)
        entry = books.entry(period_end, f"loss borne, contract {self.id}",
                            books.loss(self.product, borne, self.partner_id is not None, self.member_id))
        self._event("ProfitReported", self.status, period_end=period_end, actual_profit=actual_profit,
                    negligence=negligence, coop_share=coop_share, member_share=member_share, loss_borne=borne,
                    reductions=reductions, entry=entry)
        self._settle_if_done(period_end)

    def restructure(self, tenor_months: int, first_due_on: str, day: str, today: date) -> None:
        """What is outstanding, re-spread over `tenor_months` from `first_due_on`: paid instalments
        stay, the total (the price) is unchanged, no margin is added."""
        require(self, ACTIVE, "restructure")
        if self.product == "ijarah":
            raise DomainError("illegal_transition", "an ijarah's rent is fixed per period: not re-spread")
        day = _day_after(day, self.dates["disbursed_on"], today)
        if first_due_on <= day:
            raise invalid({"first_due_on": ["after the restructuring date"]})
        new = self.respread(tenor_months, first_due_on)
        if new is None:
            raise invalid({"tenor_months": ["more months than rupiah outstanding"]})
        self._event("ContractRestructured", "current", restructured_on=day, tenor_months=tenor_months,
                    first_due_on=first_due_on, schedule=new)

    # -- helpers ---------------------------------------------------------------------------------
    def _event(self, name: str, status: str, **data: Any) -> None:
        self.trigger(name, contract_id=self.id, cooperative_id=self.cooperative_id, status=status, **data)

    def _status_after(self, items: list[dict[str, Any]]) -> str:
        taken = {item["due_on"]: item["amount"] for item in items}
        late = any(i["status"] == "late" and i["paid"] + taken.get(i["due_on"], 0) < i["amount"]
                   for i in self.schedule)
        return "late" if late else "current"

    def _settle_if_done(self, day: str) -> None:
        if self.status in ACTIVE and self.owed() == 0:
            self._event("ContractSettled", "settled", settled_on=day)
            if self.product == "ijarah" and self.terms["transfer_at_end"]:
                cost = self.terms["asset_cost"]
                moves = books.ownership_transfer(cost, self.member_id)
                self._event("OwnershipTransferred", "settled", transferred_on=day, entry=books.entry(
                    day, f"IMBT ownership transfer, contract {self.id}", moves))
