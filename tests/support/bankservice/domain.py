"""A tiny savings domain used to exercise the kernel (not a kopnet service)."""
from __future__ import annotations

from shared.aggregate import Aggregate, DomainError


class Account(Aggregate):
    snapshot_every = 5

    def __init__(self, id: str):
        super().__init__(id)
        self.balance = 0
        self.status = "new"

    def open(self, cooperative_id: str, owner: str) -> None:
        if self.status != "new":
            raise DomainError("conflict", f"account {self.id} is already open")
        self.trigger("AccountOpened", cooperative_id=cooperative_id, owner=owner)

    def deposit(self, amount: int) -> None:
        self._require_open()
        if amount <= 0:
            raise DomainError("validation_error", "amount must be positive", {"amount": "positive"})
        self.trigger("Deposited", amount=amount)

    def withdraw(self, amount: int) -> None:
        self._require_open()
        if amount > self.balance:
            raise DomainError("insufficient_balance", f"balance {self.balance} < {amount}")
        self.trigger("Withdrawn", amount=amount)

    def close(self) -> None:
        self._require_open()
        self.trigger("AccountClosed", balance_returned=self.balance)

    def _require_open(self) -> None:
        if self.status != "open":
            raise DomainError("conflict", f"account {self.id} is not open")

    def apply_AccountOpened(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]
        self.status = "open"

    def apply_Deposited(self, data: dict) -> None:
        self.balance += data["amount"]

    def apply_Withdrawn(self, data: dict) -> None:
        self.balance -= data["amount"]

    def apply_AccountClosed(self, data: dict) -> None:
        self.balance = 0
        self.status = "closed"
