"""Ledger use cases: validate at the edge, load → command → save through the kernel's
Application; queries read the projections (reports.py sums them).

Command answers come from the commit (or the aggregate after it), never from read models,
which lag the store by milliseconds.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

from marshmallow import Schema
from pymongo.database import Database

from shared.aggregate import Aggregate, DomainError, not_found
from shared.application import Application, CommandContext, Outcome
from shared.audit import Actor, actor_from_wire, audited, caused_by
from shared.envelope import Envelope, derived_id
from shared.eventstore import StoreUnavailable
from shared.projection import documents
from shared.validation import validated as validate_request

from . import reports
from .accounting import NORMAL_BALANCE
from .domain import Books, SavingsAccount, require_books_open
from .journal import journal_page
from .projections import (
    JOURNAL_DAYS,
    JOURNAL_ENTRIES,
    MEMBER_MOVEMENTS,
    SHU_RESULTS,
    JournalDay,
    JournalEntryRow,
    MemberMovement,
    ShuResult,
)
from .schemas import (
    AccountChangeSchema,
    AccountRequestSchema,
    FiscalYearSchema,
    JournalEntryRequestSchema,
    JournalQuerySchema,
    MovementRequestSchema,
    ReportRequestSchema,
    SavingsKindSchema,
    ShuPayoutSchema,
    SourceSchema,
    StatementPeriodSchema,
)

log = logging.getLogger(__name__)
A = TypeVar("A", bound=Aggregate)
WIB = timezone(timedelta(hours=7), "WIB")  # every kopnet cooperative is in West Java
READ_MODEL_WAIT_SECONDS = 5.0
SHU_FIELDS = ("cooperative_id", "fiscal_year", "date", "shu", "pools", "members", "loss_covered_by_reserve",
              "carried_loss_covered", "carried_loss")
# Membership's answer about a member ({status, admitted_on, pokok_amount, wajib_amount} or None),
# asked when a savings command finds no account yet (read your own writes: see open_on_demand).
AdmissionLookup = Callable[[str, str], dict[str, Any] | None]


def local_today() -> date:
    return datetime.now(WIB).date()



def _day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


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
    def __init__(self, application: Application, database: Database, today: Callable[[], date] = local_today,
                 admission: AdmissionLookup | None = None):
        self.app = application
        self.database = database
        self.today = today
        self.admission = admission

    # -- policies: membership events --------------------------------------------------------------
    def on_membership_event(self, event: Envelope, context: CommandContext) -> None:
        payload, actor = event.payload, caused_by(event)
        coop = payload["cooperative_id"]
        if event.name == "CooperativeRegistered":
            opened_on = str(payload.get("registered_at") or self.today().isoformat())[:10]
            self._run(Books, coop, lambda b: b.open(coop, payload["name"], opened_on), context, actor)
        elif event.name == "CooperativeDissolved":
            self._run(Books, coop, lambda b: b.dissolve(payload["dissolved_on"]), context, actor)
        elif event.name == "MemberAdmitted":
            self._open_account(coop, payload["member_id"], payload, context, actor)
        elif event.name == "MemberExited":
            self._settle_exit(coop, payload["member_id"], payload["exited_on"], context, actor)
        elif event.name == "AnnualMeetingHeld":
            self._run(Books, coop, lambda b: b.record_resolution(
                payload["fiscal_year"], payload["held_on"], payload["shu_allocation"]), context, actor)
        elif event.name == "AnnualMeetingCorrected":
            self._correct_resolution(coop, payload, context, actor)

    def _correct_resolution(self, coop: str, payload: dict[str, Any], context: CommandContext,
                            actor: Actor | None) -> None:
        """Membership refuses a correction once it learned the close (ledger.FiscalYearClosing); one
        that crossed the close in flight (or came before membership learned of closes) finds the year
        locked here: the books keep the resolution they closed with, and say so in the log."""
        try:
            self._run(Books, coop, lambda b: b.correct_resolution(
                payload["fiscal_year"], payload["held_on"], payload["shu_allocation"]), context, actor)
        except DomainError as error:
            if error.code != "fiscal_year_closed":
                raise
            log.warning("RAT correction of %s for %s not applied: %s", coop, payload["fiscal_year"], error)

    def _settle_exit(self, coop: str, member: str, exited_on: str, context: CommandContext,
                     actor: Actor | None) -> None:
        """Two steps, each idempotent (the second's id is derived from the first's): the savings are
        returned in cash (the member's stream), then the books pay the unpaid SHU and take the
        member's receivables back out of what was paid (claims.exit_netting). A redelivered event
        re-runs both and stores nothing new."""
        outcome = self._run(SavingsAccount, account_id(coop, member),
                            lambda a: a.settle(exited_on, self._entry_id(context)), context, actor)
        settled = [e.payload for e in (outcome.commit.events if outcome.commit else [])
                   if e.event_type == "ledger.SavingsSettled"]
        account = outcome.aggregate
        assert isinstance(account, SavingsAccount)
        day = settled[0]["date"] if settled else max([exited_on, *(m[0] for m in account.movements)])
        returned = sum(settled[0]["returned"].values()) if settled else sum(
            -m[2] for m in account.movements if m[0] == day and m[2] < 0)
        step = context.step("exit-books")
        entry_id = self._entry_id(step)
        self._run(Books, coop, lambda b: b.settle_exit(member, day, returned, entry_id), step, actor)

    def _open_account(self, coop: str, member: str, admission: dict[str, Any], context: CommandContext,
                      actor: Actor | None) -> None:
        """Enrolls the member in the books and opens the savings account (both idempotent by state)."""
        books = self._run(Books, coop, lambda b: b.enroll(member), context.step("enroll"), actor).aggregate
        assert isinstance(books, Books)
        self._run(SavingsAccount, account_id(coop, member), lambda a: a.open(
            coop, admission["admitted_on"], admission["pokok_amount"], admission["wajib_amount"],
            books.locked_through), context.step("open"), actor)

    def open_on_demand(self, coop: str, member: str, actor: Actor | None) -> bool:
        """Read your own writes: a savings command that finds no account asks membership (from its
        store) whether the member is admitted, and if so opens the account now, as the policy on
        MemberAdmitted would a few milliseconds later (both ways are idempotent: whichever comes
        second changes nothing). Bounded by the lookup's own timeout; no answer means 404. True when
        the account exists now."""
        if self.app.read(SavingsAccount, account_id(coop, member)).status != "new":
            return True  # opened meanwhile (the policy got there first): the command can run now
        if self.admission is None:
            return False
        admission = self.admission(coop, member)
        if not admission or admission.get("status") not in ("admitted", "suspended"):
            return False
        context = CommandContext.new(command_id=derived_id("ledger-open-on-demand", account_id(coop, member)))
        self._open_account(coop, member, admission, context, actor)
        return True

    # -- books --------------------------------------------------------------------------------------
    def add_account(self, cooperative_id: str, data: Any, context: dict | None = None) -> dict[str, Any]:
        fields = validated(AccountRequestSchema, data)
        code, name, kind = fields["code"], fields["name"], fields["type"]
        self._run(Books, cooperative_id, lambda b: b.add_account(code, name, kind),
                  CommandContext.from_wire(context), actor_from_wire(context))
        return {**fields, "normal_balance": NORMAL_BALANCE[fields["type"]], "balance": 0, "active": True}

    def change_account(self, cooperative_id: str, code: str, data: Any, context: dict | None = None
                       ) -> dict[str, Any]:
        fields = validated(AccountChangeSchema, data)
        self._run(Books, cooperative_id, lambda b: b.change_account(
            code, fields.get("name"), fields.get("active")), CommandContext.from_wire(context),
            actor_from_wire(context))
        return next(a for a in self.list_accounts(cooperative_id) if a["code"] == code)

    def remove_account(self, cooperative_id: str, code: str, context: dict | None = None) -> dict[str, Any]:
        account = next((a for a in self.list_accounts(cooperative_id) if a["code"] == code), None)
        self._run(Books, cooperative_id, lambda b: b.remove_account(code), CommandContext.from_wire(context),
                  actor_from_wire(context))
        return account or {}

    def post_journal_entry(self, cooperative_id: str, data: Any, context: dict | None = None
                           ) -> dict[str, Any]:
        return self._post(cooperative_id, data, CommandContext.from_wire(context), "manual", None,
                          actor_from_wire(context))

    def post_entry(self, cooperative_id: str, entry: Any, source: Any, context: dict | None = None
                   ) -> dict[str, Any]:
        """The integration path (see service.py): one posting per source id, ever."""
        origin = validated(SourceSchema, source)
        given = CommandContext.from_wire(context)
        key = f"{cooperative_id}:{origin['service']}:{origin['id']}"
        context_for_source = CommandContext(derived_id("ledger-source", key), given.correlation_id,
                                            given.causation_id)
        return self._post(cooperative_id, entry, context_for_source, "integration", origin,
                          actor_from_wire(context) or {"service": origin["service"], "source": origin["id"]})

    def _post(self, cooperative_id: str, data: Any, context: CommandContext, kind: str,
              source: dict[str, str] | None, actor: Actor | None) -> dict[str, Any]:
        fields = validated(JournalEntryRequestSchema, data)
        entry_id, today = self._entry_id(context), self.today()
        outcome = self._run(Books, cooperative_id, lambda b: b.post(
            entry_id, fields["date"], fields["memo"], fields["lines"], today, kind, source), context, actor)
        return entry_view(posted(outcome)[0])

    def reverse_journal_entry(self, cooperative_id: str, entry_id: str, context: dict | None = None
                              ) -> dict[str, Any]:
        """Answers with the reversed entry, its `reversed_by` and the `reversal` itself. An entry of
        the books is reversed there; a savings movement's entry lives in the member's savings
        stream (found through the journal read model) and is reversed there, balances included."""
        command, actor = CommandContext.from_wire(context), actor_from_wire(context)
        reversal_id, today = self._entry_id(command), self.today()
        books = self._books(cooperative_id)
        require_books_open(books.status, cooperative_id)
        stream = None if entry_id in books.entries else self._savings_stream(cooperative_id, entry_id)
        if stream is None:
            outcome = self._run(Books, cooperative_id, lambda b: b.reverse(entry_id, reversal_id), command,
                                actor)
        else:
            outcome = self._run(SavingsAccount, stream, lambda a: a.reverse(entry_id, reversal_id, today),
                                command, actor)
        reversal = posted(outcome)[0]
        original = self._journal().filter(pk=entry_id).first() or books.entries.get(entry_id) or {}
        return {"id": reversal["reverses"], "cooperative_id": cooperative_id, "date": reversal["date"],
                "kind": original.get("kind"), "memo": original.get("memo"), "lines": original.get("lines"),
                "reversed_by": reversal["entry_id"], "reversal": entry_view(reversal)}

    def _savings_stream(self, cooperative_id: str, entry_id: str) -> str | None:
        """The savings account holding `entry_id`, if the journal read model knows it as a savings
        movement of this cooperative."""
        doc = self._journal().filter(pk=entry_id).first()
        if doc is None or doc["cooperative_id"] != cooperative_id or doc["stream_id"] == cooperative_id:
            return None
        if doc["kind"] != "savings":
            raise DomainError("conflict", f"a {doc['kind']} entry cannot be reversed")
        return str(doc["stream_id"])

    def list_journal(self, cooperative_id: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """The journal (read model): every entry with its voucher number and who posted it."""
        wanted = validated(JournalQuerySchema, {k: v for k, v in (query or {}).items() if v is not None})
        self._books(cooperative_id)
        return journal_page(self._journal().filter(cooperative_id=cooperative_id), wanted)

    def _journal(self) -> Any:
        return documents(self.database, JournalEntryRow, JOURNAL_ENTRIES).as_pymongo()

    def list_accounts(self, cooperative_id: str) -> list[dict[str, Any]]:
        chart = self._books(cooperative_id).chart
        totals = reports.sum_days(self._days(cooperative_id, "9999-12-31"), None, "9999-12-31")
        return [{key: row[key] for key in ("code", "name", "type", "balance")}
                | {"normal_balance": NORMAL_BALANCE[row["type"]],
                   "active": chart[row["code"]].get("active", True)}
                for row in reports.trial_balance(chart, totals)["accounts"]]

    # -- savings ------------------------------------------------------------------------------------
    def deposit(self, cooperative_id: str, member_id: str, kind: str, data: Any, context: dict | None = None
                ) -> dict[str, Any]:
        saving = validated(SavingsKindSchema, {"kind": kind})["kind"]
        fields = validated(MovementRequestSchema, data)
        command, today, actor = CommandContext.from_wire(context), self.today(), actor_from_wire(context)
        entry_id = self._entry_id(command)
        outcome = self._savings(cooperative_id, member_id, lambda a: a.deposit(
            saving, fields["amount"], fields["date"], today, entry_id), command, actor)
        return self._savings_answer(outcome)

    def _savings(self, cooperative_id: str, member_id: str, command: Callable[[SavingsAccount], Any],
                 context: CommandContext, actor: Actor | None) -> Outcome:
        """A savings command, if the books take entries (not dissolved). An account not found is
        opened on demand when membership confirms the admission, and the command runs again:
        the lookup costs nothing on the usual path."""
        books = self.app.read(Books, cooperative_id)
        if books.status == "dissolved":
            require_books_open(books.status, cooperative_id)
        stream = account_id(cooperative_id, member_id)
        try:
            return self._run(SavingsAccount, stream, command, context, actor)
        except DomainError as error:
            if error.code != "not_found" or not self.open_on_demand(cooperative_id, member_id, actor):
                raise
        return self._run(SavingsAccount, stream, command, context, actor)

    def withdraw(self, cooperative_id: str, member_id: str, data: Any, context: dict | None = None
                 ) -> dict[str, Any]:
        fields = validated(MovementRequestSchema, data)
        command, today, actor = CommandContext.from_wire(context), self.today(), actor_from_wire(context)
        entry_id = self._entry_id(command)
        outcome = self._savings(cooperative_id, member_id, lambda a: a.withdraw(
            fields["amount"], fields["date"], today, entry_id), command, actor)
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
            opening = reports.sum_days(days, None, _day_before(start)) if start else None
            return {**head, **period, **reports.trial_balance(chart, reports.sum_days(days, start, end),
                                                              opening)}
        if name == "balance-sheet":
            return {**head, "as_of": end, **reports.balance_sheet(chart, reports.sum_days(days, None, end))}
        start = start or f"{end[:4]}-01-01"
        return {**head, "from": start, "to": end, **reports.income_statement(
            chart, reports.sum_days(days, start, end, closing=False),
            reports.sum_days(days, start, end, buckets=("members",)))}

    # -- year-end close -----------------------------------------------------------------------------
    def close_fiscal_year(self, cooperative_id: str, fiscal_year: Any, context: dict | None = None
                          ) -> dict[str, Any]:
        """Lock the year in the books, lock every member's savings through it, then compute and
        post SHU. Every step is idempotent, so a retried or concurrent close ends the same way."""
        year = validated(FiscalYearSchema, {"fiscal_year": fiscal_year})["fiscal_year"]
        command, today, actor = CommandContext.from_wire(context), self.today(), actor_from_wire(context)
        self._run(Books, cooperative_id, lambda b: b.begin_close(year, today), command.step("close-begin"),
                  actor)
        books = self.app.read(Books, cooperative_id)
        if str(year) in books.closed_years:
            return self.get_shu(cooperative_id, year)
        capital = {}
        for member in sorted(books.members):
            lock = CommandContext(derived_id("ledger-lock", f"{cooperative_id}:{year}:{member}"),
                                  command.correlation_id, command.causation_id)
            account = self._run(SavingsAccount, account_id(cooperative_id, member),
                                lambda a: a.lock_through(cooperative_id, year), lock, actor).aggregate
            assert isinstance(account, SavingsAccount)
            balances = account.balance_as_of(f"{year}-12-31")
            capital[member] = balances["pokok"] + balances["wajib"]
        entry_ids = tuple(derived_id("ledger-close", f"{cooperative_id}:{year}:{part}")
                          for part in ("results", "distribution", "loss-cover"))
        outcome = self._run(Books, cooperative_id, lambda b: b.finish_close(
            year, capital, today.isoformat(), entry_ids), command.step("close-finish"), actor)
        closed = [e.payload for e in (outcome.commit.events if outcome.commit else [])
                  if e.event_type == "ledger.FiscalYearClosed"]
        if not closed:
            return self.get_shu(cooperative_id, year)
        result = {key: closed[0].get(key, 0) for key in SHU_FIELDS}
        return {**result, "members": [{**row, "paid": False} for row in result["members"]]}

    def pay_shu(self, cooperative_id: str, fiscal_year: Any, data: Any, context: dict | None = None
                ) -> dict[str, Any]:
        """Pays every member's unpaid SHU of a closed year once, to sukarela or in cash. The books
        record the payment (and post the cash entry); then each sukarela payment is credited to the
        member's savings account with an id derived from (cooperative, year, member), so a retry
        completes a payout that stopped half-way and never credits twice. Members whose savings were
        settled on exit are paid in cash."""
        year = validated(FiscalYearSchema, {"fiscal_year": fiscal_year})["fiscal_year"]
        fields = validated(ShuPayoutSchema, data)
        command, today, actor = CommandContext.from_wire(context), self.today(), actor_from_wire(context)
        books = self._books(cooperative_id)
        unpaid = books.shu_owed.get(str(year), {})
        closed = frozenset(m for m in unpaid if self.app.read(
            SavingsAccount, account_id(cooperative_id, m)).status != "open")
        outcome = self._run(Books, cooperative_id, lambda b: b.pay_shu(
            year, fields["date"], fields["to"], today, self._entry_id(command), closed), command, actor)
        books = outcome.aggregate  # type: ignore[assignment]
        for member, paid in sorted(books.shu_paid.get(str(year), {}).items()):
            if paid["to"] == "sukarela":
                self._credit_shu(cooperative_id, year, member, paid, command, actor)
        return self.get_shu(cooperative_id, year)

    def _credit_shu(self, cooperative_id: str, year: int, member: str, paid: dict[str, Any],
                    command: CommandContext, actor: Actor | None) -> None:
        credit = CommandContext(derived_id("ledger-shu-credit", f"{cooperative_id}:{year}:{member}"),
                                command.correlation_id, command.causation_id)
        entry_id = self._entry_id(credit)
        self._run(SavingsAccount, account_id(cooperative_id, member), lambda a: a.receive_shu(
            year, paid["amount"], paid["date"], entry_id), credit, actor)

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
                doc = results.filter(pk=f"{cooperative_id}|{year}").as_pymongo().first()
        result = {key: doc.get(key, 0) for key in SHU_FIELDS}  # 0: closed before losses were carried
        paid = self._books(cooperative_id).shu_paid.get(str(year), {})  # fresh: answers right after a payout
        result["members"] = [{**row, "paid": row["member_id"] in paid} for row in result["members"]]
        if member_id is not None:
            result["members"] = [row for row in result["members"] if row["member_id"] == member_id]
        return result

    # -- helpers ------------------------------------------------------------------------------------
    def _run(self, cls: type[A], stream_id: str, command: Callable[[A], Any], context: CommandContext,
             actor: Actor | None = None) -> Outcome:
        outcome = self.app.execute(cls, stream_id, audited(command, actor), context)
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
        books = self.app.read(Books, cooperative_id)  # fresh: another process may have written
        if books.status not in ("open", "dissolved"):  # a dissolved cooperative's books stay readable
            raise not_found("books of cooperative", cooperative_id)
        return books

    def _account(self, cooperative_id: str, member_id: str) -> SavingsAccount:
        account = self.app.read(SavingsAccount, account_id(cooperative_id, member_id))
        if account.status == "new":
            raise not_found("savings account of member", member_id)
        return account

    def _days(self, cooperative_id: str, end: str):
        return documents(self.database, JournalDay, JOURNAL_DAYS).filter(
            cooperative_id=cooperative_id, date__lte=end).as_pymongo()
