"""A member with outstanding financing exits (gateway → membership → ledger, financing posting its
contract to the ledger): the pokok and wajib returned are netted by the murabahah still owed,
because financing's receivable lines name the member (services/financing/books.py) and the ledger
nets a member's debit balance on 1103/1104 on exit (services/ledger/claims.py)."""
from __future__ import annotations

from typing import Any

from tests.conftest import wait_for

MURABAHAH = {"cost": 10_000_000, "margin": 2_000_000, "tenor_months": 12, "first_due_on": "2026-01-31",
             "late_fee": 50_000}


def test_an_exit_nets_the_savings_returned_by_the_outstanding_murabahah(stack, world):
    cooperative = world.register()["id"]
    board = stack.token("coop_admin", cooperative_id=cooperative)
    base = f"/cooperatives/{cooperative}"

    def ok(method: str, path: str, body: Any = None, status: int = 200, **options: Any) -> Any:
        answer = stack.call(method, base + path, board, body, **options)
        assert answer.status_code == status, answer.text
        return answer.json()

    member = world.apply(cooperative)["id"]
    ok("POST", f"/members/{member}/admit", {"date": "2025-06-01"})
    ok("POST", f"/members/{member}/savings/pokok/deposits", {"amount": 100_000, "date": "2025-06-01"}, 201)
    ok("POST", f"/members/{member}/savings/wajib/deposits", {"amount": 400_000, "date": "2025-07-01"}, 201)
    contract = ok("POST", "/financing", {"member_id": member, "product": "murabahah", "terms": MURABAHAH,
                                         "applied_on": "2026-01-05"}, 201)
    for step in ("approve", "sign", "disburse"):
        ok("POST", f"/financing/{contract['id']}/{step}", {"date": "2026-01-06"})

    def member_lines(account: str) -> list[dict[str, Any]]:
        entries = ok("GET", "/journal-entries", params={"member_id": member, "account": account, "limit": 100})
        return [line for entry in entries["items"] for line in entry["lines"]
                if line["account"] == account and line.get("member_id") == member]

    def owed(lines: list[dict[str, Any]]) -> int:
        return sum(line["debit"] - line["credit"] for line in lines)

    # the disbursement names the member on the receivable: 12,000,000 owed on 1104
    wait_for(lambda: owed(member_lines("1104")) == 12_000_000, what="the murabahah posted for the member")

    ok("POST", f"/members/{member}/exit", {"reason": "resigned"})

    def netting() -> list[dict[str, Any]]:
        entries = ok("GET", "/journal-entries", params={"member_id": member, "limit": 100})["items"]
        return [e for e in entries if e["memo"].startswith("exit:")]

    [entry] = wait_for(netting, what="the exit settled in the books")
    lines = {(line["account"], line["debit"], line["credit"]) for line in entry["lines"]}
    # the 500,000 of pokok + wajib paid out in cash are taken back against the receivable
    assert lines == {("1104", 0, 500_000), ("1101", 500_000, 0)}
    assert owed(member_lines("1104")) == 11_500_000  # the rest stays owed
    savings = ok("GET", f"/members/{member}/savings")
    assert savings["status"] == "closed" and savings["total"] == 0
    balance = ok("GET", "/reports/trial-balance")
    assert balance["balanced"], balance
    cash = next(row["balance"] for row in balance["accounts"] if row["code"] == "1101")
    # cash: +500,000 savings, −10,000,000 murabahah cost, −500,000 returned, +500,000 netted back
    assert cash == 500_000 - 10_000_000
