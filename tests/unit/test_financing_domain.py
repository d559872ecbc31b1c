"""Financing contracts without I/O: hand-computed schedules, each product's rules and books, the
lifecycle, payments, ta'zir, restructure, kafalah and write-off."""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.financing.domain import Contract, Partner
from services.financing.products import due_date, equal_parts
from services.financing.schemas import registry
from shared.aggregate import DomainError

TODAY = date(2026, 12, 1)
MURABAHAH = {"cost": 10_000_000, "margin": 2_000_000, "tenor_months": 12, "first_due_on": "2026-01-31",
             "late_fee": 50_000}


def partner(kind: str, pid: str = "p1") -> Partner:
    p = Partner(pid)
    p.register(f"Mitra {kind}", kind)
    return p


def contract(product: str = "murabahah", terms: dict | None = None, *, partner_: Partner | None = None,
             guarantee: dict | None = None, guarantor: Partner | None = None, share: int = 0,
             disburse: bool = True) -> Contract:
    c = Contract("c1")
    c.apply_for("coop", "m1", product, terms or MURABAHAH, "2026-01-02", TODAY, partner_, guarantee, guarantor,
                share)
    if disburse:
        c.approve("2026-01-03", TODAY)
        c.sign("2026-01-03", TODAY)
        c.disburse("2026-01-04", TODAY)
    return c


def events(c: Contract, name: str) -> list[dict[str, Any]]:
    return [e.data for e in c.pending_events if e.name == name]


def lines(entry: dict[str, Any]) -> dict[tuple[str, str | None], int]:
    """account (and member) -> debit − credit."""
    assert sum(x["debit"] for x in entry["lines"]) == sum(x["credit"] for x in entry["lines"])
    return {(x["account"], x["member_id"]): x["debit"] - x["credit"] for x in entry["lines"]}


def refused(code: str, command, *args) -> DomainError:
    with pytest.raises(DomainError) as caught:
        command(*args)
    assert caught.value.code == code, caught.value.args
    return caught.value


def test_every_event_matches_its_registered_schema():
    c = contract(guarantee={"partner_id": "j1", "coverage_percent": 50, "fee": 1}, guarantor=partner("jamkrida"))
    c.mark_overdue("2026-03-05")
    c.waive_late_fee("2026-01-31", "2026-03-05", TODAY)
    c.pay("p1", 2_050_000, "2026-03-05", TODAY)
    c.restructure(5, "2026-04-30", "2026-03-10", TODAY)
    c.mark_overdue("2026-05-01")
    c.claim_guarantee("2026-05-02", TODAY)
    c.write_off("2026-05-03", TODAY)
    mudharabah = contract("mudharabah", {"capital": 600, "nisbah_member_percent": 50, "tenor_months": 1,
                                         "first_due_on": "2026-02-01"})
    mudharabah.report_profit("2026-01-31", 100, False, TODAY)
    mudharabah.pay("p1", 650, "2026-02-01", TODAY)
    rejected = contract(disburse=False)
    rejected.reject("2026-01-05", "no", TODAY)
    names = set()
    for event in [*c.pending_events, *mudharabah.pending_events, *rejected.pending_events]:
        registry.validate(registry.event_type(event.name), event.data)
        names.add(event.name)
    assert len(names) == 14  # every contract event but OwnershipTransferred (the ijarah test)


# -- schedules ------------------------------------------------------------------------------------
def test_the_issues_schedules_to_the_rupiah():
    c = contract()
    assert [i["amount"] for i in c.schedule] == [1_000_000] * 12
    assert equal_parts(10_000_001, 3) == [3_333_333, 3_333_333, 3_333_335]
    odd = contract(terms={**MURABAHAH, "cost": 10_000_001, "margin": 0, "tenor_months": 3})
    assert [i["amount"] for i in odd.schedule] == [3_333_333, 3_333_333, 3_333_335]


def test_due_dates_keep_the_day_and_are_clamped_to_the_months_end():
    c = contract()
    assert [i["due_on"] for i in c.schedule[:4]] == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    assert due_date("2027-12-29", 2) == "2028-02-29"
    assert due_date("2026-11-15", 3) == "2027-02-15"


# -- terms and parties ------------------------------------------------------------------------------
@pytest.mark.parametrize("product, terms, field", [
    ("murabahah", {**MURABAHAH, "cost": 0}, "cost"),
    ("murabahah", {**MURABAHAH, "tenor_months": 0}, "tenor_months"),
    ("murabahah", {**MURABAHAH, "first_due_on": "2026-01-01"}, "first_due_on"),
    ("murabahah", {k: v for k, v in MURABAHAH.items() if k != "late_fee"}, "late_fee"),
    ("murabahah", {**MURABAHAH, "interest": 5}, "interest"),
    ("mudharabah", {"capital": 5_000_000, "nisbah_member_percent": 101, "tenor_months": 5,
                    "first_due_on": "2026-02-01"}, "nisbah_member_percent"),
    ("musyarakah", {"coop_capital": 5_000_000, "member_capital": -1, "nisbah_member_percent": 60,
                    "diminishing": True, "tenor_months": 5, "first_due_on": "2026-02-01"}, "member_capital"),
    ("ijarah", {"asset_cost": 3_000_000, "rent_per_month": 300_000, "tenor_months": 12,
                "first_due_on": "2026-02-01", "transfer_at_end": "yes"}, "transfer_at_end"),
    ("qardh", {"principal": 1_000_000, "admin_fee": 1_000_000, "tenor_months": 4,
               "first_due_on": "2026-02-01"}, "admin_fee"),
    ("rahn", {"principal": 2_000_000, "collateral": {"description": "emas 5 g", "appraised_value": 1_500_000},
              "storage_fee_per_month": 10_000, "tenor_months": 4, "first_due_on": "2026-02-01"}, "principal"),
])
def test_terms_are_checked_per_product_and_name_the_field(product, terms, field):
    error = refused("validation_error", Contract("x").apply_for, "coop", "m1", product, terms, "2026-01-02",
                    TODAY, None, None, None, 0)
    assert field in error.fields["terms"]


def test_an_unknown_product_and_partners_that_cannot_fund_or_guarantee_are_refused():
    apply = Contract("x").apply_for
    assert "product" in refused("validation_error", apply, "coop", "m1", "riba", {}, "2026-01-02", TODAY,
                                None, None, None, 0).fields
    assert "partner_id" in refused("validation_error", apply, "coop", "m1", "murabahah", MURABAHAH, "2026-01-02",
                                   TODAY, partner("jamkrida"), None, None, 0).fields
    guarantee = {"partner_id": "b1", "coverage_percent": 70, "fee": 100_000}
    assert "guarantee" in refused("validation_error", apply, "coop", "m1", "murabahah", MURABAHAH, "2026-01-02",
                                  TODAY, None, guarantee, partner("bank_syariah", "b1"), 0).fields
    refused("validation_error", Partner("z").register, "Mitra", "koperasi")


# -- lifecycle ------------------------------------------------------------------------------------
def test_illegal_steps_are_refused_and_a_rejected_contract_goes_nowhere():
    c = contract(disburse=False)
    refused("illegal_transition", c.disburse, "2026-01-04", TODAY)
    refused("illegal_transition", c.pay, "x", 1, "2026-01-04", TODAY)
    c.reject("2026-01-03", "no collateral", TODAY)
    assert c.status == "rejected"
    for command in (c.approve, c.sign):
        refused("illegal_transition", command, "2026-01-05", TODAY)
    refused("not_found", Contract("none").approve, "2026-01-05", TODAY)
    refused("validation_error", contract(disburse=False).approve, "2027-01-01", TODAY)  # after today


def test_a_settled_contract_takes_no_payment():
    c = contract(terms={**MURABAHAH, "tenor_months": 1})
    c.pay("p1", 12_000_000, "2026-01-20", TODAY)
    assert c.status == "settled" and c.outstanding == 0
    refused("illegal_transition", c.pay, "p2", 1, "2026-01-21", TODAY)


# -- murabahah: margin and payments ----------------------------------------------------------------
def test_murabahah_books_defer_the_margin_and_recognise_it_with_repayment_to_the_rupiah():
    c = contract(terms={**MURABAHAH, "cost": 10_000_001, "margin": 1_000_000, "tenor_months": 3})
    [disbursed] = events(c, "ContractDisbursed")
    assert lines(disbursed["entry"]) == {("1104", "m1"): 11_000_001, ("1101", None): -10_000_001,
                                         ("2107", None): -1_000_000}
    recognised = []
    for n, amount in enumerate([3_666_667, 3_666_667, 3_666_667]):
        c.pay(f"p{n}", amount, f"2026-0{n + 1}-2{n}", TODAY)
        entry = events(c, "PaymentReceived")[-1]["entry"]
        recognised.append(-lines(entry)[("4102", "m1")])
    assert sum(recognised) == 1_000_000 == c.margin_recognised and c.status == "settled"


def test_a_payment_goes_to_late_fees_then_instalments_and_over_payment_is_refused():
    c = contract()
    c.pay("p1", 1_000_000, "2026-01-31", TODAY)              # on the due date: not late
    assert c.late_fees == []
    error = refused("overpayment", c.pay, "p2", 11_000_001, "2026-02-10", TODAY)
    assert error.fields == {"amount": ["at most 11000000"]}
    c.pay("p2", 600_000, "2026-03-05", TODAY)                  # February's instalment is late
    paid = events(c, "PaymentReceived")[-1]
    assert paid["late_fees"] == [{"due_on": "2026-02-28", "amount": 50_000}]
    assert paid["instalments"] == [{"due_on": "2026-02-28", "amount": 550_000, "fee": 0}]
    assert lines(paid["entry"])[("2102", None)] == -50_000  # ta'zir to the social fund, never income
    assert c.status == "late" and c.schedule[1]["status"] == "late"
    c.mark_overdue("2026-03-06")
    c.pay("p3", 450_000, "2026-03-07", TODAY)
    assert len(c.late_fees) == 1 and c.status == "current"  # one fee per late instalment, ever


def test_the_sweep_charges_once_per_instalment_and_a_waived_fee_is_not_owed():
    c = contract()
    c.mark_overdue("2026-03-01")
    c.mark_overdue("2026-03-02")
    assert [f["due_on"] for f in c.late_fees] == ["2026-01-31", "2026-02-28"] and c.status == "late"
    c.waive_late_fee("2026-01-31", "2026-03-02", TODAY)
    refused("illegal_transition", c.waive_late_fee, "2026-01-31", "2026-03-02", TODAY)
    refused("not_found", c.waive_late_fee, "2026-03-31", "2026-03-02", TODAY)
    assert c.owed() == 50_000 + 12_000_000


def test_restructure_re_spreads_the_outstanding_without_changing_the_price():
    c = contract()
    c.pay("p1", 2_500_000, "2026-02-20", TODAY)
    c.restructure(4, "2026-04-15", "2026-03-01", TODAY)
    amounts = [i["amount"] for i in c.schedule]
    assert sum(amounts) == 12_000_000 and c.paid + c.outstanding == 12_000_000
    # January was late on 20 February: its 50,000 fee came first, 2,450,000 went to instalments
    assert [i["amount"] for i in c.schedule if i["status"] == "due"] == [2_387_500] * 4
    refused("validation_error", c.restructure, 3, "2026-03-01", "2026-03-01", TODAY)


# -- the other products ----------------------------------------------------------------------------
def test_mudharabah_profit_is_shared_by_nisbah_and_a_loss_borne_by_the_capital_provider():
    terms = {"capital": 6_000_000, "nisbah_member_percent": 60, "tenor_months": 6, "first_due_on": "2026-02-10"}
    c = contract("mudharabah", terms)
    c.report_profit("2026-01-31", 1_000_001, False, TODAY)
    report = events(c, "ProfitReported")[-1]
    assert (report["member_share"], report["coop_share"]) == (600_000, 400_001)
    c.pay("p1", 1_400_001, "2026-02-10", TODAY)
    paid = events(c, "PaymentReceived")[-1]
    assert paid["profit_shares"] == [{"period_end": "2026-01-31", "amount": 400_001}]
    assert lines(paid["entry"])[("4103", "m1")] == -400_001  # the member's jasa usaha
    c.report_profit("2026-02-28", -500_000, False, TODAY)
    assert lines(events(c, "ProfitReported")[-1]["entry"]) == {("5104", None): 500_000, ("1103", "m1"): -500_000}
    assert c.outstanding == 4_500_000
    c.report_profit("2026-03-31", -300_000, True, TODAY)   # negligence: the member bears it
    assert c.outstanding == 4_500_000 and events(c, "ProfitReported")[-1]["entry"] is None
    refused("conflict", c.report_profit, "2026-03-31", 1, False, TODAY)


def test_musyarakah_diminishing_and_its_loss_by_capital_share():
    terms = {"coop_capital": 6_000_000, "member_capital": 2_000_000, "nisbah_member_percent": 50,
             "diminishing": True, "tenor_months": 6, "first_due_on": "2026-02-01"}
    c = contract("musyarakah", terms)
    assert [i["amount"] for i in c.schedule] == [1_000_000] * 6
    c.report_profit("2026-01-31", -800_000, False, TODAY)
    assert events(c, "ProfitReported")[-1]["loss_borne"] == 600_000  # 6 of 8 parts
    whole = contract("musyarakah", {**terms, "diminishing": False})
    assert [(i["due_on"], i["amount"]) for i in whole.schedule] == [("2026-07-01", 6_000_000)]


def test_ijarah_rent_is_income_and_ownership_passes_only_by_a_transfer_at_the_end():
    terms = {"asset_cost": 2_400_000, "rent_per_month": 250_000, "tenor_months": 12,
             "first_due_on": "2026-02-01", "transfer_at_end": True}
    c = contract("ijarah", terms)
    assert c.view()["price"] == 3_000_000
    refused("illegal_transition", c.restructure, 24, "2026-03-01", "2026-02-01", TODAY)
    c.pay("p1", 3_000_000, "2026-01-30", TODAY)
    assert lines(events(c, "PaymentReceived")[-1]["entry"]) == {("1101", None): 3_000_000,
                                                                 ("4105", "m1"): -3_000_000}
    [transfer] = events(c, "OwnershipTransferred")
    assert lines(transfer["entry"]) == {("5102", None): 2_400_000, ("1105", "m1"): -2_400_000}


def test_qardh_repays_the_principal_only_with_one_admin_fee_at_disbursement():
    terms = {"principal": 1_000_000, "admin_fee": 25_000, "tenor_months": 4, "first_due_on": "2026-02-01"}
    c = contract("qardh", terms)
    assert sum(i["amount"] for i in c.schedule) == 1_000_000
    assert lines(events(c, "ContractDisbursed")[0]["entry"]) == {
        ("1103", "m1"): 1_000_000, ("1101", None): -975_000, ("4104", None): -25_000}


def test_rahn_storage_fee_is_fixed_per_month_and_paid_first_within_an_instalment():
    terms = {"principal": 3_000_000, "collateral": {"description": "emas 10 g", "appraised_value": 9_000_000},
             "storage_fee_per_month": 15_000, "tenor_months": 3, "first_due_on": "2026-02-01"}
    c = contract("rahn", terms)
    assert [i["amount"] for i in c.schedule] == [1_015_000] * 3
    c.pay("p1", 20_000, "2026-01-20", TODAY)
    assert lines(events(c, "PaymentReceived")[-1]["entry"]) == {
        ("1101", None): 20_000, ("4105", "m1"): -15_000, ("1103", "m1"): -5_000}


# -- partners, kafalah, write-off ------------------------------------------------------------------
def test_a_funded_murabahah_owes_the_partner_and_passes_on_principal_and_its_share():
    c = contract(partner_=partner("bank_syariah"), share=50, terms={**MURABAHAH, "tenor_months": 1})
    assert lines(events(c, "ContractDisbursed")[0]["entry"])[("2108", None)] == -10_000_000
    c.pay("p1", 12_000_000, "2026-01-20", TODAY)
    moved = lines(events(c, "PaymentReceived")[-1]["entry"])
    assert moved[("2108", None)] == 10_000_000 and moved[("5105", None)] == 1_000_000
    assert moved[("1101", None)] == 1_000_000 and moved[("4102", "m1")] == -2_000_000


def test_a_guarantee_fee_at_signing_and_a_claim_after_default_pays_the_covered_share():
    guarantor = partner("jamkrida", "j1")
    c = contract(guarantee={"partner_id": "j1", "coverage_percent": 70, "fee": 120_000}, guarantor=guarantor)
    assert lines(events(c, "ContractSigned")[0]["entry"]) == {("5103", None): 120_000, ("1101", None): -120_000}
    refused("illegal_transition", c.claim_guarantee, "2026-01-10", TODAY)   # not in default
    c.mark_overdue("2026-02-01")
    c.claim_guarantee("2026-02-02", TODAY)
    claim = events(c, "GuaranteeClaimed")[0]
    assert claim["amount"] == 8_400_000 and c.outstanding == 3_600_000
    assert ("4102", None) in lines(claim["entry"])  # the guarantor's money is no member's jasa usaha
    refused("illegal_transition", c.claim_guarantee, "2026-02-03", TODAY)


def test_write_off_clears_the_receivable_and_the_unrecognised_margin():
    c = contract()
    c.pay("p1", 3_000_000, "2026-01-20", TODAY)
    c.write_off("2026-06-30", TODAY)
    assert lines(events(c, "ContractWrittenOff")[0]["entry"]) == {
        ("1104", "m1"): -9_000_000, ("2107", None): 1_500_000, ("5104", None): 7_500_000}
    refused("illegal_transition", c.pay, "p2", 1, "2026-07-01", TODAY)
