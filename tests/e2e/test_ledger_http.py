"""Every Ledger route through real HTTP (gateway → ledger, with membership feeding the ledger's
policies), the answers http-api.md promises, and the Ledger role matrix."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.gateway.routes import ROUTES
from tests.conftest import wait_for

from .conftest import assert_error

ALLOCATION = {"reserve": 40, "jasa_modal": 20, "jasa_usaha": 25, "board": 5, "staff": 5, "education": 3,
              "social": 2}
ROLES = ["network_admin", "coop_admin_a", "member_a1", "member_a2", "coop_admin_b", "member_b1", "partner"]
BOARD, BOARD_OR_MEMBER = {"coop_admin_a"}, {"coop_admin_a", "member_a1"}
#: who may call each Ledger route on cooperative A and its member m1 (http-api.md, Ledger)
LEDGER_MATRIX = {
    "list_accounts": BOARD, "add_account": BOARD, "post_journal_entry": BOARD, "reverse_journal_entry": BOARD,
    "deposit_pokok": BOARD, "deposit_wajib": BOARD, "deposit_sukarela": BOARD_OR_MEMBER,
    "withdraw_sukarela": BOARD_OR_MEMBER, "get_savings": BOARD_OR_MEMBER, "member_statement": BOARD_OR_MEMBER,
    "trial_balance": {"coop_admin_a", "network_admin"}, "balance_sheet": {"coop_admin_a", "network_admin"},
    "income_statement": {"coop_admin_a", "network_admin"}, "close_fiscal_year": BOARD,
    "list_journal": {"coop_admin_a", "network_admin"}, "pay_shu": BOARD, "change_account": BOARD,
    "remove_account": BOARD,
    "get_shu": {"coop_admin_a", "member_a1", "member_a2"},
}
INVALID_BODY = {"amount": "lots", "unexpected": True}


class Books:
    """A cooperative (A) with two admitted members whose savings are open, another (B), tokens."""

    def __init__(self, stack, world, members: int = 2):
        self.stack, self.world = stack, world
        self.a, self.members = self.cooperative_with_members(members)
        self.b, (self.b1,) = self.cooperative_with_members(1)
        self.m1, self.m2 = (self.members + [None])[:2]
        self.board = stack.token("coop_admin", cooperative_id=self.a)
        self.tokens = {
            "network_admin": world.admin, "coop_admin_a": self.board,
            "member_a1": stack.token("member", cooperative_id=self.a, member_id=self.m1),
            "member_a2": stack.token("member", cooperative_id=self.a, member_id=self.m2),
            "coop_admin_b": stack.token("coop_admin", cooperative_id=self.b),
            "member_b1": stack.token("member", cooperative_id=self.b, member_id=self.b1),
            "partner": stack.token("partner", partner_id="bank-syariah-1"),
        }

    def cooperative_with_members(self, count: int) -> tuple[str, list[str]]:
        cooperative = self.world.register()["id"]
        members = [self.world.apply(cooperative)["id"] for _ in range(count)]
        board = self.stack.token("coop_admin", cooperative_id=cooperative)
        for member in members:  # admitted as of joining, so that savings may be dated from then on
            answer = self.stack.call("POST", f"/cooperatives/{cooperative}/members/{member}/admit", board,
                                     {"date": "2024-01-10"})
            assert answer.status_code == 200, answer.text
        for member in members:  # the ledger opens the books and savings from membership's events
            wait_for(lambda m=member: self.stack.call(
                "GET", f"/cooperatives/{cooperative}/members/{m}/savings", board).status_code == 200,
                what="savings open in the ledger")
        return cooperative, members

    def call(self, method: str, path: str, body: Any = None, token: str | None = None, **options: Any):
        return self.stack.call(method, f"/cooperatives/{self.a}{path}", token or self.board, body, **options)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200, **options: Any) -> Any:
        answer = self.call(method, path, body, **options)
        assert answer.status_code == status, answer.text
        return answer.json()

    def hold_rat(self, year: int, attendees: int) -> None:
        meeting = {"fiscal_year": year, "held_on": f"{year + 1}-03-15", "attendees": attendees,
                   "shu_allocation": ALLOCATION}
        self.ok("POST", "/annual-meetings", meeting, status=201)


def entry(date: str, *lines: tuple) -> dict[str, Any]:
    return {"date": date, "memo": "e2e", "lines": [
        {"account": x[0], "debit": x[1], "credit": x[2], **({"member_id": x[3]} if len(x) > 3 else {})}
        for x in lines]}


@pytest.fixture(scope="module")
def books(stack, world) -> Books:
    return Books(stack, world)


def test_the_matrix_covers_every_ledger_route():
    assert set(LEDGER_MATRIX) == {name for name, route in ROUTES.items() if route.service == "ledger"}


@pytest.mark.parametrize("route", sorted(LEDGER_MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_ledger_role_matrix(stack, books, role, route):
    spec = ROUTES[route]
    ids = {"cooperative_id": books.a, "member_id": books.m1, "entry_id": str(uuid.uuid4()),
           "fiscal_year": "2025", "code": "9999"}
    path = spec.path
    for name in spec.path_names:
        path = path.replace("{" + name + "}", ids[name])
    body = INVALID_BODY if spec.method in ("POST", "PATCH") else None
    answer = stack.call(spec.method, path, books.tokens[role], body)
    if role not in LEDGER_MATRIX[route]:
        assert_error(answer, 403, "forbidden")
    elif spec.method in ("POST", "PATCH"):
        assert_error(answer, 400, "validation_error")  # allowed, and nothing changed
    elif route in ("get_shu", "remove_account"):
        assert_error(answer, 404, "not_found")  # allowed; the year is not closed, no account 9999
    else:
        assert answer.status_code == 200, answer.text


def test_the_chart_of_accounts_pages_and_grows(books):
    first = books.ok("GET", "/accounts", params={"limit": 5})
    assert [a["code"] for a in first["items"]] == ["1101", "1102", "1103", "1104", "1105"]
    assert first["items"][0] == {"code": "1101", "name": "Kas", "type": "asset", "normal_balance": "debit",
                                 "balance": first["items"][0]["balance"], "active": True}
    second = books.ok("GET", "/accounts", params={"limit": 5, "cursor": first["next"]})
    assert second["items"][0]["code"] == "2101" and second["next"]
    added = books.ok("POST", "/accounts", {"code": "1190", "name": "Piutang ijarah", "type": "asset"}, 201)
    assert added == {"code": "1190", "name": "Piutang ijarah", "type": "asset", "normal_balance": "debit",
                     "balance": 0, "active": True}
    assert_error(books.call("POST", "/accounts", {"code": "1190", "name": "again", "type": "asset"}),
                 409, "conflict")
    renamed = books.ok("PATCH", "/accounts/1190", {"name": "Piutang sewa", "active": False})
    assert (renamed["name"], renamed["active"]) == ("Piutang sewa", False)
    error = assert_error(books.call("POST", "/journal-entries", entry("2026-02-10", ("1190", 1, 0),
                                                                      ("4101", 0, 1))), 400, "validation_error")
    assert "deactivated" in str(error["fields"])
    assert_error(books.call("PATCH", "/accounts/1101", {"active": False}), 422, "account_in_use")
    books.ok("PATCH", "/accounts/1190", {"active": True})
    books.ok("POST", "/journal-entries", entry("2026-02-10", ("1190", 1, 0), ("4104", 0, 1)), 201)
    assert_error(books.call("DELETE", "/accounts/1190"), 422, "account_has_movements")
    books.ok("POST", "/accounts", {"code": "1191", "name": "Unused", "type": "asset"}, 201)
    assert books.ok("DELETE", "/accounts/1191")["code"] == "1191"
    assert_error(books.call("DELETE", "/accounts/1191"), 404, "not_found")
    error = assert_error(books.call("POST", "/accounts", {"code": "x", "name": "", "type": "cash"}),
                         400, "validation_error")
    assert set(error["fields"]) == {"code", "name", "type"}
    codes = [a["code"] for a in books.ok("GET", "/accounts", params={"limit": 200})["items"]]
    assert "1190" in codes and codes == sorted(codes)


def test_journal_entries_are_checked_posted_and_reversed_once(books):
    posted = books.ok("POST", "/journal-entries", entry("2026-02-10", ("1101", 5_000, 0),
                                                        ("4101", 0, 5_000, books.m1)), 201)
    assert posted["id"] and posted["kind"] == "manual" and posted["business_activity"] is True
    assert posted["lines"][1] == {"account": "4101", "debit": 0, "credit": 5_000, "member_id": books.m1}
    assert_error(books.call("POST", "/journal-entries", entry("2026-02-10", ("1101", 2, 0), ("4101", 0, 1))),
                 422, "unbalanced_entry")
    error = assert_error(books.call("POST", "/journal-entries", entry("2026-02-10", ("9999", 1, 0),
                                                                      ("4101", 0, 1))), 400, "validation_error")
    assert "0" in error["fields"]["lines"]
    assert_error(books.call("POST", "/journal-entries", entry("2026-02-10", ("1101", 1, 0), ("3101", 0, 1))),
                 400, "validation_error")  # savings accounts move with savings only
    reversed_ = books.ok("POST", f"/journal-entries/{posted['id']}/reverse")
    assert reversed_["id"] == posted["id"] and reversed_["reversed_by"] == reversed_["reversal"]["id"]
    assert reversed_["reversal"]["reverses"] == posted["id"] and reversed_["reversal"]["kind"] == "reversal"
    assert_error(books.call("POST", f"/journal-entries/{posted['id']}/reverse"), 409, "conflict")
    assert_error(books.call("POST", f"/journal-entries/{uuid.uuid4()}/reverse"), 404, "not_found")


def test_savings_deposits_withdrawals_and_statement(stack, books):
    member = books.tokens["member_a2"]
    savings = f"/members/{books.m2}/savings"
    pokok = books.ok("POST", f"{savings}/pokok/deposits", {"amount": 100_000, "date": "2026-01-05"}, 201)
    assert pokok["pokok"] == 100_000 and pokok["pokok_paid"] is True and pokok["entry_id"]
    assert_error(books.call("POST", f"{savings}/pokok/deposits", {"amount": 100_000, "date": "2026-01-06"}),
                 409, "conflict")
    assert books.ok("POST", f"{savings}/wajib/deposits", {"amount": 25_000, "date": "2026-02-05"}, 201)["wajib"]
    own = books.call("POST", f"{savings}/sukarela/deposits", {"amount": 40_000, "date": "2026-02-06"}, member)
    assert own.status_code == 201 and own.json()["sukarela"] == 40_000, own.text
    assert_error(books.call("POST", f"{savings}/wajib/deposits", {"amount": 1, "date": "2026-02-06"}, member),
                 403, "forbidden")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"amount": 15_000, "date": "2026-03-01"}
    first = books.call("POST", f"{savings}/sukarela/withdrawals", body, member, headers=key)
    again = books.call("POST", f"{savings}/sukarela/withdrawals", body, member, headers=key)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true" and first.json()["sukarela"] == 25_000
    assert_error(books.call("POST", f"{savings}/sukarela/withdrawals", {"amount": 25_001, "date": "2026-03-02"},
                            member), 422, "insufficient_balance")
    assert_error(books.call("POST", f"{savings}/sukarela/withdrawals", {"amount": 1, "date": "2026-13-01"},
                            member), 400, "validation_error")
    mine = books.call("GET", savings, token=member).json()
    assert {k: mine[k] for k in ("pokok", "wajib", "sukarela", "total", "status")} == {
        "pokok": 100_000, "wajib": 25_000, "sukarela": 25_000, "total": 150_000, "status": "open"}
    assert_error(books.call("GET", f"/members/{books.m1}/savings", token=member), 403, "forbidden")
    statement = wait_for(lambda: (s := books.call("GET", f"/members/{books.m2}/statement", token=member,
                                                  params={"from": "2026-02-01", "to": "2026-03-31"}).json())
                         and len(s["movements"]) == 3 and s, what="the statement read model")
    assert statement["opening"] == {"pokok": 100_000, "wajib": 0, "sukarela": 0}
    assert [(m["kind"], m["movement"], m["amount"]) for m in statement["movements"]] == [
        ("wajib", "deposit", 25_000), ("sukarela", "deposit", 40_000), ("sukarela", "withdrawal", -15_000)]
    assert statement["closing"] == {"pokok": 100_000, "wajib": 25_000, "sukarela": 25_000}
    assert (statement["from"], statement["to"]) == ("2026-02-01", "2026-03-31")
    assert_error(books.call("GET", f"/members/{books.m2}/statement", token=member,
                            params={"from": "2026-04-01", "to": "2026-03-01"}), 400, "validation_error")


def test_reports_balance_for_the_board_and_the_network_admin(stack, books):
    books.ok("POST", "/journal-entries", entry("2026-04-01", ("1101", 70_000, 0), ("4101", 0, 70_000)), 201)
    books.ok("POST", "/journal-entries", entry("2026-04-02", ("5102", 20_000, 0), ("1101", 0, 20_000)), 201)

    def report(name: str, token: str | None = None, **params: str) -> dict:
        answer = books.call("GET", f"/reports/{name}", token=token, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    wait_for(lambda: report("income-statement", **{"from": "2026-04-01", "to": "2026-04-30"})["shu"] == 50_000,
             what="the income statement")
    trial = report("trial-balance", as_of="2026-12-31")
    assert trial["balanced"] and trial["total_debit"] == trial["total_credit"] > 0
    assert {row["code"] for row in trial["accounts"]} >= {"1101", "2101", "3101", "4101", "5102"}
    period = report("trial-balance", **{"from": "2026-04-01", "to": "2026-04-30"})
    assert (period["from"], period["total_debit"]) == ("2026-04-01", 90_000)
    sheet = report("balance-sheet", books.tokens["network_admin"], as_of="2026-12-31")
    assert sheet["balanced"] and sheet["total_assets"] == sheet["total_liabilities_and_equity"]
    assert report("income-statement", as_of="2026-04-30")["from"] == "2026-01-01"
    assert_error(books.call("GET", "/reports/trial-balance", params={"as_of": "2026-01-01", "from": "2026-01-01",
                                                                     "to": "2026-02-01"}), 400, "validation_error")
    assert_error(books.call("GET", "/reports/cash-flow"), 404, "not_found")


def test_closing_a_year_distributes_shu_and_locks_it(stack, world):
    coop = Books(stack, world)
    a, b = coop.m1, coop.m2
    for member, amount in ((a, 400_000), (b, 200_000)):
        coop.ok("POST", f"/members/{member}/savings/pokok/deposits", {"amount": 100_000, "date": "2025-07-01"}, 201)
        coop.ok("POST", f"/members/{member}/savings/wajib/deposits", {"amount": amount - 100_000,
                                                                       "date": "2025-08-01"}, 201)
    coop.ok("POST", "/journal-entries", entry("2025-09-09", ("1101", 10_000, 0), ("4101", 0, 10_000, b)), 201)
    assert_error(coop.call("POST", "/fiscal-years/2025/close"), 422, "rat_resolution_missing")
    assert_error(coop.call("POST", "/fiscal-years/2026/close"), 422, "fiscal_year_not_ended")
    coop.hold_rat(2025, attendees=2)
    closed = wait_for(lambda: (r := coop.call("POST", "/fiscal-years/2025/close")).status_code == 200 and r.json(),
                      what="the RAT reaching the ledger")
    # SHU 10,000: reserve 4,000; jasa modal 2,000 by 400,000 : 200,000 pokok + wajib → 1,333 / 667 by
    # largest remainder; jasa usaha 2,500 all to b (the only member with business)
    assert closed["shu"] == 10_000 and closed["fiscal_year"] == 2025
    assert closed["pools"] == {"reserve": 4_000, "jasa_modal": 2_000, "jasa_usaha": 2_500, "board": 500,
                               "staff": 500, "education": 300, "social": 200}
    lines = {line["member_id"]: line for line in closed["members"]}
    assert lines[a] == {"member_id": a, "jasa_modal": 1_333, "jasa_usaha": 0, "total": 1_333, "paid": False}
    assert lines[b] == {"member_id": b, "jasa_modal": 667, "jasa_usaha": 2_500, "total": 3_167, "paid": False}
    assert coop.ok("POST", "/fiscal-years/2025/close") == closed  # closing twice changes nothing
    assert coop.ok("GET", "/fiscal-years/2025/shu") == closed
    own = coop.call("GET", "/fiscal-years/2025/shu", token=coop.tokens["member_a2"]).json()
    assert own["members"] == [lines[b]] and own["shu"] == 10_000
    assert_error(coop.call("POST", "/journal-entries", entry("2025-12-31", ("1101", 1, 0), ("4101", 0, 1))),
                 422, "fiscal_year_closed")
    assert_error(coop.call("POST", f"/members/{a}/savings/wajib/deposits", {"amount": 1, "date": "2025-12-31"}),
                 422, "fiscal_year_closed")
    assert_error(coop.call("POST", "/fiscal-years/abc/close"), 400, "validation_error")
    assert_error(coop.call("GET", "/fiscal-years/2024/shu"), 404, "not_found")
    sheet = coop.call("GET", "/reports/balance-sheet", params={"as_of": "2025-12-31"}).json()
    assert sheet["balanced"] and sheet["current_result"] == 0
    # the SHU owed is paid out once, from the RAT's date (2026-03-15)
    assert_error(coop.call("POST", "/fiscal-years/2025/shu/payout", {"date": "2026-03-01", "to": "cash"}), 400,
                 "validation_error")
    paid = coop.ok("POST", "/fiscal-years/2025/shu/payout", {"date": "2026-03-16", "to": "sukarela"})
    assert all(line["paid"] for line in paid["members"])
    assert coop.ok("GET", f"/members/{b}/savings")["sukarela"] == 3_167
    assert coop.ok("POST", "/fiscal-years/2025/shu/payout", {"date": "2026-03-17", "to": "cash"}) == paid
