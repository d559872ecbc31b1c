"""Ledger use cases: validate at the edge, load → command → save through the kernel's
Application; queries read the projections (reports.py sums them).

Command answers come from the commit (or the aggregate after it), never from read models,
which lag the store by milliseconds.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

from marshmallow import Schema
from pymongo.database import Database

from shared.aggregate import Aggregate, DomainError, not_found
from shared.application import Application, CommandContext, Outcome
from shared.envelope import Envelope, derived_id
from shared.eventstore import StoreUnavailable
from shared.projection import documents
from shared.validation import validated as validate_request

from . import reports
from .accounting import NORMAL_BALANCE
from .domain import Books, SavingsAccount
from .projections import JOURNAL_DAYS, MEMBER_MOVEMENTS, SHU_RESULTS, JournalDay, MemberMovement, ShuResult
from .schemas import (
    AccountRequestSchema,
    FiscalYearSchema,
    JournalEntryRequestSchema,
    MovementRequestSchema,
    ReportRequestSchema,
    SavingsKindSchema,
    SourceSchema,
    StatementPeriodSchema,
)

A = TypeVar("A", bound=Aggregate)
WIB = timezone(timedelta(hours=7), "WIB")  # every kopnet cooperative is in West Java
READ_MODEL_WAIT_SECONDS = 5.0
SHU_FIELDS = ("cooperative_id", "fiscal_year", "date", "shu", "pools", "members")


def local_today() -> date:
    return datetime.now(WIB).date()



def validated(schema: type[Schema], data: Any) -> dict[str, Any]:
    """Validated request fields as plain JSON values (dates as YYYY-MM-DD), as events carry them."""
    loaded = validate_request(schema, data)
    return {key: value.isoformat() if isinstance(value, date) else value for key, value in loaded.items()}


def account_id(cooperative_id: str, member_id: str) -> str:
    return f"{cooperative_id}:{member_id}"


def entry_view(payload: dict[str, Any], reversed_by: str | None = None) -> dict[str, Any]:
    return {"id": payload["entry_id"], **{key: payload[key] for key in (
        "cooperative_id", "date", "memo", "kind", "lines", "business_activity", "source", "reverses")},
        "reversed_by": reversed_by}


def posted(outcome: Outcome) -> list[dict[str, Any]]:
    """The JournalEntryPosted payloads of the command's commit (the first one, if repeated)."""
    events = outcome.commit.events if outcome.commit else []
    return [event.payload for event in events if event.event_type == "ledger.JournalEntryPosted"]


class Ledger:
    def __init__(self, application: Application, database: Database, today: Callable[[], date] = local_today):
        self.app = application
        self.database = database
        self.today = today

    # -- policies: membership events --------------------------------------------------------------
    def on_membership_event(self, event: Envelope, context: CommandContext) -> None:
        payload = event.payload
        coop = payload["cooperative_id"]
        if event.name == "CooperativeRegistered":
            opened_on = str(payload.get("registered_at") or self.today().isoformat())[:10]
            self._run(Books, coop, lambda b: b.open(coop, payload["name"], opened_on), context)
        elif event.name == "MemberAdmitted":
            member = payload["member_id"]
            books = self._run(Books, coop, lambda b: b.enroll(member), context.step("enroll")).aggregate
            assert isinstance(books, Books)
            self._run(SavingsAccount, account_id(coop, member), lambda a: a.open(
                coop, payload["admitted_on"], payload["pokok_amount"], payload["wajib_amount"],
                books.locked_through), context.step("open"))
        elif event.name == "MemberExited":
            self._run(SavingsAccount, account_id(coop, payload["member_id"]),
                      lambda a: a.settle(payload["exited_on"], self._entry_id(context)), context)
        elif event.name == "AnnualMeetingHeld":
            self._run(Books, coop, lambda b: b.record_resolution(
                payload["fiscal_year"], payload["held_on"], payload["shu_allocation"]), context)

    # -- books --------------------------------------------------------------------------------------
    def add_account(self, cooperative_id: str, data: Any, context: dict | None = None) -> dict[str, Any]:
        fields = validated(AccountRequestSchema, data)
        code, name, kind = fields["code"], fields["name"], fields["type"]
        self._run(Books, cooperative_id, lambda b: b.add_account(code, name, kind),
                  CommandContext.from_wire(context))
        return {**fields, "normal_balance": NORMAL_BALANCE[fields["type"]], "balance": 0}

    def post_journal_entry(self, cooperative_id: str, data: Any, context: dict | None = None
                           ) -> dict[str, Any]:
        return self._post(cooperative_id, data, CommandContext.from_wire(context), "manual", None)

    def post_entry(self, cooperative_id: str, entry: Any, source: Any, context: dict | None = None
                   ) -> dict[str, Any]:
        """The integration path (see service.py): one posting per source id, ever."""
        origin = validated(SourceSchema, source)
        given = CommandContext.from_wire(context)
        key = f"{cooperative_id}:{origin['service']}:{origin['id']}"
        context_for_source = CommandContext(derived_id("ledger-source", key), given.correlation_id,
                                            given.causation_id)
        return self._post(cooperative_id, entry, context_for_source, "integration", origin)

    def _post(self, cooperative_id: str, data: Any, context: CommandContext, kind: str,
              source: dict[str, str] | None) -> dict[str, Any]:
        fields = validated(JournalEntryRequestSchema, data)
        entry_id, today = self._entry_id(context), self.today()
        outcome = self._run(Books, cooperative_id, lambda b: b.post(
            entry_id, fields["date"], fields["memo"], fields["lines"], today, kind, source), context)
        return entry_view(posted(outcome)[0])

    def reverse_journal_entry(self, cooperative_id: str, entry_id: str, context: dict | None = None
                              ) -> dict[str, Any]:
        """Answers with the reversed entry, its `reversed_by` and the `reversal` itself."""
        command = CommandContext.from_wire(context)
        reversal_id = self._entry_id(command)
        outcome = self._run(Books, cooperative_id, lambda b: b.reverse(entry_id, reversal_id), command)
        reversal = posted(outcome)[0]
        original = outcome.aggregate.entries.get(reversal["reverses"], {})  # type: ignore[attr-defined]
        return {"id": reversal["reverses"], "cooperative_id": cooperative_id, "date": reversal["date"],
                "kind": original.get("kind"), "memo": original.get("memo"), "lines": original.get("lines"),
                "reversed_by": reversal["entry_id"], "reversal": entry_view(reversal)}

    def list_accounts(self, cooperative_id: str) -> list[dict[str, Any]]:
        chart = self._books(cooperative_id).chart
        totals = reports.sum_days(self._days(cooperative_id, "9999-12-31"), None, "9999-12-31")
        return [{key: row[key] for key in ("code", "name", "type", "balance")}
                | {"normal_balance": NORMAL_BALANCE[row["type"]]}
                for row in reports.trial_balance(chart, totals)["accounts"]]

    # -- savings ------------------------------------------------------------------------------------
    def deposit(self, cooperative_id: str, member_id: str, kind: str, data: Any, context: dict | None = None
                ) -> dict[str, Any]:
        saving = validated(SavingsKindSchema, {"kind": kind})["kind"]
        fields = validated(MovementRequestSchema, data)
        command, today = CommandContext.from_wire(context), self.today()
        entry_id = self._entry_id(command)
        outcome = self._run(SavingsAccount, account_id(cooperative_id, member_id), lambda a: a.deposit(
            saving, fields["amount"], fields["date"], today, entry_id), command)
        return self._savings_answer(outcome)

    def withdraw(self, cooperative_id: str, member_id: str, data: Any, context: dict | None = None
                 ) -> dict[str, Any]:
        fields = validated(MovementRequestSchema, data)
        command, today = CommandContext.from_wire(context), self.today()
        entry_id = self._entry_id(command)
        outcome = self._run(SavingsAccount, account_id(cooperative_id, member_id), lambda a: a.withdraw(
            fields["amount"], fields["date"], today, entry_id), command)
        return self._savings_answer(outcome)

    def get_savings(self, cooperative_id: str, member_id: str) -> dict[str, Any]:
        return self._account(cooperative_id, member_id).to_dict()

    def member_statement(self, cooperative_id: str, member_id: str, from_: str | None = None,
                         to: str | None = None) -> dict[str, Any]:
        period = validated(StatementPeriodSchema, {key: value for key, value in (("from", from_), ("to", to))
                                                   if value is not None})
        self._account(cooperative_id, member_id)
        end = period["to"] or self.today().isoformat()
        start = period["from_"] or f"{end[:4]}-01-01"
        docs = documents(self.database, MemberMovement, MEMBER_MOVEMENTS).filter(
            cooperative_id=cooperative_id, member_id=member_id).as_pymongo()
        return {"cooperative_id": cooperative_id, "member_id": member_id,
                **reports.member_statement(docs, start, end)}

    # -- reports ------------------------------------------------------------------------------------
    def report(self, cooperative_id: str, name: str, as_of: str | None = None, from_: str | None = None,
               to: str | None = None) -> dict[str, Any]:
        given = {"name": name, **{key: value for key, value in (("as_of", as_of), ("from", from_), ("to", to))
                                  if value is not None}}
        request = validated(ReportRequestSchema, given)
        chart = self._books(cooperative_id).chart
        end = request["to"] or request["as_of"] or self.today().isoformat()
        start = request["from_"]
        days = list(self._days(cooperative_id, end))
        head = {"cooperative_id": cooperative_id, "report": name}
        if name == "trial-balance":
            period = {"from": start, "to": end} if start else {"as_of": end}
            return {**head, **period, **reports.trial_balance(chart, reports.sum_days(days, start, end))}
        if name == "balance-sheet":
            return {**head, "as_of": end, **reports.balance_sheet(chart, reports.sum_days(days, None, end))}
        start = start or f"{end[:4]}-01-01"
        return {**head, "from": start, "to": end,
                **reports.income_statement(chart, reports.sum_days(days, start, end, closing=False))}

    # -- year-end close -----------------------------------------------------------------------------
    def close_fiscal_year(self, cooperative_id: str, fiscal_year: Any, context: dict | None = None
                          ) -> dict[str, Any]:
        """Lock the year in the books, lock every member's savings through it, then compute and
        post SHU. Every step is idempotent, so a retried or concurrent close ends the same way."""
        year = validated(FiscalYearSchema, {"fiscal_year": fiscal_year})["fiscal_year"]
        command, today = CommandContext.from_wire(context), self.today()
        self._run(Books, cooperative_id, lambda b: b.begin_close(year, today), command.step("close-begin"))
        books = self.app.load(Books, cooperative_id, fresh=True)
        if str(year) in books.closed_years:
            return self.get_shu(cooperative_id, year)
        capital = {}
        for member in sorted(books.members):
            lock = CommandContext(derived_id("ledger-lock", f"{cooperative_id}:{year}:{member}"),
                                  command.correlation_id, command.causation_id)
            account = self._run(SavingsAccount, account_id(cooperative_id, member),
                                lambda a: a.lock_through(cooperative_id, year), lock).aggregate
            assert isinstance(account, SavingsAccount)
            balances = account.balance_as_of(f"{year}-12-31")
            capital[member] = balances["pokok"] + balances["wajib"]
        entry_ids = (derived_id("ledger-close", f"{cooperative_id}:{year}:results"),
                     derived_id("ledger-close", f"{cooperative_id}:{year}:distribution"))
        outcome = self._run(Books, cooperative_id, lambda b: b.finish_close(
            year, capital, today.isoformat(), entry_ids), command.step("close-finish"))
        closed = [e.payload for e in (outcome.commit.events if outcome.commit else [])
                  if e.event_type == "ledger.FiscalYearClosed"]
        if not closed:
            return self.get_shu(cooperative_id, year)
        return {key: closed[0][key] for key in SHU_FIELDS}

    def get_shu(self, cooperative_id: str, fiscal_year: Any, member_id: str | None = None) -> dict[str, Any]:
        year = validated(FiscalYearSchema, {"fiscal_year": fiscal_year})["fiscal_year"]
        results = documents(self.database, ShuResult, SHU_RESULTS)
        doc = results.filter(pk=f"{cooperative_id}|{year}").as_pymongo().first()
        if doc is None:
            if str(year) not in self._books(cooperative_id).closed_years:  # a fresh read
                raise DomainError("not_found", f"fiscal year {year} of {cooperative_id} is not closed")
            deadline = time.monotonic() + READ_MODEL_WAIT_SECONDS
            while doc is None:  # closed a moment ago: its read model follows within milliseconds
                if time.monotonic() > deadline:
                    raise StoreUnavailable("the SHU result is still being recorded; try again")
                time.sleep(0.02)
                doc = documents(self.database, ShuResult, SHU_RESULTS).filter(
                    pk=f"{cooperative_id}|{year}").as_pymongo().first()
        result = {key: doc[key] for key in SHU_FIELDS}
        if member_id is not None:
            result["members"] = [row for row in result["members"] if row["member_id"] == member_id]
        return result

    # -- helpers ------------------------------------------------------------------------------------
    def _run(self, cls: type[A], stream_id: str, command: Callable[[A], Any], context: CommandContext
             ) -> Outcome:
        outcome = self.app.execute(cls, stream_id, command, context)
        commit = outcome.commit
        if commit is not None and (commit.stream_type, commit.stream_id) != (cls.stream_type, stream_id):
            raise DomainError("conflict", "this command id was already used for another request")
        return outcome

    @staticmethod
    def _entry_id(context: CommandContext) -> str:
        return derived_id("ledger-entry", context.command_id)

    def _savings_answer(self, outcome: Outcome) -> dict[str, Any]:
        account = outcome.aggregate
        assert isinstance(account, SavingsAccount)
        entries = posted(outcome)
        return {**account.to_dict(), "entry_id": entries[0]["entry_id"] if entries else None}

    def _books(self, cooperative_id: str) -> Books:
        books = self.app.load(Books, cooperative_id, fresh=True)  # another process may have written
        if books.status != "open":
            raise not_found("books of cooperative", cooperative_id)
        return books

    def _account(self, cooperative_id: str, member_id: str) -> SavingsAccount:
        account = self.app.load(SavingsAccount, account_id(cooperative_id, member_id), fresh=True)
        if account.status == "new":
            raise not_found("savings account of member", member_id)
        return account

    def _days(self, cooperative_id: str, end: str):
        return documents(self.database, JournalDay, JOURNAL_DAYS).filter(
            cooperative_id=cooperative_id, date__lte=end).as_pymongo()
