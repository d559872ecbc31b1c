"""Read models of the books. Reports sum them at query time (reports.py), so any as-of date or
period is answered from the same documents, live or rebuilt.

* journal_days: per cooperative and date, debit and credit totals per account, with closing
  entries kept apart (an income statement shows the year's results, not their closing), and
  (`members`) the part of them on lines naming a member (partisipasi anggota).
* journal_entries: every entry as posted, with its reversal, its store position (voucher
  numbers, journal.py) and who posted it (`actor`).

Documents projected before `members`, `position` and `actor` existed lack them: rebuild the
read models (`kopnet projections rebuild ledger NAME`) to fill them in; until then they read as empty.
* member_movements: per member, every savings movement and every jasa usaha amount.
* shu_results: per cooperative and closed fiscal year, the SHU and its distribution.
"""
from __future__ import annotations

from mongoengine import BooleanField, DictField, DynamicField, IntField, ListField, StringField

from shared.envelope import Envelope
from shared.projection import Projection, ReadModel, View

JOURNAL_DAYS = "ledger_journal_days"
JOURNAL_ENTRIES = "ledger_journal_entries"
MEMBER_MOVEMENTS = "ledger_member_movements"
SHU_RESULTS = "ledger_shu_results"


def day_id(cooperative_id: str, day: str) -> str:
    return f"{cooperative_id}|{day}"


# -- the read models as the query side declares them (dates are YYYY-MM-DD strings) --------------
class JournalDay(ReadModel):
    """Per cooperative and date: account -> [debit, credit], ordinary postings and closing apart."""

    meta = {"collection": "journal_days", "indexes": [("cooperative_id", "date")]}
    cooperative_id = StringField()
    date = StringField()
    totals = DictField()
    closing = DictField()


class JournalEntryRow(ReadModel):
    meta = {"collection": "journal_entries", "indexes": [("cooperative_id", "date")]}
    cooperative_id = StringField()
    date = StringField()
    memo = StringField()
    kind = StringField()
    lines = ListField(DictField())
    business_activity = BooleanField()
    source = DictField(null=True)
    reverses = StringField(null=True)
    reversed_by = StringField(null=True)
    stream_id = StringField()


class MemberMovement(ReadModel):
    meta = {"collection": "member_movements", "indexes": [("cooperative_id", "member_id")]}
    cooperative_id = StringField()
    member_id = StringField()
    date = StringField()
    entry_id = StringField(null=True)
    position = IntField()
    kind = StringField()
    movement = StringField()
    amount = IntField()


class ShuResult(ReadModel):
    """`_id` is "<cooperative>|<fiscal year>"."""

    meta = {"collection": "shu_results"}
    cooperative_id = StringField()
    fiscal_year = IntField()
    date = StringField()
    shu = IntField()
    pools = DictField()
    members = ListField(DynamicField())


class JournalDays(Projection):
    name = JOURNAL_DAYS
    collections = ("journal_days",)
    documents = (JournalDay,)
    handles = frozenset({"ledger.JournalEntryPosted"})

    def handle(self, event: Envelope, view: View) -> None:
        payload = event.payload
        doc_id = day_id(payload["cooperative_id"], payload["date"])
        doc = view.get("journal_days", doc_id) or {"cooperative_id": payload["cooperative_id"],
                                                    "date": payload["date"], "totals": {}, "closing": {}}
        bucket = doc["closing"] if payload["kind"] == "closing" else doc["totals"]
        members = doc.setdefault("members", {})
        for line in payload["lines"]:
            _add(bucket, line)
            if line.get("member_id") and payload["kind"] != "closing":
                _add(members, line)
        view.put("journal_days", doc_id, doc)


def _add(bucket: dict[str, list[int]], line: dict) -> None:
    debit, credit = bucket.get(line["account"], [0, 0])
    bucket[line["account"]] = [debit + line["debit"], credit + line["credit"]]


class JournalEntries(Projection):
    name = JOURNAL_ENTRIES
    collections = ("journal_entries",)
    documents = (JournalEntryRow,)
    handles = frozenset({"ledger.JournalEntryPosted", "ledger.JournalEntryReversed"})

    def handle(self, event: Envelope, view: View) -> None:
        payload = event.payload
        if event.name == "JournalEntryReversed":
            doc = view.get("journal_entries", payload["entry_id"])
            if doc is not None:
                doc["reversed_by"] = payload["reversal_id"]
                view.put("journal_entries", payload["entry_id"], doc)
            return
        view.create("journal_entries", payload["entry_id"], {
            **{key: payload[key] for key in ("cooperative_id", "date", "memo", "kind", "lines",
                                              "business_activity", "source", "reverses")},
            "id": payload["entry_id"], "reversed_by": None, "stream_id": event.stream_id,
            "position": event.position, "actor": payload.get("actor")})


class MemberMovements(Projection):
    name = MEMBER_MOVEMENTS
    collections = ("member_movements",)
    documents = (MemberMovement,)
    handles = frozenset({"ledger.SavingsDeposited", "ledger.SavingsWithdrawn", "ledger.SavingsSettled",
                         "ledger.SavingsMovementReversed", "ledger.ShuCredited", "ledger.JournalEntryPosted"})

    def handle(self, event: Envelope, view: View) -> None:
        payload = event.payload
        base = {"cooperative_id": payload["cooperative_id"], "date": payload.get("date"),
                "entry_id": payload.get("entry_id"), "position": event.position}
        if event.name == "JournalEntryPosted":
            for share in payload["member_business"]:
                view.create("member_movements", f"{event.event_id}:{share['member_id']}", {
                    **base, "member_id": share["member_id"], "kind": "jasa_usaha", "movement": "business",
                    "amount": share["amount"]})
            return
        if event.name == "SavingsSettled":
            movements = [(kind, -amount) for kind, amount in sorted(payload["returned"].items()) if amount]
            movement = "return"
        elif event.name == "ShuCredited":
            movements, movement = [("sukarela", payload["amount"])], "shu"
        elif event.name == "SavingsMovementReversed":
            movements, movement = [(payload["kind"], payload["amount"])], "reversal"
            base["entry_id"] = payload["reversal_id"]
        else:
            sign = 1 if event.name == "SavingsDeposited" else -1
            movements = [(payload["kind"], sign * payload["amount"])]
            movement = "deposit" if sign > 0 else "withdrawal"
        for kind, amount in movements:
            view.create("member_movements", f"{event.event_id}:{kind}", {
                **base, "member_id": payload["member_id"], "kind": kind, "movement": movement,
                "amount": amount})


class ShuResults(Projection):
    name = SHU_RESULTS
    collections = ("shu_results",)
    documents = (ShuResult,)
    handles = frozenset({"ledger.FiscalYearClosed"})

    def handle(self, event: Envelope, view: View) -> None:
        payload = event.payload
        view.put("shu_results", f"{payload['cooperative_id']}|{payload['fiscal_year']}", {
            key: payload.get(key, 0) for key in ("cooperative_id", "fiscal_year", "date", "shu", "pools",
                                                 "members", "loss_covered_by_reserve", "carried_loss_covered",
                                                 "carried_loss")})


PROJECTIONS = (JournalDays, JournalEntries, MemberMovements, ShuResults)
