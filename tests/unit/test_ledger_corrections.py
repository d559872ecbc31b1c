"""Issue 15's ledger rules over the in-memory store: savings reversals, dates (not after today, not
before admission), dissolution, the journal with vouchers and actors, the trial balance for a
period, the income statement's member business, and accounts opened on demand."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ledger.domain import SavingsAccount
from shared.envelope import new_id
from tests.support.ledger_memory import MemoryLedger, membership_event
from tests.unit.test_ledger_use_cases import COOP, refused

BOARD = {"role": "coop_admin", "subject": COOP}


def ctx(**more) -> dict:
    return {"command_id": new_id(), "actor": BOARD, **more}


@pytest.fixture
def ledger() -> MemoryLedger:
    ledger = MemoryLedger(today=date(2026, 6, 1))
    ledger.register(COOP)
    ledger.admit(COOP, "m1", on="2026-01-05")
    return ledger


def savings(ledger: MemoryLedger, member: str = "m1") -> dict:
    return ledger.ledger.get_savings(COOP, member)


# -- reversals of savings movements -------------------------------------------------------------
def test_a_mistyped_wajib_deposit_is_reversed_and_the_balance_follows(ledger):
    entry = ledger.deposit(COOP, "m1", "wajib", 250_000, "2026-02-01")["entry_id"]
    answer = ledger.ledger.reverse_journal_entry(COOP, entry, ctx())
    assert answer["reversed_by"] == answer["reversal"]["id"] and answer["reversal"]["kind"] == "reversal"
    assert savings(ledger)["wajib"] == 0
    assert ledger.balance(COOP, "3102") == 0 and ledger.balance(COOP, "1101") == 0
    assert ledger.trial_balance(COOP)["balanced"]
    refused("conflict", ledger.ledger.reverse_journal_entry, COOP, entry, ctx())
    refused("conflict", ledger.ledger.reverse_journal_entry, COOP, answer["reversal"]["id"], ctx())
    statement = ledger.ledger.member_statement(COOP, "m1", "2026-01-01", "2026-06-01")
    assert [m["movement"] for m in statement["movements"]] == ["deposit", "reversal"]
    assert statement["closing"]["wajib"] == 0


def test_a_reversed_pokok_can_be_paid_again_and_a_withdrawal_reversal_restores_sukarela(ledger):
    pokok = ledger.deposit(COOP, "m1", "pokok", 100_000, "2026-01-05")["entry_id"]
    ledger.ledger.reverse_journal_entry(COOP, pokok, ctx())
    assert not savings(ledger)["pokok_paid"]
    ledger.deposit(COOP, "m1", "pokok", 100_000, "2026-01-06")
    ledger.deposit(COOP, "m1", "sukarela", 50_000, "2026-01-06")
    withdrawal = ledger.withdraw(COOP, "m1", 30_000, "2026-02-01")["entry_id"]
    ledger.ledger.reverse_journal_entry(COOP, withdrawal, ctx())
    assert savings(ledger)["sukarela"] == 50_000 and ledger.balance(COOP, "2101") == 50_000


def test_a_sukarela_reversal_below_zero_is_refused_and_changes_nothing(ledger):
    deposit = ledger.deposit(COOP, "m1", "sukarela", 50_000, "2026-01-06")["entry_id"]
    ledger.withdraw(COOP, "m1", 40_000, "2026-03-01")
    head = ledger.store.head()
    refused("insufficient_balance", ledger.ledger.reverse_journal_entry, COOP, deposit, ctx())
    assert ledger.store.head() == head and savings(ledger)["sukarela"] == 10_000


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["deposit", "withdraw", "reverse"]), st.integers(1, 5),
                          st.integers(1, 28)), max_size=10))
def test_sukarela_never_goes_below_zero_and_the_books_agree(steps):
    ledger = MemoryLedger(today=date(2026, 6, 1))
    ledger.register(COOP)
    ledger.admit(COOP, "m1", on="2026-01-01")
    entries: list[str] = []
    for action, amount, day in steps:
        on = f"2026-02-{day:02d}"
        try:
            if action == "deposit":
                entries.append(ledger.deposit(COOP, "m1", "sukarela", amount * 1000, on)["entry_id"])
            elif action == "withdraw":
                entries.append(ledger.withdraw(COOP, "m1", amount * 1000, on)["entry_id"])
            elif entries:
                ledger.ledger.reverse_journal_entry(COOP, entries[amount % len(entries)], ctx())
        except Exception as error:  # noqa: BLE001 - only the rules' refusals are expected
            assert getattr(error, "code", None) in ("insufficient_balance", "conflict"), error
    account = ledger.app.load(SavingsAccount, f"{COOP}:m1", fresh=True)
    by_day: dict[str, int] = {}
    for moved_on, _kind, delta in account.movements:
        by_day[moved_on] = by_day.get(moved_on, 0) + delta
    running = 0
    for day in sorted(by_day):  # the balance at the end of every day
        running += by_day[day]
        assert running >= 0, (steps, account.movements)
    assert savings(ledger)["sukarela"] == ledger.balance(COOP, "2101") >= 0


# -- dates ---------------------------------------------------------------------------------------
def test_nothing_is_dated_after_today_nor_savings_before_the_admission(ledger):
    refused("validation_error", ledger.post, COOP, "2026-06-02", ("1101", 1, 0), ("4104", 0, 1))
    refused("validation_error", ledger.deposit, COOP, "m1", "wajib", 25_000, "2026-06-02")
    error = refused("validation_error", ledger.deposit, COOP, "m1", "wajib", 25_000, "2026-01-04")
    assert "admission" in error.message
    ledger.deposit(COOP, "m1", "wajib", 25_000, "2026-06-01")  # today is fine


# -- dissolution ----------------------------------------------------------------------------------
def test_a_dissolved_cooperatives_books_take_no_entries_but_stay_readable(ledger):
    entry = ledger.post(COOP, "2026-02-01", ("1101", 10, 0), ("4104", 0, 10))
    ledger.deliver(membership_event("CooperativeDissolved", cooperative_id=COOP, dissolved_on="2026-05-01"))
    refused("cooperative_dissolved", ledger.post, COOP, "2026-05-02", ("1101", 1, 0), ("4104", 0, 1))
    refused("cooperative_dissolved", ledger.deposit, COOP, "m1", "sukarela", 1000, "2026-05-02")
    refused("cooperative_dissolved", ledger.ledger.reverse_journal_entry, COOP, entry["id"], ctx())
    assert ledger.ledger.report(COOP, "trial-balance")["balanced"]


# -- the journal -----------------------------------------------------------------------------------
def test_the_journal_numbers_vouchers_per_year_and_says_who_posted(ledger):
    ledger.ledger.post_journal_entry(COOP, {"date": "2026-03-01", "memo": "sale", "lines": [
        {"account": "1101", "debit": 500, "credit": 0}, {"account": "4101", "debit": 0, "credit": 500,
                                                         "member_id": "m1"}]}, ctx())
    ledger.ledger.deposit(COOP, "m1", "sukarela", {"amount": 700, "date": "2026-02-01"},
                          ctx(actor={"role": "member", "subject": "m1"}))
    ledger.post(COOP, "2025-12-31", ("5102", 9, 0), ("1101", 0, 9))
    journal = ledger.ledger.list_journal(COOP, {})
    assert [(e["date"], e["voucher"]) for e in journal["items"]] == [
        ("2025-12-31", "2025/000001"), ("2026-02-01", "2026/000002"), ("2026-03-01", "2026/000001")]
    actors = {e["date"]: e["actor"] for e in journal["items"]}
    assert actors["2026-03-01"] == BOARD and actors["2026-02-01"] == {"role": "member", "subject": "m1"}
    assert actors["2025-12-31"] is None  # posted without an actor in its context
    assert [e["date"] for e in ledger.ledger.list_journal(COOP, {"member_id": "m1"})["items"]] == [
        "2026-02-01", "2026-03-01"]
    assert [e["date"] for e in ledger.ledger.list_journal(COOP, {"account": "5102"})["items"]] == [
        "2025-12-31"]
    assert [e["date"] for e in ledger.ledger.list_journal(COOP, {"from": "2026-01-01", "to": "2026-02-28"}
                                                          )["items"]] == ["2026-02-01"]
    first = ledger.ledger.list_journal(COOP, {"limit": 2})
    rest = ledger.ledger.list_journal(COOP, {"limit": 2, "cursor": first["next"]})
    assert [e["id"] for e in first["items"] + rest["items"]] == [e["id"] for e in journal["items"]]
    assert rest["next"] is None
    refused("validation_error", ledger.ledger.list_journal, COOP, {"cursor": "x"})


def test_policy_events_record_the_event_that_caused_them(ledger):
    event = membership_event("MemberAdmitted", cooperative_id=COOP, member_id="m2", admitted_on="2026-01-05",
                             pokok_amount=100_000, wajib_amount=25_000)
    ledger.deliver(event)
    opened = [e for e in ledger.store.iterate_all() if e.event_type == "ledger.SavingsAccountOpened"
              and e.payload["member_id"] == "m2"]
    assert opened[0].payload["actor"] == {"service": "membership", "event": "membership.MemberAdmitted",
                                          "event_id": event.event_id}


# -- reports ---------------------------------------------------------------------------------------
def test_a_trial_balance_for_a_period_shows_opening_movements_and_closing(ledger):
    ledger.post(COOP, "2026-01-10", ("1101", 1000, 0), ("4104", 0, 1000))
    ledger.post(COOP, "2026-03-10", ("1101", 300, 0), ("4104", 0, 300))
    ledger.post(COOP, "2026-03-20", ("5102", 100, 0), ("1101", 0, 100))
    report = ledger.ledger.report(COOP, "trial-balance", from_="2026-03-01", to="2026-03-31")
    cash = next(row for row in report["accounts"] if row["code"] == "1101")
    assert (cash["opening"], cash["debit"], cash["credit"], cash["closing"]) == (1000, 300, 100, 1200)
    assert report["balanced"]
    as_of = next(r for r in ledger.ledger.report(COOP, "trial-balance")["accounts"] if r["code"] == "1101")
    assert (as_of["opening"], as_of["closing"]) == (0, 1200)


def test_the_income_statement_separates_member_business(ledger):
    ledger.post(COOP, "2026-02-10", ("1101", 300, 0), ("4101", 0, 300, "m1"))
    ledger.post(COOP, "2026-02-11", ("1101", 200, 0), ("4101", 0, 200))
    statement = ledger.ledger.report(COOP, "income-statement", from_="2026-01-01", to="2026-06-01")
    sales = next(row for row in statement["income"] if row["code"] == "4101")
    assert (sales["member"], sales["non_member"]) == (300, 200)
    assert (statement["member_income"], statement["non_member_income"], statement["total_income"]) == (
        300, 200, 500)


# -- read your own writes ---------------------------------------------------------------------------
def test_a_deposit_right_after_the_admission_opens_the_account_on_demand():
    ledger = MemoryLedger(today=date(2026, 6, 1))
    ledger.register(COOP)
    asked = []

    def admission(coop: str, member: str) -> dict | None:
        asked.append(member)
        return {"status": "admitted", "admitted_on": "2026-05-01", "pokok_amount": 100_000,
                "wajib_amount": 25_000} if member == "m1" else None

    ledger.ledger.admission = admission
    answer = ledger.ledger.deposit(COOP, "m1", "pokok", {"amount": 100_000, "date": "2026-05-02"}, ctx())
    assert answer["pokok"] == 100_000 and answer["pokok_paid"]
    refused("not_found", ledger.deposit, COOP, "ghost", "sukarela", 1, "2026-05-02")
    ledger.admit(COOP, "m1", on="2026-05-01")  # the event arrives later: nothing changes twice
    assert savings(ledger)["pokok"] == 100_000 and asked == ["m1", "ghost"]


# -- the chart -------------------------------------------------------------------------------------
def test_accounts_are_renamed_deactivated_and_removed_only_without_movements(ledger):
    ledger.ledger.add_account(COOP, {"code": "1190", "name": "Piutang ijarah", "type": "asset"}, ctx())
    ledger.ledger.add_account(COOP, {"code": "1191", "name": "Unused", "type": "asset"}, ctx())
    ledger.post(COOP, "2026-02-01", ("1190", 10, 0), ("1101", 0, 10))
    changed = ledger.ledger.change_account(COOP, "1190", {"name": "Piutang sewa", "active": False}, ctx())
    assert (changed["name"], changed["active"], changed["balance"]) == ("Piutang sewa", False, 10)
    error = refused("validation_error", ledger.post, COOP, "2026-02-02", ("1190", 1, 0), ("1101", 0, 1))
    assert "deactivated" in str(error.fields)
    refused("account_has_movements", ledger.ledger.remove_account, COOP, "1190", ctx())
    refused("account_in_use", ledger.ledger.change_account, COOP, "3101", {"active": False}, ctx())
    refused("account_has_movements", ledger.ledger.remove_account, COOP, "2101", ctx())
    ledger.ledger.change_account(COOP, "1190", {"active": True}, ctx())
    ledger.post(COOP, "2026-02-02", ("1190", 1, 0), ("1101", 0, 1))
    assert ledger.ledger.remove_account(COOP, "1191", ctx())["code"] == "1191"
    assert "1191" not in {a["code"] for a in ledger.ledger.list_accounts(COOP)}
    refused("not_found", ledger.ledger.change_account, COOP, "1191", {"name": "x"}, ctx())
