"""A contract's state: what its events assign (apply methods) and the arithmetic its commands
read (what is owed, how a sum is allocated, how much margin a repayment recognises).
Standard library only; domain.Contract adds the commands."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.aggregate import Aggregate, DomainError, not_found

from . import books
from .products import due_date, equal_parts, instalment, price

STATUSES = ("applied", "approved", "rejected", "signed", "disbursed", "current", "late", "settled",
            "written_off")
ACTIVE = ("disbursed", "current", "late")  # disbursed and not yet settled or written off


def require(contract: Aggregate, allowed: Iterable[str], action: str) -> None:
    """not_found for a contract that was never applied for; illegal_transition for a wrong step."""
    if not contract.exists:
        raise not_found("contract", contract.id)
    status = getattr(contract, "status", "")
    if status not in allowed:
        raise DomainError("illegal_transition", f"cannot {action} a contract that is {status}")


class ContractState(Aggregate):
    snapshot_every = 50

    def __init__(self, id: str):
        super().__init__(id)
        self.status = "new"
        self.member_id = ""
        self.product = ""
        self.terms: dict[str, Any] = {}
        self.partner_id: str | None = None
        self.partner_share_percent = 0
        self.guarantee: dict[str, Any] | None = None
        self.applied_on = ""
        self.dates: dict[str, str] = {}
        self.reason: str | None = None
        self.schedule: list[dict[str, Any]] = []
        self.late_fees: list[dict[str, Any]] = []
        self.profit_reports: list[dict[str, Any]] = []
        self.margin_recognised = 0
        self.partner_margin_paid = 0
        self.profit_paid = 0
        self.partner_profit_paid = 0
        self.guarantee_claimed: int | None = None

    # -- what is owed ------------------------------------------------------------------------------
    @property
    def paid(self) -> int:
        return sum(item["paid"] for item in self.schedule)

    @property
    def outstanding(self) -> int:
        return sum(item["amount"] - item["paid"] for item in self.schedule)

    def owed(self) -> int:
        fees = sum(f["amount"] - f["paid"] for f in self.late_fees if not f["waived"])
        shares = sum(r["coop_share"] - r["paid"] for r in self.profit_reports)
        return fees + shares + self.outstanding

    @staticmethod
    def principal_unpaid(item: dict[str, Any]) -> int:
        """The unpaid part of an instalment that is not a fee (its fee part is paid first)."""
        fee_paid = min(item["paid"], item["fee"])
        return item["amount"] - item["fee"] - (item["paid"] - fee_paid)

    def partner_cut(self, total: int) -> int:
        return total * self.partner_share_percent // 100 if self.partner_id else 0

    def allocate(self, amount: int, fees_first: bool) -> tuple[list, list, list, int]:
        """`amount` over unpaid late fees, then profit shares due, then instalments in due order;
        answers the three allocations and what is left over."""
        left = amount
        fees, shares, items = [], [], []
        if fees_first:
            for fee in sorted(self.late_fees, key=lambda f: f["due_on"]):
                take = 0 if fee["waived"] else min(fee["amount"] - fee["paid"], left)
                if take:
                    fees.append({"due_on": fee["due_on"], "amount": take})
                    left -= take
            for report in sorted(self.profit_reports, key=lambda r: r["period_end"]):
                take = min(report["coop_share"] - report["paid"], left)
                if take:
                    shares.append({"period_end": report["period_end"], "amount": take})
                    left -= take
        for item in sorted(self.schedule, key=lambda i: i["due_on"]):
            take = min(item["amount"] - item["paid"], left)
            if take:
                fee = max(0, min(take, item["fee"] - min(item["paid"], item["fee"])))
                items.append({"due_on": item["due_on"], "amount": take, "fee": fee})
                left -= take
        return fees, shares, items, left

    def repaid(self, items: list[dict[str, Any]], member: str | None) -> dict[str, Any]:
        """The books of instalment money: the receivable, fee income, the murabahah margin it
        recognises (cumulative floor(margin × repaid / price): exactly the margin once all is
        repaid), and for a funded contract what passes on to the partner."""
        total = sum(i["amount"] for i in items)
        fees = sum(i["fee"] for i in items)
        margin = 0
        if self.product == "murabahah" and self.terms["margin"]:
            whole = price(self.product, self.terms) or 1
            margin = self.terms["margin"] * (self.paid + total) // whole - self.margin_recognised
        partner_margin = self.partner_cut(self.margin_recognised + margin) - self.partner_margin_paid
        partner_principal = (total - fees - margin) if self.partner_id else 0
        moves = books.repayment(self.product, total - fees, fees, margin, member, self.member_id)
        if self.partner_id:
            moves += books.to_partner(partner_principal, partner_margin)
        return {"margin_recognised": margin, "partner_margin": partner_margin,
                "partner_principal": partner_principal, "moves": moves}

    def loss_share(self, loss: int) -> int:
        """The cooperative's part of a loss: all of it in mudharabah (it provided the capital), its
        capital share in musyarakah (its share now against the member's, grown by what it bought)."""
        if self.product == "mudharabah":
            return loss
        coop_now = sum(self.principal_unpaid(item) for item in self.schedule)
        member_now = self.terms["member_capital"] + self.terms["coop_capital"] - coop_now
        return loss * coop_now // max(coop_now + member_now, 1)

    def reductions(self, amount: int) -> list[dict[str, Any]]:
        """A loss the cooperative bears lowers what is to be returned, from the last instalment back."""
        cuts = []
        for item in sorted(self.schedule, key=lambda i: i["due_on"], reverse=True):
            take = min(item["amount"] - item["paid"], amount)
            if take:
                cuts.append({"due_on": item["due_on"], "amount": take})
                amount -= take
        return cuts

    def respread(self, tenor: int, first_due_on: str) -> list[dict[str, Any]] | None:
        """Paid instalments (and the paid part of a partly paid one) kept; the unpaid principal and
        fee parts each in `tenor` equal monthly parts. None if a part would be 0 rupiah."""
        kept, principal, fees = [], 0, 0
        for item in self.schedule:
            fee_paid = min(item["paid"], item["fee"])
            principal += self.principal_unpaid(item)
            fees += item["fee"] - fee_paid
            if item["paid"]:
                kept.append({**item, "amount": item["paid"], "fee": fee_paid, "status": "paid"})
        new = [instalment(due_date(first_due_on, n), p + f, f)
               for n, (p, f) in enumerate(zip(equal_parts(principal, tenor), equal_parts(fees, tenor),
                                              strict=True))]
        if any(item["amount"] <= 0 for item in new):
            return None
        return kept + new

    # -- apply: assignments only -------------------------------------------------------------------
    def apply_ContractApplied(self, data: dict[str, Any]) -> None:
        self.cooperative_id = data["cooperative_id"]
        self.status = "applied"
        for key in ("member_id", "product", "terms", "partner_id", "guarantee", "applied_on",
                    "partner_share_percent"):
            setattr(self, key, data[key])
        self.dates = {"applied_on": data["applied_on"]}

    def _dated(self, data: dict[str, Any], *keys: str) -> None:
        self.status = data["status"]
        self.dates.update({key: data[key] for key in keys})

    def apply_ContractApproved(self, data: dict[str, Any]) -> None:
        self._dated(data, "approved_on")

    def apply_ContractRejected(self, data: dict[str, Any]) -> None:
        self._dated(data, "rejected_on")
        self.reason = data["reason"]

    def apply_ContractSigned(self, data: dict[str, Any]) -> None:
        self._dated(data, "signed_on")
        self.schedule = [dict(item) for item in data["schedule"]]

    def apply_ContractDisbursed(self, data: dict[str, Any]) -> None:
        self._dated(data, "disbursed_on")

    def apply_ContractWrittenOff(self, data: dict[str, Any]) -> None:
        self._dated(data, "written_off_on")

    def apply_ContractSettled(self, data: dict[str, Any]) -> None:
        self._dated(data, "settled_on")

    def apply_OwnershipTransferred(self, data: dict[str, Any]) -> None:
        self._dated(data, "transferred_on")

    def apply_InstalmentLate(self, data: dict[str, Any]) -> None:
        self.status = data["status"]
        self._unpaid_item(data["due_on"])["status"] = "late"

    def apply_LateFeeCharged(self, data: dict[str, Any]) -> None:
        self.status = data["status"]
        self.late_fees.append({"due_on": data["due_on"], "amount": data["amount"], "paid": 0,
                               "waived": False})

    def apply_LateFeeWaived(self, data: dict[str, Any]) -> None:
        self.status = data["status"]
        next(f for f in self.late_fees if f["due_on"] == data["due_on"])["waived"] = True

    def apply_PaymentReceived(self, data: dict[str, Any]) -> None:
        for part in data["late_fees"]:
            next(f for f in self.late_fees if f["due_on"] == part["due_on"])["paid"] += part["amount"]
        for part in data["profit_shares"]:
            report = next(r for r in self.profit_reports if r["period_end"] == part["period_end"])
            report["paid"] += part["amount"]
        self.profit_paid += sum(part["amount"] for part in data["profit_shares"])
        self.partner_profit_paid += data["partner_profit"]
        self._repaid(data)

    def apply_GuaranteeClaimed(self, data: dict[str, Any]) -> None:
        self.guarantee_claimed = data["amount"]
        self._repaid(data)

    def _repaid(self, data: dict[str, Any]) -> None:
        for part in data["instalments"]:
            item = self._unpaid_item(part["due_on"])
            item["paid"] += part["amount"]
            if item["paid"] == item["amount"]:
                item["status"] = "paid"
        self.margin_recognised += data["margin_recognised"]
        self.partner_margin_paid += data["partner_margin"]
        self.status = data["status"]

    def apply_ProfitReported(self, data: dict[str, Any]) -> None:
        self.status = data["status"]
        keys = ("period_end", "actual_profit", "negligence", "coop_share", "member_share", "loss_borne")
        self.profit_reports.append({key: data[key] for key in keys} | {"paid": 0})
        for cut in data["reductions"]:
            item = self._unpaid_item(cut["due_on"])
            item["amount"] -= cut["amount"]
            if item["paid"] == item["amount"]:
                item["status"] = "paid"

    def apply_ContractRestructured(self, data: dict[str, Any]) -> None:
        self._dated(data, "restructured_on")
        self.schedule = [dict(item) for item in data["schedule"]]

    def _unpaid_item(self, due_on: str) -> dict[str, Any]:
        return next(i for i in self.schedule if i["due_on"] == due_on and i["status"] != "paid")

    # -- the contract as the API shows it ------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        return {"id": self.id, "cooperative_id": self.cooperative_id, "member_id": self.member_id,
                "product": self.product, "status": self.status, "terms": self.terms,
                "partner_id": self.partner_id, "partner_share_percent": self.partner_share_percent,
                "guarantee": self.guarantee, "price": price(self.product, self.terms),
                "outstanding": self.outstanding, "paid": self.paid, "dates": dict(self.dates),
                "margin_recognised": self.margin_recognised, "guarantee_claimed": self.guarantee_claimed,
                "reason": self.reason,
                "schedule": [{k: item[k] for k in ("due_on", "amount", "paid", "status")}
                             for item in sorted(self.schedule, key=lambda i: i["due_on"])],
                "late_fees": [dict(fee) for fee in self.late_fees],
                "profit_reports": [dict(report) for report in self.profit_reports]}
