"""Year-end close and SHU on a hand-computed example (in memory: the real use cases, no I/O).

Fiscal year 2025, RAT allocation reserve 25, jasa_modal 30, jasa_usaha 25, board/staff/
education/social 5 each.
  income: sales 700,000 (B 300,000 and C 100,000 by name, 300,000 from non-members),
          margin 301,001; expenses 1,000  →  SHU 1,000,001
  pools:  quotas 250,000.25 / 300,000.3 / 250,000.25 / 4 × 50,000.05: the floors add up to
          1,000,000 and the rupiah left goes to the largest fraction (jasa_modal, .3)
  jasa modal 300,001 by pokok + wajib at 31-12-2025: A 300,000, B 150,000 (joined on
          1 July 2025), C 100,000 (C's sukarela does not count) → 6:3:2 → quotas
          163,636 r10, 81,818 r5, 54,545 r7 (elevenths): 2 rupiah left go to A and C
  jasa usaha 250,000 by business: B 300,000, C 100,000 → 187,500 and 62,500
"""
from __future__ import annotations

from datetime import date

import pytest

from hypothesis import given
from hypothesis import strategies as st

from services.ledger.accounting import CURRENT_SHU, RESERVE, SHU_PAYABLE
from services.ledger.claims import exit_netting
from shared.aggregate import DomainError
from tests.support.ledger_memory import ALLOCATION, MemoryLedger, membership_event

COOP = "coop-shu"


@pytest.fixture
def ledger() -> MemoryLedger:
    ledger = MemoryLedger()
    ledger.register(COOP)
    ledger.admit(COOP, "A", "2020-01-01")
    ledger.admit(COOP, "C", "2024-05-01")
    ledger.deposit(COOP, "A", "pokok", 100_000, "2024-01-10")
    ledger.deposit(COOP, "A", "wajib", 200_000, "2025-06-10")
    ledger.deposit(COOP, "C", "pokok", 100_000, "2024-05-01")
    ledger.deposit(COOP, "C", "sukarela", 1_000_000, "2025-02-01")
    ledger.admit(COOP, "B", "2025-07-01")  # joins mid-year
    ledger.deposit(COOP, "B", "pokok", 100_000, "2025-07-01")
    ledger.deposit(COOP, "B", "wajib", 50_000, "2025-08-01")
    ledger.deposit(COOP, "A", "wajib", 25_000, "2026-01-10")  # after the year end: not counted
    ledger.post(COOP, "2025-08-15", ("1101", 300_000, 0), ("4101", 0, 300_000, "B"))
    ledger.post(COOP, "2025-09-15", ("1101", 100_000, 0), ("4101", 0, 100_000, "C"))
    ledger.post(COOP, "2025-10-15", ("1101", 300_000, 0), ("4101", 0, 300_000))
    ledger.post(COOP, "2025-11-15", ("1104", 301_001, 0), ("4102", 0, 301_001))
    ledger.post(COOP, "2025-12-15", ("5102", 1_000, 0), ("1101", 0, 1_000))
    wrong = ledger.post(COOP, "2025-12-20", ("1101", 9_999, 0), ("4101", 0, 9_999, "A"))
    ledger.ledger.reverse_journal_entry(COOP, wrong["id"], {"command_id": "undo-wrong-sale"})
    return ledger


EXPECTED_MEMBERS = [
    {"member_id": "A", "jasa_modal": 163_637, "jasa_usaha": 0, "total": 163_637, "paid": False},
    {"member_id": "B", "jasa_modal": 81_818, "jasa_usaha": 187_500, "total": 269_318, "paid": False},
    {"member_id": "C", "jasa_modal": 54_546, "jasa_usaha": 62_500, "total": 117_046, "paid": False},
]


def test_closing_needs_the_years_rat_resolution_and_an_ended_year(ledger):
    with pytest.raises(DomainError) as caught:
        ledger.close(COOP, 2025)
    assert caught.value.code == "rat_resolution_missing"
    ledger.rat(COOP, 2026)
    with pytest.raises(DomainError) as caught:
        ledger.close(COOP, 2026)
    assert caught.value.code == "fiscal_year_not_ended"


def test_the_hand_computed_shu(ledger):
    ledger.rat(COOP, 2025)
    result = ledger.close(COOP, 2025)
    assert result["shu"] == 1_000_001
    assert result["pools"] == {"reserve": 250_000, "jasa_modal": 300_001, "jasa_usaha": 250_000,
                               "board": 50_000, "staff": 50_000, "education": 50_000, "social": 50_000}
    assert result["members"] == EXPECTED_MEMBERS
    for pool in ("jasa_modal", "jasa_usaha"):
        assert sum(row[pool] for row in result["members"]) == result["pools"][pool]

    # results closed into SHU at the year end: the closed year's balance sheet shows SHU undivided
    assert ledger.balance(COOP, "4101", "2025-12-31") == 0
    assert ledger.balance(COOP, "5102", "2025-12-31") == 0
    assert ledger.balance(COOP, CURRENT_SHU, "2025-12-31") == 1_000_001
    assert ledger.balance(COOP, RESERVE, "2025-12-31") == 0
    assert ledger.trial_balance(COOP, "2025-12-31")["balanced"]
    # the distribution is booked on the RAT's date (2026-03-01), in the open year
    assert ledger.balance(COOP, CURRENT_SHU, "2026-03-01") == 0
    assert ledger.balance(COOP, RESERVE, "2026-03-01") == 250_000
    assert ledger.balance(COOP, SHU_PAYABLE, "2026-03-01") == 550_001
    assert ledger.balance(COOP, "2102", "2026-03-01") == 50_000
    assert ledger.trial_balance(COOP, "2026-03-01")["balanced"]

    assert ledger.ledger.get_shu(COOP, 2025) == result
    assert ledger.ledger.get_shu(COOP, 2025, member_id="B")["members"] == [EXPECTED_MEMBERS[1]]
    assert ledger.ledger.get_shu(COOP, 2025, member_id="nobody")["members"] == []
    books = ledger.books(COOP)
    assert books.closed_through == 2025 and books.closed_years["2025"]["shu"] == 1_000_001


def test_the_closed_year_is_locked_everywhere(ledger):
    ledger.rat(COOP, 2025)
    ledger.close(COOP, 2025)
    for attempt in (lambda: ledger.post(COOP, "2025-12-31", ("1101", 1, 0), ("4101", 0, 1)),
                    lambda: ledger.deposit(COOP, "A", "wajib", 1, "2025-12-31"),
                    lambda: ledger.withdraw(COOP, "C", 1, "2025-06-01")):
        with pytest.raises(DomainError) as caught:
            attempt()
        assert caught.value.code == "fiscal_year_closed"
    ledger.admit(COOP, "D", "2026-02-01")  # opened after the close: locked too
    with pytest.raises(DomainError) as caught:
        ledger.deposit(COOP, "D", "pokok", 100_000, "2025-12-01")
    assert caught.value.code == "fiscal_year_closed"
    ledger.deposit(COOP, "D", "pokok", 100_000, "2026-02-01")


def test_closing_twice_changes_nothing(ledger):
    ledger.rat(COOP, 2025)
    first = ledger.close(COOP, 2025)
    head = ledger.store.head()
    assert ledger.ledger.close_fiscal_year(COOP, 2025, {"command_id": "another-close"}) == first
    assert ledger.close(COOP, 2025) == first
    assert ledger.store.head() == head


def test_a_loss_year_distributes_nothing():
    ledger = MemoryLedger()
    ledger.register("coop-loss")
    ledger.admit("coop-loss", "A")
    ledger.deposit("coop-loss", "A", "pokok", 100_000, "2025-01-05")
    ledger.post("coop-loss", "2025-03-01", ("1101", 100, 0), ("4101", 0, 100, "A"))
    ledger.post("coop-loss", "2025-04-01", ("5102", 500, 0), ("1101", 0, 500))
    ledger.rat("coop-loss", 2025)
    result = ledger.close("coop-loss", 2025)
    assert result["shu"] == -400
    assert set(result["pools"].values()) == {0} and result["members"] == []
    # income and expenses are closed; no reserve: the loss is carried (a debit balance of 3104)
    assert ledger.balance("coop-loss", "4101", "2025-12-31") == 0
    assert ledger.balance("coop-loss", "5102", "2025-12-31") == 0
    assert ledger.balance("coop-loss", CURRENT_SHU, "2025-12-31") == -400
    assert ledger.balance("coop-loss", SHU_PAYABLE) == 0
    assert (result["loss_covered_by_reserve"], result["carried_loss"]) == (0, 400)
    sheet_totals = ledger.trial_balance("coop-loss")
    assert sheet_totals["balanced"]


def test_a_loss_is_covered_from_the_reserve_and_the_rest_by_later_profits_before_any_pool():
    coop = "coop-carry"
    ledger = MemoryLedger(today=date(2027, 6, 1))
    ledger.register(coop)
    ledger.admit(coop, "A")
    ledger.deposit(coop, "A", "pokok", 100_000, "2024-01-05")
    ledger.post(coop, "2024-02-01", ("1101", 1_000, 0), ("3103", 0, 1_000), memo="opening reserve")
    ledger.post(coop, "2024-03-01", ("5102", 1_500, 0), ("1101", 0, 1_500))
    ledger.rat(coop, 2024)
    loss = ledger.close(coop, 2024)
    assert (loss["shu"], loss["loss_covered_by_reserve"], loss["carried_loss"]) == (-1_500, 1_000, 500)
    assert loss["members"] == [] and set(loss["pools"].values()) == {0}
    assert ledger.balance(coop, RESERVE, "2024-12-31") == 0
    assert ledger.balance(coop, CURRENT_SHU, "2024-12-31") == -500
    ledger.post(coop, "2025-03-01", ("1101", 300, 0), ("4101", 0, 300, "A"))
    ledger.rat(coop, 2025)
    small = ledger.close(coop, 2025)  # 300 of profit all goes to the carried loss
    assert (small["carried_loss_covered"], small["carried_loss"], small["members"]) == (300, 200, [])
    ledger.post(coop, "2026-03-01", ("1101", 1_200, 0), ("4101", 0, 1_200, "A"))
    ledger.rat(coop, 2026)
    profit = ledger.close(coop, 2026)
    assert (profit["shu"], profit["carried_loss_covered"], profit["carried_loss"]) == (1_200, 200, 0)
    assert sum(profit["pools"].values()) == 1_000  # only what is left after the carried loss
    assert ledger.balance(coop, CURRENT_SHU, "2027-03-01") == 0
    assert ledger.trial_balance(coop)["balanced"]


def test_an_earlier_year_with_results_is_closed_first():
    ledger = MemoryLedger()
    ledger.register("coop-order")
    ledger.post("coop-order", "2024-03-01", ("1101", 100, 0), ("4101", 0, 100))
    ledger.rat("coop-order", 2025)
    with pytest.raises(DomainError) as caught:
        ledger.close("coop-order", 2025)
    assert caught.value.code == "earlier_fiscal_year_open"
    ledger.rat("coop-order", 2024)
    assert ledger.close("coop-order", 2024)["shu"] == 100
    assert ledger.close("coop-order", 2025)["shu"] == 0


# -- SHU payout and the exit settlement ------------------------------------------------------------
def test_shu_is_paid_once_to_sukarela_or_in_cash_and_an_exit_leaves_none_owed(ledger):
    ledger.rat(COOP, 2025)
    ledger.close(COOP, 2025)
    pay = ledger.ledger.pay_shu
    with pytest.raises(DomainError) as caught:
        pay(COOP, 2026, {"date": "2026-04-02", "to": "cash"}, {"command_id": "early"})
    assert caught.value.code == "fiscal_year_not_closed"
    with pytest.raises(DomainError) as caught:
        pay(COOP, 2025, {"date": "2026-02-01", "to": "cash"}, {"command_id": "before-rat"})
    assert caught.value.code == "validation_error"  # owed from the RAT's date (2026-03-01)
    ledger.exit(COOP, "C", "2026-04-01")  # C's SHU is paid on exit, in cash with the savings
    result = pay(COOP, 2025, {"date": "2026-04-02", "to": "sukarela"}, {"command_id": "payout"})
    assert all(row["paid"] for row in result["members"])
    assert ledger.ledger.get_savings(COOP, "A")["sukarela"] == 163_637
    assert ledger.ledger.get_savings(COOP, "B")["sukarela"] == 269_318
    assert ledger.balance(COOP, SHU_PAYABLE) == 0 and ledger.trial_balance(COOP)["balanced"]
    head = ledger.store.head()
    assert pay(COOP, 2025, {"date": "2026-04-03", "to": "cash"}, {"command_id": "again"}) == result
    assert ledger.store.head() == head  # paid once
    movements = ledger.ledger.member_statement(COOP, "A", "2026-01-01", "2026-06-01")["movements"]
    assert {"kind": "sukarela", "movement": "shu", "amount": 163_637} .items() <= movements[-1].items()


def test_an_exit_nets_the_members_receivables_and_financing_against_what_is_returned(ledger):
    ledger.post(COOP, "2026-02-01", ("1103", 50_000, 0, "A"), ("1101", 0, 50_000), memo="loan to A")
    ledger.ledger.post_entry(COOP, {"date": "2026-02-02", "lines": [  # as financing would post it
        {"account": "1104", "debit": 30_000, "credit": 0, "member_id": "A"},
        {"account": "1101", "debit": 0, "credit": 30_000}]}, {"service": "financing", "id": "c-1"})
    cash_before = ledger.balance(COOP, "1101")
    ledger.exit(COOP, "A", "2026-04-01")
    returned = 100_000 + 225_000  # pokok + wajib
    assert ledger.balance(COOP, "1103") == 0
    assert ledger.balance(COOP, "1104") == 301_001  # the non-member receivable stays
    assert cash_before - ledger.balance(COOP, "1101") == returned - 80_000
    assert ledger.trial_balance(COOP)["balanced"]
    exit_settled = [e for e in ledger.store.iterate_all() if e.event_type == "ledger.ExitSettled"]
    assert exit_settled[0].payload["receivables_netted"] == {"1103": 50_000, "1104": 30_000}


@given(receivable=st.integers(0, 10**6), financing=st.integers(0, 10**6), shu=st.integers(0, 10**6),
       returned=st.integers(0, 10**6))
def test_exit_netting_never_takes_more_than_is_owed_or_returned_and_balances(receivable, financing, shu,
                                                                            returned):
    netted, lines = exit_netting({"1103": receivable, "1104": financing}, shu, returned, "m")
    assert sum(netted.values()) == min(receivable + financing, returned + shu)
    assert netted.get("1103", 0) <= receivable and netted.get("1104", 0) <= financing
    assert sum(x["debit"] for x in lines) == sum(x["credit"] for x in lines)
    assert all(x["debit"] >= 0 and x["credit"] >= 0 and (x["debit"] > 0) != (x["credit"] > 0) for x in lines)


def test_a_corrected_rat_is_what_the_close_distributes_and_after_the_close_it_stands(ledger):
    ledger.rat(COOP, 2025)
    everything_to_reserve = {"reserve": 100, "jasa_modal": 0, "jasa_usaha": 0, "board": 0, "staff": 0,
                             "education": 0, "social": 0}
    ledger.deliver(membership_event("AnnualMeetingCorrected", cooperative_id=COOP, fiscal_year=2025,
                                    held_on="2026-03-05", attendees=10, admitted_members=10, quorum_percent=50,
                                    shu_allocation=everything_to_reserve))
    assert ledger.books(COOP).resolutions["2025"] == {"held_on": "2026-03-05",
                                                      "shu_allocation": everything_to_reserve}
    result = ledger.close(COOP, 2025)
    assert result["pools"]["reserve"] == 1_000_001 and result["members"] == []
    # distributed on the corrected RAT date
    assert ledger.balance(COOP, RESERVE, "2026-03-04") == 0
    assert ledger.balance(COOP, RESERVE, "2026-03-05") == 1_000_001
    # a correction arriving after the close is not applied (membership refuses it first: 422)
    ledger.deliver(membership_event("AnnualMeetingCorrected", cooperative_id=COOP, fiscal_year=2025,
                                    held_on="2026-03-09", attendees=10, admitted_members=10, quorum_percent=50,
                                    shu_allocation=ALLOCATION))
    assert ledger.books(COOP).resolutions["2025"]["held_on"] == "2026-03-05"
    with pytest.raises(DomainError) as caught:
        ledger.books(COOP).correct_resolution(2025, "2026-03-09", ALLOCATION)
    assert caught.value.code == "fiscal_year_closed"
