"""The ledger's use cases over the in-memory store: commands, policies, reports, statements."""
from __future__ import annotations

import pytest

from shared.aggregate import DomainError
from tests.support.ledger_memory import MemoryLedger, membership_event

COOP = "coop-1"


def refused(code: str, call, *args) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args)
    assert caught.value.code == code, caught.value.args
    return caught.value


@pytest.fixture
def ledger() -> MemoryLedger:
    ledger = MemoryLedger()
    ledger.register(COOP)
    ledger.admit(COOP, "m1")
    ledger.deposit(COOP, "m1", "pokok", 100_000, "2026-01-05")
    ledger.deposit(COOP, "m1", "sukarela", 50_000, "2026-01-06")
    ledger.withdraw(COOP, "m1", 20_000, "2026-02-01")
    ledger.post(COOP, "2026-02-10", ("1101", 300_000, 0), ("4101", 0, 300_000, "m1"), memo="rice to m1")
    ledger.post(COOP, "2026-03-01", ("5102", 40_000, 0), ("1101", 0, 40_000), memo="electricity")
    return ledger


def test_a_duplicate_membership_event_is_applied_once():
    ledger = MemoryLedger()
    event = membership_event("CooperativeRegistered", cooperative_id="c9", name="K",
                             registered_at="2021-01-01T00:00:00Z")
    ledger.deliver(event)
    head = ledger.store.head()
    ledger.deliver(event)
    admitted = membership_event("MemberAdmitted", cooperative_id="c9", member_id="m", admitted_on="2021-01-02",
                                pokok_amount=5, wajib_amount=1)
    ledger.deliver(admitted)
    after_admission = ledger.store.head()
    ledger.deliver(admitted)
    assert ledger.store.head() == after_admission > head
    assert ledger.ledger.get_savings("c9", "m")["pokok_amount"] == 5


def test_trial_balance_as_of_a_date(ledger):
    report = ledger.ledger.report(COOP, "trial-balance", as_of="2026-02-28")
    rows = {row["code"]: row for row in report["accounts"]}
    assert (rows["1101"]["debit"], rows["1101"]["credit"], rows["1101"]["balance"]) == (450_000, 20_000, 430_000)
    assert rows["2101"]["balance"] == 30_000 and rows["3101"]["balance"] == 100_000
    assert rows["4101"]["balance"] == 300_000 and rows["5102"]["balance"] == 0
    assert report["total_debit"] == report["total_credit"] == 470_000 and report["balanced"]
    period = ledger.ledger.report(COOP, "trial-balance", from_="2026-02-01", to="2026-02-28")
    assert period["from"] == "2026-02-01" and period["total_debit"] == 320_000 and period["balanced"]


def test_balance_sheet_and_income_statement(ledger):
    sheet = ledger.ledger.report(COOP, "balance-sheet", as_of="2026-03-31")
    assert sheet["total_assets"] == 390_000
    assert (sheet["total_liabilities"], sheet["current_result"], sheet["total_equity"]) == (30_000, 260_000, 360_000)
    assert sheet["total_liabilities_and_equity"] == 390_000 and sheet["balanced"]
    statement = ledger.ledger.report(COOP, "income-statement", from_="2026-01-01", to="2026-03-31")
    assert (statement["total_income"], statement["total_expenses"], statement["shu"]) == (300_000, 40_000, 260_000)
    year_to_date = ledger.ledger.report(COOP, "income-statement", as_of="2026-02-28")
    assert year_to_date["from"] == "2026-01-01" and year_to_date["shu"] == 300_000


def test_report_requests_are_validated(ledger):
    refused("validation_error", ledger.ledger.report, COOP, "cash-flow")
    refused("validation_error", ledger.ledger.report, COOP, "trial-balance", "2026-01-01", "2026-01-01", "2026-02-01")
    refused("validation_error", ledger.ledger.report, COOP, "trial-balance", None, "2026-01-01")
    refused("validation_error", ledger.ledger.report, COOP, "trial-balance", None, "2026-03-01", "2026-01-01")
    refused("validation_error", ledger.ledger.report, COOP, "trial-balance", "yesterday")
    refused("not_found", ledger.ledger.report, "no-such-coop", "trial-balance")


def test_member_statement(ledger):
    statement = ledger.ledger.member_statement(COOP, "m1", "2026-01-06", "2026-02-28")
    assert statement["opening"] == {"pokok": 100_000, "wajib": 0, "sukarela": 0}
    assert [(m["date"], m["kind"], m["movement"], m["amount"]) for m in statement["movements"]] == [
        ("2026-01-06", "sukarela", "deposit", 50_000), ("2026-02-01", "sukarela", "withdrawal", -20_000)]
    assert statement["closing"] == {"pokok": 100_000, "wajib": 0, "sukarela": 30_000}
    assert statement["jasa_usaha"] == 300_000 and len(statement["business"]) == 1
    refused("not_found", ledger.ledger.member_statement, COOP, "stranger", None, None)


def test_accounts_list_with_balances_and_an_added_account(ledger):
    added = ledger.ledger.add_account(COOP, {"code": "1106", "name": "Piutang ijarah", "type": "asset"},
                                      {"command_id": "add-1106"})
    assert added == {"code": "1106", "name": "Piutang ijarah", "type": "asset", "normal_balance": "debit",
                     "balance": 0, "active": True}
    refused("conflict", ledger.ledger.add_account, COOP, {"code": "1106", "name": "x", "type": "asset"})
    refused("validation_error", ledger.ledger.add_account, COOP, {"code": "ab", "name": "x", "type": "asset"})
    accounts = {a["code"]: a for a in ledger.ledger.list_accounts(COOP)}
    assert accounts["1101"] == {"code": "1101", "name": "Kas", "type": "asset", "normal_balance": "debit",
                                "balance": 390_000, "active": True}
    assert accounts["2101"]["normal_balance"] == "credit" and "1106" in accounts


def test_entries_are_validated_and_reversed_once(ledger):
    refused("unbalanced_entry", ledger.post, COOP, "2026-04-01", ("1101", 10, 0), ("4101", 0, 9))
    error = refused("validation_error", ledger.ledger.post_journal_entry, COOP, {"date": "2026-13-01", "lines": []})
    assert set(error.fields) == {"date", "lines"}
    refused("validation_error", ledger.post, COOP, "2026-04-01", ("1101", 10, 0), ("4101", 0, 10, "stranger"))
    entry = ledger.post(COOP, "2026-04-01", ("1101", 10, 0), ("4101", 0, 10, "m1"))
    assert entry["kind"] == "manual" and entry["business_activity"] and entry["reversed_by"] is None
    reversed_ = ledger.ledger.reverse_journal_entry(COOP, entry["id"], {"command_id": "r-1"})
    assert reversed_["reversed_by"] == reversed_["reversal"]["id"]
    assert reversed_["reversal"]["reverses"] == entry["id"]
    assert ledger.ledger.reverse_journal_entry(COOP, entry["id"], {"command_id": "r-1"}) == reversed_
    refused("conflict", ledger.ledger.reverse_journal_entry, COOP, entry["id"], {"command_id": "r-2"})


def test_the_integration_path_posts_once_per_source(ledger):
    entry = {"date": "2026-04-02", "memo": "murabahah margin", "lines": [
        {"account": "1101", "debit": 1_500}, {"account": "4102", "credit": 1_500, "member_id": "m1"}]}
    source = {"service": "financing", "id": "evt-123"}
    first = ledger.ledger.post_entry(COOP, entry, source, {"command_id": "x1"})
    head = ledger.store.head()
    changed = {**entry, "memo": "a retry with another body"}
    assert ledger.ledger.post_entry(COOP, changed, source, {"command_id": "x2"}) == first
    assert ledger.store.head() == head
    assert first["kind"] == "integration" and first["source"] == source
    other = ledger.ledger.post_entry(COOP, entry, {"service": "networking", "id": "evt-123"})
    assert other["id"] != first["id"]
    refused("validation_error", ledger.ledger.post_entry, COOP, entry, {"service": "financing"})


def test_savings_answers_and_errors(ledger):
    savings = ledger.ledger.get_savings(COOP, "m1")
    assert {k: savings[k] for k in ("pokok", "wajib", "sukarela", "total", "pokok_paid")} == {
        "pokok": 100_000, "wajib": 0, "sukarela": 30_000, "total": 130_000, "pokok_paid": True}
    answer = ledger.deposit(COOP, "m1", "wajib", 25_000, "2026-04-01")
    assert answer["wajib"] == 25_000 and answer["entry_id"]
    refused("insufficient_balance", ledger.withdraw, COOP, "m1", 30_001, "2026-04-01")
    refused("validation_error", ledger.deposit, COOP, "m1", "lebaran", 1, "2026-04-01")
    refused("validation_error", ledger.deposit, COOP, "m1", "wajib", 0, "2026-04-01")
    refused("not_found", ledger.deposit, COOP, "stranger", "wajib", 1, "2026-04-01")


def test_an_exit_returns_the_savings_through_the_books(ledger):
    ledger.exit(COOP, "m1", "2026-05-01")
    savings = ledger.ledger.get_savings(COOP, "m1")
    assert savings["status"] == "closed" and savings["total"] == 0
    for account in ("3101", "3102", "2101"):
        assert ledger.balance(COOP, account) == 0
    assert ledger.balance(COOP, "1101") == 390_000 - 130_000
    statement = ledger.ledger.member_statement(COOP, "m1", "2026-05-01", "2026-05-31")
    assert {(m["kind"], m["movement"], m["amount"]) for m in statement["movements"]} == {
        ("pokok", "return", -100_000), ("sukarela", "return", -30_000)}
    refused("conflict", ledger.deposit, COOP, "m1", "sukarela", 1, "2026-05-02")
