"""Books.shares_state: Application.load hands a Books command the cached state itself (no copy of
the open year's entries), so an apply method that changed a container in place would change the
cache before the save, and a command that then failed would leave its effect behind."""
from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

from services.ledger.books import Books
from services.ledger.claims import receivable_changes
from tests.support.ledger_memory import ALLOCATION

TODAY = date(2026, 2, 5)


def line(account: str, debit: int = 0, credit: int = 0, member: str | None = None) -> dict[str, Any]:
    return {"account": account, "debit": debit, "credit": credit, "member_id": member}


STEPS: list[tuple[str, Callable[[Books], Any]]] = [
    ("open", lambda b: b.open("c1", "Koperasi Maju", "2024-01-01")),
    ("add an account", lambda b: b.add_account("4199", "Pendapatan lain", "income")),
    ("rename it", lambda b: b.change_account("4199", name="Pendapatan lain-lain")),
    ("deactivate it", lambda b: b.change_account("4199", active=False)),
    ("add another", lambda b: b.add_account("5199", "Beban lain", "expense")),
    ("remove it", lambda b: b.remove_account("5199")),
    ("enroll A", lambda b: b.enroll("A")),
    ("enroll B", lambda b: b.enroll("B")),
    ("a financed sale", lambda b: b.post("e1", "2025-03-01", "murabahah", [
        line("1104", debit=1_100_000, member="A"), line("4102", credit=1_100_000, member="A")], TODAY)),
    ("a sale to B", lambda b: b.post("e2", "2025-04-01", "sale", [
        line("1101", debit=500_000), line("4101", credit=500_000, member="B")], TODAY)),
    ("a wrong sale", lambda b: b.post("e3", "2025-05-01", "wrong", [
        line("1101", debit=7_000), line("4101", credit=7_000)], TODAY)),
    ("reverse it", lambda b: b.reverse("e3", "r3")),
    ("the RAT", lambda b: b.record_resolution(2025, "2026-01-20", ALLOCATION)),
    ("corrected", lambda b: b.correct_resolution(2025, "2026-01-21", {**ALLOCATION, "reserve": 20,
                                                                       "social": 10})),
    ("close begins", lambda b: b.begin_close(2025, TODAY)),
    ("close ends", lambda b: b.finish_close(2025, {"A": 100_000, "B": 50_000}, "2026-02-01",
                                             ("k1", "k2", "k3"))),
    ("A exits", lambda b: b.settle_exit("A", "2026-02-02", 100_000, "x1")),
    ("SHU paid", lambda b: b.pay_shu(2025, "2026-02-03", "cash", TODAY, "p1")),
    ("dissolved", lambda b: b.dissolve("2026-03-01")),
]


def test_every_books_event_builds_new_containers_so_a_command_may_share_the_cached_state():
    assert Books.shares_state
    books, applied = Books("c1"), set()
    for name, command in STEPS:
        shared = books.snapshot_state(copy=False)
        before = copy.deepcopy(shared)
        working = Books.from_snapshot(shared, copy=False)
        command(working)
        assert working.pending_events, f"{name}: triggered nothing"
        assert shared == before, f"{name} changed the shared state in place"
        replayed = Books.from_snapshot(shared, copy=False)  # Application.load catching up on a cached state
        replayed.replay(working.pending_events)
        assert shared == before, f"{name}: its replay changed the shared state in place"
        assert replayed.snapshot_state() == working.snapshot_state(), f"{name}: replayed differently"
        applied |= {event.name for event in working.pending_events}
        working.mark_saved()
        books = working
    every = {name.removeprefix("apply_") for name in vars(Books) if name.startswith("apply_")}
    assert applied == every, f"not checked: {sorted(every - applied)}"
    assert books.status == "dissolved" and books.closed_through == 2025
    assert books.shu_owed["2025"] == {} and set(books.shu_paid["2025"]) == {"A", "B"}
    assert books.shu_paid["2025"]["A"]["to"] == "exit" and books.shu_paid["2025"]["B"]["to"] == "cash"


def test_receivable_changes_are_the_member_lines_on_receivable_accounts():
    lines = [line("1104", credit=400, member="A"), line("1103", debit=50, member="B"),
             line("1101", debit=350), line("4101", credit=50, member="B")]
    assert receivable_changes(lines) == [("A", "1104", -400), ("B", "1103", 50)]
