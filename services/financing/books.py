"""The journal entries of a contract's money movements, as the ledger's `post_entry` takes them.
Standard library only; every entry balances by construction (`entry` nets signed amounts per
account and adds a line only where a debit or credit remains).

Accounts (the ledger's default chart): instalments reduce the product's receivable
(`RECEIVABLE`); the fee part of an instalment (ijarah rent, rahn storage) is income 4105;
murabahah margin waits in 2107 (deferred) from disbursement and moves to income 4102 as the
price is repaid; profit shares are income 4103; late fees (ta'zir) go to the social fund 2102,
never to income. Income lines paid by the member name the member (jasa usaha). A contract
funded by a partner owes the partner (2108) what it financed; repaid principal and the
partner's agreed share of margin and profit (expense 5105) pass on to it.

Every line on a receivable (`RECEIVABLE`) names the contract's member (`debtor`), whoever pays:
the ledger nets a member's debit balance on 1103/1104 from what the member receives on exit
(services/ledger/claims.py), so that balance must be exactly the member's outstanding financing.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CASH, SOCIAL_FUND, MEMBER_RECEIVABLE = "1101", "2102", "1103"
DEFERRED_MARGIN, PARTNER_LIABILITY = "2107", "2108"
MARGIN_INCOME, PROFIT_INCOME, OTHER_INCOME, FEE_INCOME = "4102", "4103", "4104", "4105"
OPERATING_EXPENSE, GUARANTEE_EXPENSE, FINANCING_LOSS, PARTNER_SHARE = "5102", "5103", "5104", "5105"
# Member financing other than murabahah is a member receivable (1103); an ijarah asset is held in
# 1105 until its lease ends (the chart's asset codes stop at 1105: the ledger's own tests page on it).
RECEIVABLE = {"murabahah": "1104", "mudharabah": "1103", "musyarakah": "1103", "ijarah": "1105",
              "qardh": "1103", "rahn": "1103"}

Movement = tuple[str, int, str | None]  # account, signed amount (debit > 0, credit < 0), member


def entry(day: str, memo: str, movements: Iterable[Movement]) -> dict[str, Any] | None:
    """A balanced entry from signed movements (netted per account and member); None if nothing moves."""
    net: dict[tuple[str, str | None], int] = {}
    for account, amount, member in movements:
        net[(account, member)] = net.get((account, member), 0) + amount
    if sum(net.values()) != 0:
        raise ValueError(f"unbalanced movements: {net}")
    lines = [{"account": account, "debit": max(amount, 0), "credit": max(-amount, 0), "member_id": member}
             for (account, member), amount in sorted(net.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
             if amount]
    return {"date": day, "memo": memo, "lines": lines} if lines else None


def disbursement(product: str, terms: dict[str, Any], funded: bool, debtor: str) -> list[Movement]:
    source = PARTNER_LIABILITY if funded else CASH
    receivable = RECEIVABLE[product]
    if product == "murabahah":
        return [(receivable, terms["cost"] + terms["margin"], debtor), (source, -terms["cost"], None),
                (DEFERRED_MARGIN, -terms["margin"], None)]
    if product == "qardh":  # the admin fee is one charge, kept from what is paid out
        return [(receivable, terms["principal"], debtor),
                (CASH, -(terms["principal"] - terms["admin_fee"]), None),
                (OTHER_INCOME, -terms["admin_fee"], None)]
    amount = {"mudharabah": "capital", "musyarakah": "coop_capital", "ijarah": "asset_cost",
              "rahn": "principal"}[product]
    return [(receivable, terms[amount], debtor), (source, -terms[amount], None)]


def repayment(product: str, principal: int, fees: int, margin: int, member: str | None, debtor: str
              ) -> list[Movement]:
    """Instalment money received (principal and fee parts), and the margin it recognises. `member`:
    who paid (income is their business; None for a guarantor); `debtor`: whose receivable it is."""
    moves: list[Movement] = [(CASH, principal + fees, None)]
    if product != "ijarah":
        moves.append((RECEIVABLE[product], -principal, debtor))
    moves.append((FEE_INCOME, -fees, member))
    if margin:
        moves += [(DEFERRED_MARGIN, margin, None), (MARGIN_INCOME, -margin, member)]
    return moves


def to_partner(principal: int, share: int) -> list[Movement]:
    """What a funded contract passes on: the principal repaid, and the partner's agreed share."""
    return [(PARTNER_LIABILITY, principal, None), (PARTNER_SHARE, share, None),
            (CASH, -(principal + share), None)]


def late_fees(amount: int) -> list[Movement]:
    return [(CASH, amount, None), (SOCIAL_FUND, -amount, None)]


def profit_shares(amount: int, member: str) -> list[Movement]:
    return [(CASH, amount, None), (PROFIT_INCOME, -amount, member)]


def loss(product: str, amount: int, funded: bool, debtor: str) -> list[Movement]:
    """A loss borne by the capital provider: the partner when funded, else the cooperative."""
    return [(PARTNER_LIABILITY if funded else FINANCING_LOSS, amount, None),
            (RECEIVABLE[product], -amount, debtor)]


def write_off(product: str, principal: int, deferred: int, debtor: str) -> list[Movement]:
    """What is still owed leaves the receivable; margin never recognised leaves the deferral."""
    return [(DEFERRED_MARGIN, deferred, None), (FINANCING_LOSS, principal - deferred, None),
            (RECEIVABLE[product], -principal, debtor)]


def guarantee_fee(fee: int) -> list[Movement]:
    return [(GUARANTEE_EXPENSE, fee, None), (CASH, -fee, None)]


def ownership_transfer(asset_cost: int, debtor: str) -> list[Movement]:
    """IMBT: the leased asset passes to the member (a gift after the lease) and leaves the books."""
    return [(OPERATING_EXPENSE, asset_cost, None), (RECEIVABLE["ijarah"], -asset_cost, debtor)]
