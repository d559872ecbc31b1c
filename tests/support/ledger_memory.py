"""The ledger's real use cases over the in-memory store: membership events fed as the
subscriber would feed them, reports summed from projections applied in memory."""
from __future__ import annotations

from datetime import date
from typing import Any

from services.ledger import reports
from services.ledger.application import Ledger
from services.ledger.domain import Books
from services.ledger.projections import JOURNAL_DAYS, PROJECTIONS
from services.ledger.schemas import registry
from shared.application import Application, CommandContext
from shared.envelope import Envelope, derived_id, new_id, utc_now
from tests.support.memory_store import MemoryDatabase, MemoryEventStore, MemoryReadModels

ALLOCATION = {"reserve": 25, "jasa_modal": 30, "jasa_usaha": 25, "board": 5, "staff": 5, "education": 5,
              "social": 5}


def membership_event(name: str, /, **payload: Any) -> Envelope:
    return Envelope(event_id=new_id(), event_type=f"membership.{name}", schema_version=1,
                    stream_type="Cooperative", stream_id=payload["cooperative_id"], stream_version=1,
                    position=1, occurred_at=utc_now(), cooperative_id=payload["cooperative_id"],
                    correlation_id=new_id(), causation_id=None, payload=payload)


class MemoryLedger:
    """In memory by default; give it a real EventStore and database to run the same on them."""

    def __init__(self, today: date = date(2026, 6, 1), store: Any = None, database: Any = None):
        self.store = store if store is not None else MemoryEventStore(registry)
        self.app = Application(self.store, registry)
        self.database = database if database is not None else MemoryDatabase(
            self.store, [cls() for cls in PROJECTIONS])
        self.ledger = Ledger(self.app, self.database, today=lambda: today)

    # -- membership events, as the subscriber delivers them ----------------------------------------
    def deliver(self, event: Envelope) -> None:
        context = CommandContext(derived_id("membership-events", event.event_id), event.correlation_id,
                                 event.event_id)
        self.ledger.on_membership_event(event, context)

    def register(self, coop: str = "coop-1", name: str = "Koperasi Maju") -> str:
        self.deliver(membership_event("CooperativeRegistered", cooperative_id=coop, name=name,
                                      registered_at="2020-01-01T00:00:00Z"))
        return coop

    def admit(self, coop: str, member: str, on: str = "2020-01-01", pokok: int = 100_000,
              wajib: int = 25_000) -> None:
        self.deliver(membership_event("MemberAdmitted", cooperative_id=coop, member_id=member,
                                      admitted_on=on, pokok_amount=pokok, wajib_amount=wajib))

    def exit(self, coop: str, member: str, on: str) -> None:
        self.deliver(membership_event("MemberExited", cooperative_id=coop, member_id=member, exited_on=on,
                                      previous_status="admitted"))

    def rat(self, coop: str, year: int, allocation: dict[str, int] | None = None) -> None:
        self.deliver(membership_event("AnnualMeetingHeld", cooperative_id=coop, fiscal_year=year,
                                      held_on=f"{year + 1}-03-01", attendees=10, admitted_members=10,
                                      quorum_percent=50, shu_allocation=allocation or ALLOCATION))

    # -- commands -----------------------------------------------------------------------------------
    def post(self, coop: str, day: str, *lines: tuple, memo: str = "") -> dict[str, Any]:
        """lines: (account, debit, credit[, member_id])"""
        data = {"date": day, "memo": memo, "lines": [
            {"account": x[0], "debit": x[1], "credit": x[2], **({"member_id": x[3]} if len(x) > 3 else {})}
            for x in lines]}
        return self.ledger.post_journal_entry(coop, data, {"command_id": new_id()})

    def deposit(self, coop: str, member: str, kind: str, amount: int, day: str) -> dict[str, Any]:
        data = {"amount": amount, "date": day}
        return self.ledger.deposit(coop, member, kind, data, {"command_id": new_id()})

    def withdraw(self, coop: str, member: str, amount: int, day: str) -> dict[str, Any]:
        return self.ledger.withdraw(coop, member, {"amount": amount, "date": day}, {"command_id": new_id()})

    def close(self, coop: str, year: int) -> dict[str, Any]:
        return self.ledger.close_fiscal_year(coop, year, {"command_id": new_id()})

    # -- reports from the projections ---------------------------------------------------------------
    def read_models(self) -> MemoryReadModels:
        return MemoryReadModels([cls() for cls in PROJECTIONS]).catch_up(self.store)

    def books(self, coop: str) -> Books:
        return self.app.load(Books, coop, fresh=True)

    def totals(self, coop: str, end: str, start: str | None = None, closing: bool = True,
               models: MemoryReadModels | None = None) -> reports.Totals:
        days = (models or self.read_models()).find(JOURNAL_DAYS, "journal_days", cooperative_id=coop)
        return reports.sum_days(days, start, end, closing)

    def trial_balance(self, coop: str, as_of: str = "9999-12-31") -> dict[str, Any]:
        return reports.trial_balance(self.books(coop).chart, self.totals(coop, as_of))

    def balance(self, coop: str, account: str, as_of: str = "9999-12-31") -> int:
        rows = self.trial_balance(coop, as_of)["accounts"]
        return next(row["balance"] for row in rows if row["code"] == account)
