"""Properties of a murabahah over any sequence of payments, sweeps, waivers and restructures:
paid + outstanding = price and the price never changes, every late fee paid is in the social
fund (never income), the margin recognised never exceeds the margin (and is all of it once
repaid), and every entry posted in the cooperative's books (the ledger's own Books aggregate)
keeps its trial balance balanced."""
from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.financing.domain import Contract
from services.ledger.domain import Books
from shared.aggregate import DomainError

TODAY = date(2030, 12, 31)
START = date(2026, 1, 4)
terms = st.fixed_dictionaries({
    "cost": st.integers(1_000, 50_000_000), "margin": st.integers(0, 10_000_000),
    "tenor_months": st.integers(1, 24), "late_fee": st.integers(0, 100_000),
    "first_due_on": st.integers(0, 60).map(lambda n: (START + timedelta(n)).isoformat())})
step = st.one_of(
    st.tuples(st.just("pay"), st.integers(1, 40), st.integers(1, 120)),     # days later, share of what is owed (%)
    st.tuples(st.just("sweep"), st.integers(1, 60)),
    st.tuples(st.just("waive"), st.integers(0, 3)),
    st.tuples(st.just("restructure"), st.integers(1, 30), st.integers(1, 36)),
)


def books_with(cooperative: str) -> Books:
    books = Books(cooperative)
    books.open(cooperative, "Koperasi", "2026-01-01")
    books.enroll("m1")
    return books


def post(books: Books, contract: Contract, totals: dict[str, int]) -> None:
    for event in contract.pending_events:
        entry = event.data.get("entry")
        if entry:
            books.post(f"e{len(books.entries)}", entry["date"], entry["memo"], entry["lines"], TODAY, "integration")
            for line in entry["lines"]:
                totals[line["account"]] = totals.get(line["account"], 0) + line["debit"] - line["credit"]
    contract.mark_saved()


@settings(max_examples=150, deadline=None)
@given(terms, st.lists(step, max_size=25))
def test_murabahah_invariants_hold_over_any_sequence(given_terms, steps):
    contract, books, totals = Contract("c"), books_with("coop"), {}
    contract.apply_for("coop", "m1", "murabahah", given_terms, "2026-01-04", TODAY, None, None, None, 0)
    if any(item["amount"] <= 0 for item in contract.schedule):
        return
    for action in (contract.approve, contract.sign, contract.disburse):
        action("2026-01-04", TODAY)
    price = given_terms["cost"] + given_terms["margin"]
    day, fees_paid = START, 0
    post(books, contract, totals)
    for kind, *args in steps:
        try:
            if kind == "pay":
                day += timedelta(args[0])
                contract.mark_overdue(day.isoformat())
                amount = max(1, contract.owed() * args[1] // 100)
                contract.pay("p", amount, day.isoformat(), TODAY)
                fees_paid += sum(f["amount"] for e in contract.pending_events if e.name == "PaymentReceived"
                                 for f in e.data["late_fees"])
            elif kind == "sweep":
                day += timedelta(args[0])
                contract.mark_overdue(day.isoformat())
            elif kind == "waive" and contract.late_fees:
                fee = contract.late_fees[args[0] % len(contract.late_fees)]
                contract.waive_late_fee(fee["due_on"], day.isoformat(), TODAY)
            elif kind == "restructure":
                first = (day + timedelta(args[0])).isoformat()
                contract.restructure(args[1], first, day.isoformat(), TODAY)
        except DomainError as error:
            assert error.code in ("illegal_transition", "overpayment", "validation_error"), error.args
            contract.mark_saved()
            contract = Contract.from_snapshot(contract.snapshot_state())  # drop what the refusal left
            continue
        post(books, contract, totals)
        assert contract.paid + contract.outstanding == price == sum(i["amount"] for i in contract.schedule)
        assert 0 <= contract.margin_recognised <= given_terms["margin"]
        assert -totals.get("2102", 0) == fees_paid  # ta'zir: all in the social fund
        assert all(totals.get(account, 0) == 0 for account in ("4101", "4103", "4104"))
        assert sum(totals.values()) == 0  # the trial balance balances
    if contract.outstanding == 0:
        assert contract.margin_recognised == given_terms["margin"] == -totals.get("4102", 0)
        assert totals.get("2107", 0) == 0 and totals.get("1104", 0) == 0
