"""One member's SavingsAccount (stream id = "<cooperative>:<member>"): pokok, wajib and sukarela.
Each movement is committed together with its `JournalEntryPosted` event: one commit, one stream,
so savings and books cannot disagree, and the optimistic version check that keeps sukarela ≥ 0
under racing withdrawals covers the entry too.

Pure: standard library and shared only; commands take `today` and ids from the caller.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from shared.aggregate import DomainError, not_found

from . import accounting as acc
from .accounting import invalid
from .replayable import Replayable


class SavingsAccount(Replayable):
    """Id "<cooperative_id>:<member_id>". `movements` are [date, kind, delta] in commit order;
    `entries` each deposit's and withdrawal's entry (for its reversal)."""

    state_fields = ("opened_on", "entries")

    def __init__(self, id: str):
        super().__init__(id)
        self.status = "new"
        self.member_id = id.split(":", 1)[-1]
        self.pokok_amount = self.wajib_amount = 0
        self.locked_through = 0
        self.balances = {kind: 0 for kind in acc.SAVINGS_KINDS}
        self.movements: list[list[Any]] = []
        self.entries: dict[str, dict[str, Any]] = {}  # entry id -> {date, kind, delta, reversed_by}
        self.opened_on = ""

    # -- commands ----------------------------------------------------------------------------------
    def open(self, cooperative_id: str, opened_on: str, pokok_amount: int, wajib_amount: int,
             locked_through: int) -> None:
        if self.status != "new":
            return  # a repeated admission event changes nothing
        self.trigger("SavingsAccountOpened", cooperative_id=cooperative_id, member_id=self.member_id,
                     opened_on=opened_on, pokok_amount=pokok_amount, wajib_amount=wajib_amount,
                     locked_through=max(locked_through, self.locked_through))

    def deposit(self, kind: str, amount: int, day: str, today: date, entry_id: str) -> None:
        self._check_movement(amount, day, today)
        if kind not in acc.SAVINGS_KINDS:
            raise invalid("kind", f"kind must be one of {', '.join(acc.SAVINGS_KINDS)}")
        if kind == "pokok":
            if self._pokok_paid():
                raise DomainError("conflict", "simpanan pokok is paid once and has been paid")
            if amount != self.pokok_amount:
                raise invalid("amount", f"simpanan pokok is {self.pokok_amount} by the bylaws")
        self.trigger("SavingsDeposited", cooperative_id=self.cooperative_id, member_id=self.member_id,
                     kind=kind, amount=amount, date=day, entry_id=entry_id)
        self._post(entry_id, day, f"simpanan {kind} deposit",
                   [acc.line(acc.CASH, debit=amount, member_id=self.member_id),
                    acc.line(acc.SAVINGS_ACCOUNT[kind], credit=amount, member_id=self.member_id)])

    def withdraw(self, amount: int, day: str, today: date, entry_id: str) -> None:
        """Sukarela only; never below zero at the withdrawal's date nor at any later date."""
        self._check_movement(amount, day, today)
        available = self.available(day)
        if amount > available:
            raise DomainError("insufficient_balance", f"simpanan sukarela available on {day} is {available}",
                              {"amount": [f"at most {available}"]})
        self.trigger("SavingsWithdrawn", cooperative_id=self.cooperative_id, member_id=self.member_id,
                     kind="sukarela", amount=amount, date=day, entry_id=entry_id)
        self._post(entry_id, day, "simpanan sukarela withdrawal",
                   [acc.line(acc.SUKARELA, debit=amount, member_id=self.member_id),
                    acc.line(acc.CASH, credit=amount, member_id=self.member_id)])

    def settle(self, exited_on: str, entry_id: str) -> None:
        """On exit: pays out every balance (pokok and wajib are returned; sukarela is the member's
        money) and closes the account. Dated on the exit, or later if savings moved later or the
        exit's year is locked."""
        self._require_open()
        day = max([exited_on, f"{self.locked_through + 1}-01-01", *(m[0] for m in self.movements)])
        returned = dict(self.balances)
        paid = sum(returned.values())
        self.trigger("SavingsSettled", cooperative_id=self.cooperative_id, member_id=self.member_id, date=day,
                     returned=returned, entry_id=entry_id if paid else None)
        if paid:
            lines = [acc.line(acc.SAVINGS_ACCOUNT[kind], debit=amount, member_id=self.member_id)
                     for kind, amount in returned.items() if amount]
            self._post(entry_id, day, "savings returned on exit",
                       [*lines, acc.line(acc.CASH, credit=paid, member_id=self.member_id)])

    def receive_shu(self, fiscal_year: int, amount: int, day: str, entry_id: str) -> None:
        """A member's SHU paid to sukarela (the books recorded it as paid): 2103 → 2101. Not a
        deposit the member made, so not reversible on its own."""
        self._require_open()
        self.trigger("ShuCredited", cooperative_id=self.cooperative_id, member_id=self.member_id,
                     fiscal_year=fiscal_year, amount=amount, date=day, entry_id=entry_id)
        self._post(entry_id, day, f"SHU {fiscal_year} paid to simpanan sukarela",
                   [acc.line(acc.SHU_PAYABLE, debit=amount, member_id=self.member_id),
                    acc.line(acc.SUKARELA, credit=amount, member_id=self.member_id)])

    def lock_through(self, cooperative_id: str, fiscal_year: int) -> None:
        if fiscal_year > self.locked_through:
            self.trigger("SavingsYearLocked", cooperative_id=cooperative_id, member_id=self.member_id,
                         fiscal_year=fiscal_year)

    # -- queries -----------------------------------------------------------------------------------
    def balance_as_of(self, day: str) -> dict[str, int]:
        balances = {kind: 0 for kind in acc.SAVINGS_KINDS}
        for moved_on, kind, delta in self.movements:
            if moved_on <= day:
                balances[kind] += delta
        return balances

    def available(self, day: str) -> int:
        """The most sukarela that can leave on `day`: the lowest balance from then on."""
        by_day: dict[str, int] = {}
        for moved_on, kind, delta in self.movements:
            if kind == "sukarela" and moved_on > day:
                by_day[moved_on] = by_day.get(moved_on, 0) + delta
        balance = lowest = self.balance_as_of(day)["sukarela"]
        for moved_on in sorted(by_day):
            balance += by_day[moved_on]
            lowest = min(lowest, balance)
        return lowest

    def to_dict(self) -> dict[str, Any]:
        return {"cooperative_id": self.cooperative_id, "member_id": self.member_id, "status": self.status,
                **self.balances, "total": sum(self.balances.values()), "pokok_amount": self.pokok_amount,
                "pokok_paid": self._pokok_paid(), "wajib_amount": self.wajib_amount}

    def _pokok_paid(self) -> bool:
        return sum(m[2] for m in self.movements if m[1] == "pokok") > 0

    def _check_movement(self, amount: int, day: str, today: date) -> None:
        self._require_open()
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= acc.MAX_AMOUNT:
            raise invalid("amount", "amount is a positive whole number of rupiah")
        acc.require_open_date(day, self.locked_through, today)
        if day < self.opened_on:
            raise invalid("date", f"{day} is before the member's admission ({self.opened_on})")

    def reverse(self, entry_id: str, reversal_id: str, today: date) -> None:
        """Reverses a deposit or withdrawal on its own date; the balance follows. Refused when the
        year is locked, when it was reversed already, and (a sukarela deposit) when the balance
        would go below zero on that date or any later one."""
        self._require_open()
        entry = self._entries().get(entry_id)
        if entry is None:
            raise not_found("journal entry", entry_id)
        if entry["reversed_by"]:
            raise DomainError("conflict", f"entry {entry_id} was reversed by {entry['reversed_by']}")
        day, kind, delta = entry["date"], entry["kind"], entry["delta"]
        acc.require_open_date(day, self.locked_through, today)
        if kind == "sukarela" and delta > 0 and delta > self.available(day):
            raise DomainError("insufficient_balance", f"reversing {entry_id} would take simpanan sukarela "
                              f"below zero (available on {day}: {self.available(day)})")
        self.trigger("SavingsMovementReversed", cooperative_id=self.cooperative_id, member_id=self.member_id,
                     kind=kind, amount=-delta, date=day, entry_id=entry_id, reversal_id=reversal_id)
        savings = acc.line(acc.SAVINGS_ACCOUNT[kind], debit=max(delta, 0), credit=max(-delta, 0),
                           member_id=self.member_id)
        cash = acc.line(acc.CASH, debit=max(-delta, 0), credit=max(delta, 0), member_id=self.member_id)
        self._post(reversal_id, day, f"reversal of {entry_id}", [savings, cash], entry_kind="reversal",
                   reverses=entry_id)
        self.trigger("JournalEntryReversed", cooperative_id=self.cooperative_id, entry_id=entry_id,
                     reversal_id=reversal_id)

    def _entries(self) -> dict[str, dict[str, Any]]:
        return self.entries

    def _require_open(self) -> None:
        if self.status == "new":
            raise not_found("savings account of member", self.member_id)
        if self.status == "closed":
            raise DomainError("conflict", f"the savings of member {self.member_id} were settled on exit")

    def _post(self, entry_id: str, day: str, memo: str, lines: list[dict[str, Any]],
              entry_kind: str = "savings", reverses: str | None = None) -> None:
        chart = {code: {"type": kind} for code, _name, kind in acc.DEFAULT_CHART}
        assert self.cooperative_id is not None
        self.trigger("JournalEntryPosted", **acc.entry_payload(self.cooperative_id, entry_id, day, memo,
                                                              entry_kind, lines, chart, reverses=reverses))

    # -- events ------------------------------------------------------------------------------------
    def apply_SavingsAccountOpened(self, data: dict) -> None:
        self.cooperative_id, self.status = data["cooperative_id"], "open"
        self.pokok_amount, self.wajib_amount = data["pokok_amount"], data["wajib_amount"]
        self.locked_through = data["locked_through"]
        self.opened_on = data["opened_on"]

    def apply_SavingsDeposited(self, data: dict) -> None:
        self._moved(data["entry_id"], data["date"], data["kind"], data["amount"])

    def apply_SavingsWithdrawn(self, data: dict) -> None:
        self._moved(data["entry_id"], data["date"], "sukarela", -data["amount"])

    def apply_ShuCredited(self, data: dict) -> None:
        self._moved(data["entry_id"], data["date"], "sukarela", data["amount"], reversible=False)

    def apply_SavingsMovementReversed(self, data: dict) -> None:
        self._moved(data["reversal_id"], data["date"], data["kind"], data["amount"], reversible=False)
        self._entries()[data["entry_id"]]["reversed_by"] = data["reversal_id"]

    def apply_JournalEntryReversed(self, data: dict) -> None:
        """Recorded by SavingsMovementReversed already (this one is for the journal's readers)."""

    def _moved(self, entry_id: str, day: str, kind: str, delta: int, reversible: bool = True) -> None:
        self.balances[kind] += delta
        self.movements.append([day, kind, delta])
        if reversible:
            self._entries()[entry_id] = {"date": day, "kind": kind, "delta": delta, "reversed_by": None}

    def apply_SavingsSettled(self, data: dict) -> None:
        for kind, amount in data["returned"].items():
            self.balances[kind] -= amount
            if amount:
                self.movements.append([data["date"], kind, -amount])
        self.status = "closed"

    def apply_SavingsYearLocked(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]
        self.locked_through = max(self.locked_through, data["fiscal_year"])

    def apply_JournalEntryPosted(self, data: dict) -> None:
        """The movement's entry: the books' side of the same commit; the balances moved already."""
