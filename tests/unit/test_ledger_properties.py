"""Properties over any sequence of operations (in memory, the real use cases): every trial
balance balances, no savings balance is ever below zero, the books' savings accounts equal the
members' savings, SHU pools add up, and replaying the history gives the live state."""
from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ledger import reports
from services.ledger.accounting import SAVINGS_ACCOUNT
from services.ledger.domain import Books, SavingsAccount
from services.ledger.projections import PROJECTIONS
from shared.aggregate import DomainError, DomainEvent
from tests.support.ledger_memory import MemoryLedger
from tests.support.memory_store import MemoryReadModels

COOP = "coop-p"
MEMBERS = ("m1", "m2", "m3")
POSTABLE = ("1101", "1102", "1103", "1104", "1105", "2102", "3103", "4101", "4102", "5101", "5102")
START = date(2023, 1, 1)
CHECKPOINTS = ("2023-06-30", "2023-12-31", "2024-12-31", "2025-12-31", "2026-06-01", "9999-12-31")

days = st.integers(0, (date(2026, 6, 1) - START).days).map(lambda n: (START + timedelta(n)).isoformat())
amounts = st.integers(1, 5_000)
line = st.tuples(st.sampled_from(POSTABLE), amounts, st.one_of(st.none(), st.sampled_from(MEMBERS)))

post = st.tuples(st.just("post"), days, st.lists(line, min_size=1, max_size=3), st.sampled_from(POSTABLE),
                st.integers(0, 4).map(bool))
deposit = st.tuples(st.just("deposit"), st.sampled_from(MEMBERS), st.sampled_from(("pokok", "wajib", "sukarela")),
                    st.integers(1, 20_000), days)
# a withdrawal of a share of what is available on its date (over 100: more than available)
withdraw = st.tuples(st.just("withdraw"), st.sampled_from(MEMBERS), st.integers(1, 110),
                     st.one_of(st.just("2026-06-01"), days))
reverse = st.tuples(st.just("reverse"), st.integers(0, 30))
close = st.tuples(st.just("close"), st.sampled_from((2023, 2024, 2025)))
leave = st.tuples(st.just("exit"), st.sampled_from(MEMBERS), days)
# weighted by percent: mostly postings and savings movements, now and then a reversal, a close, an exit
WEIGHTS = ((30, post), (30, deposit), (25, withdraw), (7, reverse), (5, close), (3, leave))


def _pick(n: int):
    for weight, strategy in WEIGHTS:
        if n < weight:
            return strategy
        n -= weight
    raise AssertionError(n)


operations = st.integers(0, 99).flatmap(_pick)


def run(ledger: MemoryLedger, operation: tuple, entries: list[str]) -> None:
    kind, *args = operation
    if kind == "post":
        day, debits, credit_account, balanced = args
        total = sum(amount for _, amount, _ in debits) + (0 if balanced else 1)
        lines = [(account, amount, 0, *([member] if member else [])) for account, amount, member in debits]
        entries.append(ledger.post(COOP, day, *lines, (credit_account, 0, total))["id"])
    elif kind == "deposit":
        member, saving, amount, day = args
        ledger.deposit(COOP, member, saving, 1_000 if saving == "pokok" else amount, day)
    elif kind == "withdraw":
        member, percent, day = args
        available = ledger.app.load(SavingsAccount, f"{COOP}:{member}").available(day)
        ledger.withdraw(COOP, member, max(1, available * percent // 100), day)
    elif kind == "reverse":
        if entries:
            ledger.ledger.reverse_journal_entry(COOP, entries[args[0] % len(entries)], None)
    elif kind == "close":
        result = ledger.close(COOP, args[0])
        assert sum(result["pools"].values()) == max(result["shu"], 0)
        for pool in ("jasa_modal", "jasa_usaha"):
            assert sum(row[pool] for row in result["members"]) == result["pools"][pool]
    elif kind == "exit":
        ledger.exit(COOP, *args)


def replayed(ledger: MemoryLedger, cls, stream_id: str):
    aggregate = cls(stream_id)
    aggregate.replay([DomainEvent(e.name, e.payload) for e in ledger.store.read_stream(cls.stream_type, stream_id)])
    return aggregate


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, max_size=40))
def test_any_sequence_of_operations_keeps_the_books_and_savings_sound(ops):
    ledger = MemoryLedger(today=date(2026, 6, 1))
    ledger.register(COOP)
    for member in MEMBERS:
        ledger.admit(COOP, member, pokok=1_000, wajib=100)
        ledger.deposit(COOP, member, "sukarela", 10_000, "2023-01-02")
    for year in (2023, 2024, 2025):
        ledger.rat(COOP, year)
    live = ledger.database.models
    entries: list[str] = []
    for operation in ops:
        head = ledger.store.head()
        try:
            run(ledger, operation, entries)
        except DomainError:
            assert ledger.store.head() == head or operation[0] == "close", "a refused command stores nothing"
        live.catch_up(ledger.store)  # read models follow in small batches, as the runner does

    chart = ledger.books(COOP).chart
    accounts = {m: ledger.app.load(SavingsAccount, f"{COOP}:{m}", fresh=True) for m in MEMBERS}
    for as_of in CHECKPOINTS:
        totals = ledger.totals(COOP, as_of)
        assert reports.trial_balance(chart, totals)["balanced"]
        assert reports.balance_sheet(chart, totals)["balanced"]
        tb = {row["code"]: row["balance"] for row in reports.trial_balance(chart, totals)["accounts"]}
        for kind, code in SAVINGS_ACCOUNT.items():
            held = [account.balance_as_of(as_of)[kind] for account in accounts.values()]
            assert all(balance >= 0 for balance in held), (as_of, kind, held)
            assert tb[code] == sum(held), (as_of, kind)

    # replay equals live: aggregates from their events alone, read models rebuilt in one pass
    assert replayed(ledger, Books, COOP).snapshot_state() == ledger.books(COOP).snapshot_state()
    for member, account in accounts.items():
        assert replayed(ledger, SavingsAccount, f"{COOP}:{member}").snapshot_state() == account.snapshot_state()
    rebuilt = MemoryReadModels([cls() for cls in PROJECTIONS]).catch_up(ledger.store)
    assert rebuilt.docs == live.catch_up(ledger.store).docs
