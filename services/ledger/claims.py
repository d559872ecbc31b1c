"""What a member and the cooperative owe each other, as the books see it (pure, standard library).

* SHU owed: each member's total of a closed year's distribution (credited to 2103 on the RAT's
  date), until it is paid out — to sukarela or in cash (`POST .../shu/payout`), or on exit.
* Receivables: the member's debit balance on the receivable accounts (`RECEIVABLES`), from every
  line of the books that names the member. This is how outstanding financing is netted on exit
  without the ledger knowing financing: a financing service posts its disbursements and
  repayments through `post_entry` with `member_id` on its receivable account (1104 for
  murabahah), so the balance there *is* the member's outstanding financing. A receivable account
  added later is netted once it is listed here (or typed as a member receivable in the chart).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import accounting as acc

RECEIVABLES = ("1103", "1104")  # piutang anggota, piutang murabahah
SHU_PAYOUT_TARGETS = ("sukarela", "cash")


def receivable_changes(lines: list[Mapping[str, Any]]) -> list[tuple[str, str, int]]:
    """An entry's changes to its members' receivables: (member, account, debit − credit) for each
    line that names a member on a receivable account."""
    return [(line["member_id"], line["account"], line["debit"] - line["credit"])
            for line in lines if line.get("member_id") and line["account"] in RECEIVABLES]


def exit_netting(receivables: Mapping[str, int], shu_owed: int, returned: int, member: str
                 ) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """The books' side of an exit, after the savings were returned in cash (`returned`): the unpaid
    SHU is paid, and the member's receivables are taken back out of what the member receives
    (savings + SHU), at most all of it; the rest of a receivable stays owed. Returns the amounts
    netted per account and the entry's lines (none when there is nothing to do)."""
    available = returned + shu_owed
    netted: dict[str, int] = {}
    for account in RECEIVABLES:
        take = min(max(receivables.get(account, 0), 0), available - sum(netted.values()))
        if take > 0:
            netted[account] = take
    cash = shu_owed - sum(netted.values())  # > 0 paid out, < 0 kept from the savings paid out
    lines = [acc.line(acc.SHU_PAYABLE, debit=shu_owed, member_id=member)] if shu_owed else []
    lines += [acc.line(account, credit=amount, member_id=member) for account, amount in netted.items()]
    if cash:
        lines.append(acc.line(acc.CASH, debit=max(-cash, 0), credit=max(cash, 0), member_id=member))
    return netted, lines if len(lines) >= 2 else []
