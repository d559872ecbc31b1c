"""Financing through real HTTP (gateway → financing → ledger, membership feeding both): partners,
each product's lifecycle with the ledger's reports, bad input, the role matrix, and concurrent
payments that never over-pay and are each posted once."""
from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from shared.projection import read_model
from tests.conftest import wait_for

from .conftest import assert_error

MURABAHAH = {"cost": 10_000_000, "margin": 2_000_000, "tenor_months": 12, "first_due_on": "2026-01-31",
             "late_fee": 50_000}
PRODUCTS = {
    "murabahah": ({**MURABAHAH, "tenor_months": 2}, "1104"),
    "mudharabah": ({"capital": 4_000_000, "nisbah_member_percent": 60, "tenor_months": 2,
                    "first_due_on": "2026-02-10"}, "1103"),
    "musyarakah": ({"coop_capital": 3_000_000, "member_capital": 1_000_000, "nisbah_member_percent": 50,
                    "diminishing": True, "tenor_months": 3, "first_due_on": "2026-02-10"}, "1103"),
    "ijarah": ({"asset_cost": 2_000_000, "rent_per_month": 300_000, "tenor_months": 2,
                "first_due_on": "2026-02-10", "transfer_at_end": True}, "1105"),
    "qardh": ({"principal": 1_000_000, "admin_fee": 20_000, "tenor_months": 2, "first_due_on": "2026-02-10"},
              "1103"),
    "rahn": ({"principal": 2_000_000, "collateral": {"description": "emas 10 g", "appraised_value": 8_000_000},
              "storage_fee_per_month": 10_000, "tenor_months": 2, "first_due_on": "2026-02-10"}, "1103"),
}


class Network:
    """Cooperative A with two admitted members (books open in the ledger), cooperative B, partners."""

    def __init__(self, stack, world):
        self.stack = stack
        self.admin = world.admin
        self.a = world.register()["id"]
        self.m1, self.m2 = (world.apply(self.a)["id"] for _ in range(2))
        for member in (self.m1, self.m2):
            world.act(self.a, member, "admit")
        self.board = stack.token("coop_admin", cooperative_id=self.a)
        for member in (self.m1, self.m2):
            wait_for(lambda m=member: stack.call("GET", f"/cooperatives/{self.a}/members/{m}/savings",
                                                 self.board).status_code == 200, what="books open")
        self.bank = self.partner("bank_syariah")["id"]
        self.jamkrida = self.partner("jamkrida")["id"]
        self.other_bank = self.partner("bprs")["id"]
        self.tokens = {
            "coop_admin_a": self.board, "network_admin": self.admin,
            "member_1": stack.token("member", cooperative_id=self.a, member_id=self.m1),
            "member_2": stack.token("member", cooperative_id=self.a, member_id=self.m2),
            "coop_admin_b": world.board_b,
            "bank": stack.token("partner", partner_id=self.bank),
            "jamkrida": stack.token("partner", partner_id=self.jamkrida),
            "other_bank": stack.token("partner", partner_id=self.other_bank),
        }

    def partner(self, kind: str) -> dict[str, Any]:
        answer = self.stack.call("POST", "/partners", self.admin, {"name": f"Mitra {kind}", "kind": kind})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def call(self, method: str, path: str, body: Any = None, token: str | None = None):
        return self.stack.call(method, f"/cooperatives/{self.a}{path}", token or self.board, body)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200, token: str | None = None) -> Any:
        answer = self.call(method, path, body, token)
        assert answer.status_code == status, answer.text
        return answer.json()

    def contract(self, product: str = "murabahah", terms: dict | None = None, member: str | None = None,
                 disburse: bool = True, **extra: Any) -> dict[str, Any]:
        body = {"member_id": member or self.m1, "product": product,
                "terms": terms or PRODUCTS[product][0], "applied_on": "2026-01-05", **extra}
        contract = self.ok("POST", "/financing", body, status=201)
        if disburse:
            for step in ("approve", "sign", "disburse"):
                contract = self.ok("POST", f"/financing/{contract['id']}/{step}", {"date": "2026-01-06"})
        return contract

    def balances(self, as_of: str = "2026-12-01") -> dict[str, int]:
        report = self.ok("GET", "/reports/trial-balance", None) if as_of is None else self.stack.call(
            "GET", f"/cooperatives/{self.a}/reports/trial-balance?as_of={as_of}", self.board).json()
        assert report["balanced"], report
        return {row["code"]: row["balance"] for row in report["accounts"]}

    def books_show(self, **expected: int) -> dict[str, int]:
        """Waits until the ledger's trial balance shows these balances (postings are asynchronous)."""
        def shown() -> dict[str, int] | None:
            balances = self.balances()
            return balances if all(balances.get(code[1:]) == value for code, value in expected.items()) else None
        return wait_for(shown, what=f"the ledger showing {expected}")  # type: ignore[return-value]


@pytest.fixture(scope="module")
def net(stack, world) -> Network:
    return Network(stack, world)


def test_partners_are_registered_listed_and_each_sees_only_itself(net, stack):
    registered = net.partner("pegadaian")
    assert set(registered) == {"id", "name", "kind", "feed"} and registered["kind"] == "pegadaian"
    assert registered["feed"]["queue"] == f"partner.{registered['id']}"  # its feed access, given once
    assert_error(stack.call("POST", "/partners", net.admin, {"name": "X", "kind": "koperasi"}), 400,
                 "validation_error")
    listed = wait_for(lambda: (page := stack.call("GET", "/partners?limit=200", net.admin).json()) and
                      registered["id"] in {p["id"] for p in page["items"]} and page, what="partner listed")
    assert listed
    own = stack.call("GET", "/partners", net.tokens["bank"]).json()
    assert [p["id"] for p in own["items"]] == [net.bank]
    assert stack.call("GET", f"/partners/{net.bank}", net.tokens["bank"]).json()["kind"] == "bank_syariah"
    assert_error(stack.call("GET", f"/partners/{net.jamkrida}", net.tokens["bank"]), 403, "forbidden")
    assert_error(stack.call("POST", "/partners", net.board, {"name": "X", "kind": "bprs"}), 403, "forbidden")


def test_a_murabahah_from_application_to_settlement_with_its_books(net):
    member = net.tokens["member_1"]
    before = net.balances()  # before this contract's first posting (postings are asynchronous)
    applied = net.ok("POST", "/financing", {"member_id": net.m1, "product": "murabahah", "terms": MURABAHAH,
                                            "applied_on": "2026-01-05"}, status=201, token=member)
    assert applied["status"] == "applied" and applied["price"] == 12_000_000
    cid = applied["id"]
    assert_error(net.call("POST", f"/financing/{cid}/disburse", {}), 422, "illegal_transition")
    for step in ("approve", "sign", "disburse"):
        contract = net.ok("POST", f"/financing/{cid}/{step}", {"date": "2026-01-06"})
    assert contract["status"] == "disbursed" and [i["amount"] for i in contract["schedule"]] == [1_000_000] * 12
    contract = net.ok("POST", f"/financing/{cid}/payments", {"amount": 1_000_000, "date": "2026-01-31"})
    contract = net.ok("POST", f"/financing/{cid}/payments", {"amount": 1_050_000, "date": "2026-03-03"})
    assert contract["late_fees"] == [{"due_on": "2026-02-28", "amount": 50_000, "paid": 50_000, "waived": False}]
    assert_error(net.call("POST", f"/financing/{cid}/payments", {"amount": 10_000_001, "date": "2026-03-04"}),
                 422, "overpayment")
    contract = net.ok("POST", f"/financing/{cid}/restructure",
                      {"tenor_months": 5, "first_due_on": "2026-04-15", "date": "2026-03-10"})
    assert contract["price"] == 12_000_000 and contract["paid"] + contract["outstanding"] == 12_000_000
    net.ok("POST", f"/financing/{cid}/payments", {"amount": 10_000_000, "date": "2026-03-20"})
    settled = net.ok("GET", f"/financing/{cid}")
    assert settled["status"] == "settled" and settled["margin_recognised"] == 2_000_000
    delta = {code: before.get(code, 0) for code in ("1104", "2107", "4102", "2102")}
    net.books_show(_1104=delta["1104"], _2107=delta["2107"], _4102=delta["4102"] + 2_000_000,
                   _2102=delta["2102"] + 50_000)
    # the margin paid is the member's business; the statement is its own projection, apart from the books
    wait_for(lambda: net.ok("GET", f"/members/{net.m1}/statement?from=2026-01-01&to=2026-12-31")[
        "jasa_usaha"] >= 2_000_000, what="the member's statement showing the margin as business")


@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_each_product_runs_its_lifecycle_and_its_receivable_returns_to_zero(net, product):
    terms, receivable = PRODUCTS[product]
    before = net.balances().get(receivable, 0)
    contract = net.contract(product)
    if product in ("mudharabah", "musyarakah"):
        contract = net.ok("POST", f"/financing/{contract['id']}/profit-reports",
                          {"period_end": "2026-01-31", "actual_profit": 1_000_000})
        assert contract["profit_reports"][0]["coop_share"] in (400_000, 500_000)
    else:
        assert_error(net.call("POST", f"/financing/{contract['id']}/profit-reports",
                              {"period_end": "2026-01-31", "actual_profit": 1}), 422, "illegal_transition")
    owed = contract["outstanding"] + sum(r["coop_share"] for r in contract["profit_reports"])
    settled = net.ok("POST", f"/financing/{contract['id']}/payments", {"amount": owed, "date": "2026-01-20"})
    assert settled["status"] == "settled" and settled["outstanding"] == 0
    net.books_show(**{f"_{receivable}": before})  # repaid; an IMBT asset passed to the member at the end


def test_bad_input_is_400_with_the_field_and_changes_nothing(net, stack):
    cases = [
        ({"product": "riba", "terms": {}}, "product"),
        ({"product": "murabahah", "terms": {**MURABAHAH, "margin": -1}}, "terms"),
        ({"product": "murabahah", "terms": {**MURABAHAH, "first_due_on": "2025-12-31"}}, "terms"),
        ({"product": "murabahah", "terms": MURABAHAH, "partner_id": "nobody"}, "partner_id"),
        ({"product": "murabahah", "terms": MURABAHAH, "partner_id": net.jamkrida}, "partner_id"),
        ({"product": "mudharabah", "terms": {**PRODUCTS["mudharabah"][0], "nisbah_member_percent": 120}}, "terms"),
        ({"product": "murabahah", "terms": MURABAHAH,
          "guarantee": {"partner_id": net.bank, "coverage_percent": 50, "fee": 1}}, "guarantee"),
    ]
    before = net.ok("GET", "/financing?limit=200")["items"]
    for body, field in cases:
        error = assert_error(net.call("POST", "/financing", {"member_id": net.m1, "applied_on": "2026-01-05",
                                                             **body}), 400, "validation_error")
        assert field in error["fields"], error
    assert_error(net.call("POST", "/financing", {"member_id": str(uuid.uuid4()), "product": "murabahah",
                                                 "terms": MURABAHAH}), 400, "validation_error")
    assert len(net.ok("GET", "/financing?limit=200")["items"]) == len(before)


def test_the_role_matrix_member_own_only_and_partners_see_exactly_what_they_fund_or_guarantee(net, stack):
    funded = net.contract("murabahah", partner_id=net.bank, partner_share_percent=40)
    guaranteed = net.contract("murabahah", member=net.m2,
                              guarantee={"partner_id": net.jamkrida, "coverage_percent": 70, "fee": 100_000})
    plain = net.contract("qardh")
    tokens = net.tokens

    def seen(token: str) -> set[str]:
        return {c["id"] for c in net.ok("GET", "/financing?limit=200", token=tokens[token])["items"]}

    wait_for(lambda: {funded["id"], guaranteed["id"], plain["id"]} <= seen("coop_admin_a"), what="indexed")
    assert seen("bank") == {funded["id"]} and seen("jamkrida") == {guaranteed["id"]} and seen("other_bank") == set()
    assert guaranteed["id"] not in seen("member_1") and funded["id"] in seen("member_1")
    assert seen("member_2") >= {guaranteed["id"]} and funded["id"] not in seen("member_2")
    for token, contract, status in [("bank", funded, 200), ("bank", guaranteed, 404), ("jamkrida", guaranteed, 200),
                                    ("member_2", funded, 404), ("member_1", funded, 200),
                                    ("coop_admin_b", funded, 403), ("network_admin", funded, 403)]:
        answer = net.call("GET", f"/financing/{contract['id']}", token=tokens[token])
        assert answer.status_code == status, (token, answer.text)
    for token in ("bank", "jamkrida", "member_1", "coop_admin_b"):  # only the board acts on a contract
        assert_error(net.call("POST", f"/financing/{funded['id']}/payments", {"amount": 1, "date": "2026-02-01"},
                              token=tokens[token]), 403, "forbidden")
    assert_error(net.call("POST", "/financing", {"member_id": net.m2, "product": "qardh",
                                                 "terms": PRODUCTS["qardh"][0]}, token=tokens["member_1"]),
                 403, "forbidden")
    # the guarantee: its fee at signing; a claim after default pays 70% of what is outstanding
    net.ok("POST", f"/financing/{guaranteed['id']}/payments", {"amount": 1, "date": "2026-03-01"})  # now late
    claimed = net.ok("POST", f"/financing/{guaranteed['id']}/guarantee-claims", {"date": "2026-03-02"})
    assert claimed["guarantee_claimed"] == 12_000_000 * 70 // 100  # the 1 paid went to a late fee
    net.ok("POST", f"/financing/{plain['id']}/write-off", {"date": "2026-03-03"})
    assert net.ok("GET", f"/financing/{plain['id']}")["status"] == "written_off"


def test_concurrent_payments_never_over_pay_and_each_is_posted_once(net, stack):
    contract = net.contract("qardh", {"principal": 1_000_000, "admin_fee": 0, "tenor_months": 1,
                                      "first_due_on": "2026-02-10"})
    answers: list[Any] = []

    def pay() -> None:
        answers.append(net.call("POST", f"/financing/{contract['id']}/payments",
                                {"amount": 300_000, "date": "2026-02-01"}))

    threads = [threading.Thread(target=pay) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [a for a in answers if a.status_code == 200]
    assert len(accepted) == 3, [a.text for a in answers]
    assert all(a.status_code in (200, 422, 409) for a in answers)
    final = net.ok("GET", f"/financing/{contract['id']}")
    assert final["paid"] == 900_000 and final["outstanding"] == 100_000
    entries = read_model(stack.database("ledger"), "ledger_journal_entries", "journal_entries")

    def postings() -> list[dict]:
        return [e for e in entries.find({"cooperative_id": net.a, "source.service": "financing"})
                if "payment" in e["memo"] and contract["id"] in e["memo"]]

    wait_for(lambda: len(postings()) >= 3, what="three payment postings")
    assert sum(line["debit"] for e in postings() for line in e["lines"] if line["account"] == "1101") == 900_000
