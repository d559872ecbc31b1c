"""The ledger's aggregates alone: given events → command → expected events."""
from __future__ import annotations

from datetime import date

import pytest

from services.ledger.accounting import DEFAULT_CHART
from services.ledger.domain import Books, SavingsAccount
from shared.aggregate import DomainError, DomainEvent

TODAY = date(2026, 6, 1)


def books(*events: DomainEvent) -> Books:
    aggregate = Books("coop-1")
    aggregate.open("coop-1", "Koperasi Maju", "2020-01-01")
    aggregate.replay(list(events))
    aggregate.mark_saved()
    return aggregate


def savings(locked_through: int = 0) -> SavingsAccount:
    account = SavingsAccount("coop-1:m1")
    account.open("coop-1", "2020-01-01", 100_000, 25_000, locked_through)
    account.mark_saved()
    return account


def refused(code: str, command, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        command(*args, **kwargs)
    assert caught.value.code == code, caught.value.args
    return caught.value


def test_books_open_with_the_default_chart_and_only_once():
    aggregate = Books("coop-1")
    aggregate.open("coop-1", "Koperasi Maju", "2020-01-01")
    aggregate.open("coop-1", "Koperasi Maju", "2020-01-01")
    assert [e.name for e in aggregate.pending_events] == ["BooksOpened"]
    assert {code: (a["name"], a["type"]) for code, a in aggregate.chart.items()} == {
        code: (name, kind) for code, name, kind in DEFAULT_CHART}
    assert aggregate.chart["2101"] == {"name": "Simpanan sukarela", "type": "liability"}
    assert aggregate.chart["3101"]["type"] == aggregate.chart["3102"]["type"] == "equity"
    assert aggregate.chart["2102"] == {"name": "Dana sosial (kebajikan)", "type": "liability"}


def test_an_added_account_needs_a_new_code_and_a_known_type():
    aggregate = books()
    aggregate.add_account("1106", "Piutang ijarah", "asset")
    assert aggregate.pending_events[-1] == DomainEvent("AccountAdded", {
        "cooperative_id": "coop-1", "code": "1106", "name": "Piutang ijarah", "type": "asset"})
    refused("conflict", aggregate.add_account, "1101", "Kas kecil", "asset")
    refused("validation_error", aggregate.add_account, "1107", "x", "liabilities")


def test_an_entry_posts_balanced_lines_and_marks_business():
    aggregate = books(DomainEvent("MemberEnrolled", {"cooperative_id": "coop-1", "member_id": "m1"}))
    payload = aggregate.post("e1", "2026-02-03", "sale", [
        {"account": "1101", "debit": 500}, {"account": "4101", "credit": 500, "member_id": "m1"}], TODAY)
    assert payload["business_activity"] is True
    assert payload["member_business"] == [{"member_id": "m1", "amount": 500}]
    assert aggregate.business == {"2026": {"m1": 500}}
    assert aggregate.results == {"2026": {"4101": 500}}
    transfer = aggregate.post("e2", "2026-02-03", "to bank", [
        {"account": "1102", "debit": 100}, {"account": "1101", "credit": 100}], TODAY)
    assert transfer["business_activity"] is False


def test_entries_must_fall_in_an_open_fiscal_year_that_has_begun():
    aggregate = books(DomainEvent("FiscalYearClosed", {
        "cooperative_id": "coop-1", "fiscal_year": 2024, "date": "2025-03-01", "shu": 0, "pools": {},
        "members": [], "entry_ids": []}))
    lines = [{"account": "1101", "debit": 1}, {"account": "4101", "credit": 1}]
    refused("fiscal_year_closed", aggregate.post, "e1", "2024-12-31", "", lines, TODAY)
    refused("fiscal_year_closed", aggregate.post, "e1", "2019-01-01", "", lines, TODAY)
    refused("validation_error", aggregate.post, "e1", "2027-01-01", "", lines, TODAY)
    aggregate.post("e1", "2025-01-01", "backdated into an open year", lines, TODAY)


def test_savings_accounts_move_only_with_savings():
    aggregate = books()
    refused("validation_error", aggregate.post, "e1", "2026-01-01", "", [
        {"account": "1101", "debit": 1}, {"account": "2101", "credit": 1}], TODAY)


def test_a_reversal_mirrors_the_entry_once():
    aggregate = books()
    aggregate.post("e1", "2026-02-03", "sale", [{"account": "1101", "debit": 500},
                                                {"account": "4101", "credit": 500}], TODAY)
    reversal = aggregate.reverse("e1", "r1")
    assert reversal["date"] == "2026-02-03" and reversal["reverses"] == "e1"
    assert [(x["account"], x["debit"], x["credit"]) for x in reversal["lines"]] == [("1101", 0, 500),
                                                                                  ("4101", 500, 0)]
    assert reversal["business_activity"] is False
    assert aggregate.results == {"2026": {"4101": 0}}
    refused("conflict", aggregate.reverse, "e1", "r2")
    refused("conflict", aggregate.reverse, "r1", "r3")
    refused("not_found", aggregate.reverse, "nope", "r4")


def test_each_savings_movement_is_committed_with_its_journal_entry():
    account = savings()
    account.deposit("sukarela", 700, "2026-01-05", TODAY, "e1")
    deposited, entry = account.pending_events
    assert deposited.name == "SavingsDeposited" and entry.name == "JournalEntryPosted"
    assert [(x["account"], x["debit"], x["credit"]) for x in entry.data["lines"]] == [("1101", 700, 0),
                                                                                    ("2101", 0, 700)]
    assert entry.data["kind"] == "savings" and entry.data["business_activity"] is False


def test_pokok_is_paid_once_at_the_bylaws_amount():
    account = savings()
    refused("validation_error", account.deposit, "pokok", 99_999, "2026-01-05", TODAY, "e1")
    account.deposit("pokok", 100_000, "2026-01-05", TODAY, "e1")
    refused("conflict", account.deposit, "pokok", 100_000, "2026-01-06", TODAY, "e2")
    refused("validation_error", account.deposit, "hari_raya", 1, "2026-01-06", TODAY, "e3")


def test_a_withdrawal_never_takes_sukarela_below_zero_on_any_later_date():
    account = savings()
    account.deposit("sukarela", 1000, "2026-01-10", TODAY, "e1")
    account.withdraw(600, "2026-03-01", TODAY, "e2")
    refused("insufficient_balance", account.withdraw, 401, "2026-03-02", TODAY, "e3")
    # a backdated withdrawal may not leave March's withdrawal uncovered
    refused("insufficient_balance", account.withdraw, 401, "2026-02-01", TODAY, "e4")
    refused("insufficient_balance", account.withdraw, 1, "2026-01-09", TODAY, "e5")
    account.withdraw(400, "2026-02-01", TODAY, "e6")
    assert account.balances["sukarela"] == 0 and account.available("2026-01-10") == 0


def test_an_exit_returns_everything_and_closes_the_account():
    account = savings()
    account.deposit("pokok", 100_000, "2026-01-05", TODAY, "e1")
    account.deposit("wajib", 25_000, "2026-02-05", TODAY, "e2")
    account.mark_saved()
    account.settle("2026-03-01", "e3")
    settled, entry = account.pending_events
    assert settled.data["returned"] == {"pokok": 100_000, "wajib": 25_000, "sukarela": 0}
    assert [(x["account"], x["debit"], x["credit"]) for x in entry.data["lines"]] == [
        ("3101", 100_000, 0), ("3102", 25_000, 0), ("1101", 0, 125_000)]
    assert account.to_dict()["total"] == 0 and account.status == "closed"
    refused("conflict", account.deposit, "wajib", 1, "2026-03-02", TODAY, "e4")


def test_a_locked_account_refuses_movements_dated_in_the_locked_years():
    account = savings()
    account.lock_through("coop-1", 2025)
    account.lock_through("coop-1", 2024)
    assert [e.name for e in account.pending_events] == ["SavingsYearLocked"]
    refused("fiscal_year_closed", account.deposit, "wajib", 25_000, "2025-12-31", TODAY, "e1")
    account.deposit("wajib", 25_000, "2026-01-01", TODAY, "e1")


def test_replaying_the_events_gives_the_same_state():
    account = savings()
    account.deposit("sukarela", 1000, "2026-01-10", TODAY, "e1")
    account.withdraw(300, "2026-01-11", TODAY, "e2")
    opened = SavingsAccount("coop-1:m1")
    opened.open("coop-1", "2020-01-01", 100_000, 25_000, 0)
    opened.replay(account.pending_events)
    assert opened.snapshot_state() == account.snapshot_state()


GROWN = {"2107", "2108", "4105", "5103", "5104", "5105"}  # added to the default chart by financing


def test_books_opened_before_the_chart_grew_have_every_default_account():
    old_chart = [{"code": code, "name": name, "type": kind} for code, name, kind in DEFAULT_CHART
                 if code not in GROWN]
    opened = DomainEvent("BooksOpened", {"cooperative_id": "coop-1", "name": "Koperasi Lama",
                                         "opened_on": "2019-01-01", "accounts": old_chart})
    renamed = DomainEvent("AccountRenamed", {"cooperative_id": "coop-1", "code": "1101", "name": "Kas besar"})
    aggregate = Books("coop-1")
    aggregate.replay([opened, renamed])
    assert set(aggregate.chart) == {code for code, _, _ in DEFAULT_CHART}
    assert aggregate.chart["2108"]["type"] == "liability" and aggregate.chart["1101"]["name"] == "Kas besar"
    aggregate.mark_saved()
    aggregate.post("e1", "2026-02-03", "partner funds", [
        {"account": "1101", "debit": 700}, {"account": "2108", "credit": 700}], TODAY)
    # a default account removed stays removed, also when the books come back from a snapshot
    aggregate.remove_account("5105")
    restored = Books.from_snapshot(aggregate.snapshot_state())
    assert "5105" not in restored.chart and "2108" in restored.chart
    # a snapshot taken before the default chart grew (and before `defaults` existed) is replayed
    old_state = {k: v for k, v in aggregate.snapshot_state().items() if k != "defaults"}
    assert Books.from_snapshot(old_state).version == 0
