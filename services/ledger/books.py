"""A cooperative's Books (stream id = cooperative id): the chart, the RAT resolutions, the
fiscal-year lock and every journal entry that is not a savings movement: manual, integration,
reversal and closing entries. Its state keeps the entries, results and member business of the
open years only (a closed year can never change again). The year-end lock across Books and the
savings accounts: services/ledger/domain.py.

Pure: standard library and shared only; commands take `today` and ids from the caller.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from shared.aggregate import DomainError, not_found

from . import accounting as acc
from . import claims
from .accounting import invalid
from .replayable import Replayable


class Books(Replayable):
    shares_state = True
    state_fields = ("reserve", "carried_loss", "shu_owed", "receivables", "used", "defaults")

    def __init__(self, id: str):
        super().__init__(id)
        self.status = "new"
        self.name = ""
        self.chart: dict[str, dict[str, Any]] = {}
        self.members: dict[str, bool] = {}
        self.closed_through = 0        # every year up to this one is locked
        self.closing = 0               # the year whose close has begun, until it is closed
        self.resolutions: dict[str, dict[str, Any]] = {}   # fiscal year -> RAT resolution
        self.closed_years: dict[str, dict[str, Any]] = {}  # fiscal year -> {shu, pools}
        self.entries: dict[str, dict[str, Any]] = {}       # open years only
        self.results: dict[str, dict[str, int]] = {}       # year -> income/expense account -> credit − debit
        self.business: dict[str, dict[str, int]] = {}      # year -> member -> jasa usaha basis
        self.reserve = 0        # balance of the reserve (3103): only the books' own entries move it
        self.carried_loss = 0   # losses of closed years not yet covered (a debit balance of 3104)
        self.shu_owed: dict[str, dict[str, int]] = {}               # year -> member -> unpaid SHU
        self.shu_paid: dict[str, dict[str, dict[str, Any]]] = {}    # year -> member -> {amount, to, date}
        self.receivables: dict[str, dict[str, int]] = {}            # member -> account -> balance
        self.used: list[str] = []   # accounts the books' own entries have lines on (never deletable)
        self.defaults: list[str] = []  # the default chart's codes merged into `chart` (see with_defaults)

    @classmethod
    def from_snapshot(cls, state: dict[str, Any], copy: bool = True) -> Any:
        books = super().from_snapshot(state, copy)
        if books.status != "new":
            books.with_defaults()  # the default chart may have grown since the snapshot was taken
        return books

    def with_defaults(self) -> None:
        """Every account of the default chart is in every cooperative's books, whenever they were
        opened: books opened before the chart grew (financing added 2107, 2108, 4105, 5103-5105) get
        the accounts added since, as if opened with them. A default account once merged and then
        removed stays removed (`defaults` remembers what was merged); a stored name or type wins."""
        missing = [account for account in acc.DEFAULT_CHART if account[0] not in self.defaults]
        if not missing:
            return
        # A new chart, not the old one changed: a read-only state may share the old one (from_snapshot
        # with copy=False, for Application.read)
        chart = dict(self.chart)
        for code, label, kind in missing:
            chart.setdefault(code, {"name": label, "type": kind})
        self.chart = chart
        self.defaults = sorted({*self.defaults, *(code for code, _, _ in acc.DEFAULT_CHART)})

    @property
    def locked_through(self) -> int:
        return max(self.closed_through, self.closing)

    # -- commands ----------------------------------------------------------------------------------
    def open(self, cooperative_id: str, name: str, opened_on: str) -> None:
        if self.status != "new":
            return  # opened already: a repeated registration event changes nothing
        accounts = [{"code": code, "name": label, "type": kind} for code, label, kind in acc.DEFAULT_CHART]
        self.trigger("BooksOpened", cooperative_id=cooperative_id, name=name, opened_on=opened_on,
                     accounts=accounts)

    def add_account(self, code: str, name: str, type: str) -> None:
        self._require_open()
        if code in self.chart:
            raise DomainError("conflict", f"account {code} already exists", {"code": ["already exists"]})
        if type not in acc.ACCOUNT_TYPES:
            raise invalid("type", f"type must be one of {', '.join(acc.ACCOUNT_TYPES)}")
        self.trigger("AccountAdded", cooperative_id=self.id, code=code, name=name, type=type)

    def change_account(self, code: str, name: str | None = None, active: bool | None = None) -> None:
        """Renames, deactivates (no new lines) or reactivates an account. The accounts the ledger
        posts to itself (cash, savings, SHU, reserve, pools, member receivables) stay active."""
        self._require_open()
        account = self._account(code)
        if name is not None and name != account["name"]:
            self.trigger("AccountRenamed", cooperative_id=self.id, code=code, name=name)
        if active is not None and active != account.get("active", True):
            if not active and code in acc.LEDGER_POSTED:
                raise DomainError("account_in_use", f"account {code} is posted to by the ledger itself")
            self.trigger("AccountActivationChanged", cooperative_id=self.id, code=code, active=active)

    def remove_account(self, code: str) -> None:
        """Only an account nothing was ever posted to, and not one the ledger posts to itself."""
        self._require_open()
        self._account(code)
        if code in acc.LEDGER_POSTED or code in self.used:
            raise DomainError("account_has_movements", f"account {code} has movements (or the ledger posts "
                              "to it): deactivate it instead")
        self.trigger("AccountRemoved", cooperative_id=self.id, code=code)

    def _account(self, code: str) -> dict[str, Any]:
        if code not in self.chart:
            raise not_found("account", code)
        return self.chart[code]

    def enroll(self, member_id: str) -> None:
        self._require_open()
        if member_id not in self.members:
            self.trigger("MemberEnrolled", cooperative_id=self.id, member_id=member_id)

    def record_resolution(self, fiscal_year: int, held_on: str, allocation: dict[str, int]) -> None:
        self._require_open()
        if str(fiscal_year) in self.resolutions or fiscal_year <= self.locked_through:
            return
        self.trigger("RatResolutionRecorded", cooperative_id=self.id, fiscal_year=fiscal_year,
                     held_on=held_on,
                     shu_allocation={pool: allocation.get(pool, 0) for pool in acc.SHU_POOLS})

    def correct_resolution(self, fiscal_year: int, held_on: str, allocation: dict[str, int]) -> None:
        """Membership's AnnualMeetingCorrected: the close uses the corrected resolution. Refused once
        the year's close has begun (422 fiscal_year_closed); unchanged: no event."""
        self._require_open()
        if fiscal_year <= self.locked_through:
            raise DomainError("fiscal_year_closed", f"fiscal year {fiscal_year} is closed: its RAT "
                              "resolution stands")
        pools = {pool: allocation.get(pool, 0) for pool in acc.SHU_POOLS}
        resolution = {"held_on": held_on, "shu_allocation": pools}
        if self.resolutions.get(str(fiscal_year)) != resolution:
            self.trigger("RatResolutionCorrected", cooperative_id=self.id, fiscal_year=fiscal_year,
                         **resolution)

    def post(self, entry_id: str, day: str, memo: str, lines: list[dict[str, Any]], today: date,
             kind: str = "manual", source: dict[str, str] | None = None) -> dict[str, Any]:
        self._require_open()
        acc.require_open_date(day, self.locked_through, today)
        if entry_id in self.entries:
            raise DomainError("conflict", f"entry {entry_id} already exists")
        reserved = tuple(acc.SAVINGS_ACCOUNT.values())
        clean = acc.checked_lines(lines, self.chart, self.members, reserved)
        payload = acc.entry_payload(self.id, entry_id, day, memo, kind, clean, self.chart, source=source)
        self.trigger("JournalEntryPosted", **payload)
        return payload

    def reverse(self, entry_id: str, reversal_id: str) -> dict[str, Any]:
        """The reversing entry mirrors the original, on the original's date (so in the same
        open fiscal year); an entry is reversed at most once and a reversal never."""
        self._require_open()
        original = self.entries.get(entry_id)
        if original is None:
            raise not_found("journal entry", entry_id)
        if original["reversed_by"]:
            raise DomainError("conflict", f"entry {entry_id} was reversed by {original['reversed_by']}")
        if original["kind"] in ("reversal", "closing", "shu_payout"):
            raise DomainError("conflict", f"a {original['kind']} entry cannot be reversed")
        if acc.fiscal_year(original["date"]) <= self.locked_through:
            raise DomainError("fiscal_year_closed", f"the fiscal year of entry {entry_id} is closed")
        payload = acc.entry_payload(self.id, reversal_id, original["date"], f"reversal of {entry_id}",
                                    "reversal", acc.reversed_lines(original["lines"]), self.chart,
                                    reverses=entry_id)
        self.trigger("JournalEntryPosted", **payload)
        self.trigger("JournalEntryReversed", cooperative_id=self.id, entry_id=entry_id,
                     reversal_id=reversal_id)
        return payload

    def begin_close(self, fiscal_year: int, today: date) -> None:
        """Locks the year against new entries; no event if it is closing or closed already."""
        self._require_open()
        if str(fiscal_year) in self.closed_years or self.closing == fiscal_year:
            return
        if fiscal_year <= self.closed_through:
            raise DomainError("fiscal_year_closed", f"{fiscal_year} was locked by the close of "
                              f"{self.closed_through}")
        if self.closing:
            raise DomainError("conflict", f"the close of {self.closing} is in progress")
        if fiscal_year >= today.year:
            raise DomainError("fiscal_year_not_ended", f"fiscal year {fiscal_year} has not ended")
        if str(fiscal_year) not in self.resolutions:
            raise DomainError("rat_resolution_missing", f"no RAT resolution for {fiscal_year} is recorded")
        earlier = sorted(int(y) for y, r in self.results.items() if int(y) < fiscal_year and any(r.values()))
        if earlier:
            raise DomainError("earlier_fiscal_year_open",
                              f"close {earlier[0]} first: it has income or expenses")
        self.trigger("FiscalYearClosing", cooperative_id=self.id, fiscal_year=fiscal_year)

    def finish_close(self, fiscal_year: int, modal_basis: dict[str, int], closed_on: str,
                     entry_ids: tuple[str, ...]) -> dict[str, Any] | None:
        """Closes income and expenses into current-year SHU (3104) on 31 December and locks the year.

        A loss is covered from the reserve (3103) up to its balance, on 31 December too; the rest
        is carried forward as a debit balance of 3104 (`carried_loss`). A profit first covers a
        loss carried from earlier years; what is left is distributed into the RAT's pools. The
        distribution is dated the RAT's date (`held_on`, in the next, open year, never before the
        year that follows the close): it is the RAT's decision, so the closed year's balance sheet
        shows the SHU undivided and never changes after the RAT. Returns the SHU result; None if
        the year was closed already. `entry_ids`: results, distribution, loss cover."""
        self._require_open()
        if str(fiscal_year) in self.closed_years:
            return None
        if self.closing != fiscal_year:
            raise DomainError("conflict", f"the close of {fiscal_year} has not begun")
        results = self.results.get(str(fiscal_year), {})
        shu = sum(results.values())
        resolution = self.resolutions[str(fiscal_year)]
        carried = self.carried_loss
        covered_carried = min(max(shu, 0), carried)
        reserve_used = min(max(-shu, 0), max(self.reserve, 0))
        carried += max(-shu, 0) - reserve_used - covered_carried
        result = acc.shu_distribution(shu - covered_carried, resolution["shu_allocation"], modal_basis,
                                      self.business.get(str(fiscal_year), {}))
        year_end, entries = acc.year_end(fiscal_year), []
        closing = [acc.line(code, debit=max(net, 0), credit=max(-net, 0))
                   for code, net in sorted(results.items()) if net]
        if closing:
            closing.append(acc.line(acc.CURRENT_SHU, debit=max(-shu, 0), credit=max(shu, 0)))
            entries.append((entry_ids[0], year_end, "income and expenses closed into SHU",
                            [x for x in closing if x["debit"] or x["credit"]]))
        if reserve_used:
            cover = [acc.line(acc.RESERVE, debit=reserve_used),
                     acc.line(acc.CURRENT_SHU, credit=reserve_used)]
            entries.append((entry_ids[2], year_end, f"loss {fiscal_year} covered from the reserve", cover))
        if result["shu"] > 0:
            day = max(resolution["held_on"], f"{fiscal_year + 1}-01-01")
            entries.append((entry_ids[1], day, f"SHU {fiscal_year} distributed by the RAT",
                            _distribution(result)))
        for entry_id, day, memo, lines in entries:
            self.trigger("JournalEntryPosted", **acc.entry_payload(self.id, entry_id, day, memo, "closing",
                                                                  lines, self.chart))
        outcome = {**result, "shu": shu, "loss_covered_by_reserve": reserve_used,
                   "carried_loss_covered": covered_carried, "carried_loss": carried}
        self.trigger("FiscalYearClosed", cooperative_id=self.id, fiscal_year=fiscal_year, date=closed_on,
                     entry_ids=[entry[0] for entry in entries], **outcome)
        return {"cooperative_id": self.id, "fiscal_year": fiscal_year, "date": closed_on, **outcome}

    def pay_shu(self, fiscal_year: int, day: str, to: str, today: date, entry_id: str,
                cash_only: frozenset[str] = frozenset()) -> None:
        """Pays every member's unpaid SHU of a closed year once: in cash (one entry here), or to
        sukarela (recorded here as paid; the application then credits each member's savings
        account, whose stream holds 2101). `cash_only`: members whose savings are settled."""
        self._require_open()
        if str(fiscal_year) not in self.closed_years:
            raise DomainError("fiscal_year_not_closed", f"fiscal year {fiscal_year} is not closed")
        acc.require_open_date(day, self.locked_through, today)
        held_on = self.resolutions[str(fiscal_year)]["held_on"]
        if day < held_on:
            raise invalid("date", f"the SHU of {fiscal_year} is owed from the RAT on {held_on}")
        unpaid = sorted(self.shu_owed.get(str(fiscal_year), {}).items())
        if not unpaid:
            return
        cash = [(m, amount) for m, amount in unpaid if m in cash_only or to == "cash"]
        paid = [{"member_id": m, "amount": amount, "to": "cash" if (m, amount) in cash else to}
                for m, amount in unpaid]
        self.trigger("ShuPaidOut", cooperative_id=self.id, fiscal_year=fiscal_year, date=day, members=paid,
                     entry_id=entry_id if cash else None)
        if cash:
            lines = [acc.line(acc.SHU_PAYABLE, debit=amount, member_id=m) for m, amount in cash]
            lines.append(acc.line(acc.CASH, credit=sum(amount for _, amount in cash)))
            self.trigger("JournalEntryPosted", **acc.entry_payload(
                self.id, entry_id, day, f"SHU {fiscal_year} paid in cash", "shu_payout", lines, self.chart))

    def settle_exit(self, member: str, day: str, returned: int, entry_id: str) -> None:
        """The books' side of an exit (after the savings were returned): unpaid SHU paid, the
        member's receivables netted (claims.exit_netting). Nothing to do: no event."""
        self._require_open()
        owed = {year: members[member] for year, members in self.shu_owed.items() if member in members}
        day = max(day, f"{self.locked_through + 1}-01-01")
        netted, lines = claims.exit_netting(self.receivables.get(member, {}), sum(owed.values()), returned,
                                            member)
        if not lines:
            return
        self.trigger("ExitSettled", cooperative_id=self.id, member_id=member, date=day, shu_paid=owed,
                     receivables_netted=netted, entry_id=entry_id)
        self.trigger("JournalEntryPosted", **acc.entry_payload(
            self.id, entry_id, day, "exit: SHU paid, receivables netted", "shu_payout", lines, self.chart))

    def dissolve(self, dissolved_on: str) -> None:
        """From membership's CooperativeDissolved: the books take no entry from then on."""
        if self.status == "open":
            self.trigger("BooksDissolved", cooperative_id=self.id, dissolved_on=dissolved_on)

    def _require_open(self) -> None:
        require_books_open(self.status, self.id)

    # -- events ------------------------------------------------------------------------------------
    # An apply method changes only what `_own` hands it, or assigns new values (shares_state): a
    # command then starts from the cached state itself, not from a copy of the open year's entries
    # (~24 ms at 3,000 entries, per command), and copies only the dicts it changes (shallowly).
    def apply_ShuPaidOut(self, data: dict) -> None:
        year = str(data["fiscal_year"])
        owed, paid = self._own("shu_owed", year), self._own("shu_paid", year)
        for row in data["members"]:
            owed.pop(row["member_id"], None)
            paid[row["member_id"]] = {"amount": row["amount"], "to": row["to"], "date": data["date"]}

    def apply_ExitSettled(self, data: dict) -> None:
        for year, amount in data["shu_paid"].items():
            self._own("shu_owed", year).pop(data["member_id"], None)
            self._own("shu_paid", year)[data["member_id"]] = {"amount": amount, "to": "exit",
                                                              "date": data["date"]}

    def apply_BooksDissolved(self, data: dict) -> None:
        self.status = "dissolved"

    def apply_BooksOpened(self, data: dict) -> None:
        self.cooperative_id, self.name, self.status = data["cooperative_id"], data["name"], "open"
        self.chart = {a["code"]: {"name": a["name"], "type": a["type"]} for a in data["accounts"]}
        self.with_defaults()

    def apply_AccountAdded(self, data: dict) -> None:
        self._own("chart")[data["code"]] = {"name": data["name"], "type": data["type"]}

    def apply_AccountRenamed(self, data: dict) -> None:
        self._own("chart", data["code"])["name"] = data["name"]

    def apply_AccountActivationChanged(self, data: dict) -> None:
        self._own("chart", data["code"])["active"] = data["active"]

    def apply_AccountRemoved(self, data: dict) -> None:
        del self._own("chart")[data["code"]]

    def apply_MemberEnrolled(self, data: dict) -> None:
        self._own("members")[data["member_id"]] = True

    def apply_RatResolutionRecorded(self, data: dict) -> None:
        self._own("resolutions")[str(data["fiscal_year"])] = {"held_on": data["held_on"],
                                                              "shu_allocation": data["shu_allocation"]}

    apply_RatResolutionCorrected = apply_RatResolutionRecorded

    def apply_JournalEntryPosted(self, data: dict) -> None:
        year, lines = str(acc.fiscal_year(data["date"])), data["lines"]
        self.reserve += sum(x["credit"] - x["debit"] for x in lines if x["account"] == acc.RESERVE)
        for member, account, change in claims.receivable_changes(lines):
            owed = self._own("receivables", member)
            owed[account] = owed.get(account, 0) + change
        if any(x["account"] not in self.used for x in lines):
            self.used = sorted({*self.used, *(x["account"] for x in lines)})
        self._own("entries")[data["entry_id"]] = {"date": data["date"], "memo": data["memo"],
                                                  "kind": data["kind"], "lines": lines, "reversed_by": None}
        results = self._own("results", year)
        for entry_line in lines:
            if self.chart[entry_line["account"]]["type"] in ("income", "expense"):
                code = entry_line["account"]
                results[code] = results.get(code, 0) + entry_line["credit"] - entry_line["debit"]
        if data["member_business"]:
            business = self._own("business", year)
            for share in data["member_business"]:
                business[share["member_id"]] = business.get(share["member_id"], 0) + share["amount"]

    def apply_JournalEntryReversed(self, data: dict) -> None:
        self._own("entries", data["entry_id"])["reversed_by"] = data["reversal_id"]

    def apply_FiscalYearClosing(self, data: dict) -> None:
        self.closing = data["fiscal_year"]

    def apply_FiscalYearClosed(self, data: dict) -> None:
        year = data["fiscal_year"]
        self.closed_through, self.closing = max(self.closed_through, year), 0
        self._own("closed_years")[str(year)] = {"shu": data["shu"], "pools": data["pools"]}
        self.carried_loss = data.get("carried_loss", self.carried_loss)
        self._own("shu_owed")[str(year)] = {row["member_id"]: row["total"] for row in data["members"]}
        self.entries = {k: e for k, e in self.entries.items() if acc.fiscal_year(e["date"]) > year}
        self.results = {y: r for y, r in self.results.items() if int(y) > year}
        self.business = {y: b for y, b in self.business.items() if int(y) > year}


def require_books_open(status: str, cooperative_id: str) -> None:
    if status == "dissolved":
        raise DomainError("cooperative_dissolved", f"cooperative {cooperative_id} is dissolved: its books "
                          "take no entries")
    if status != "open":
        raise not_found("books of cooperative", cooperative_id)


def _distribution(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Debits current-year SHU by what is distributed (`result["shu"]`: after any carried loss)."""
    lines = [acc.line(acc.CURRENT_SHU, debit=result["shu"])]
    for pool in acc.SHU_POOLS:
        if pool not in ("jasa_modal", "jasa_usaha") and result["pools"][pool]:
            lines.append(acc.line(acc.POOL_ACCOUNT[pool], credit=result["pools"][pool]))
    for row in result["members"]:
        lines.append(acc.line(acc.SHU_PAYABLE, credit=row["total"], member_id=row["member_id"]))
    return lines
