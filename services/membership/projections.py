"""Read models: the cooperative directory (with the health inputs and the admitted count)
and the member list. Health has a projection of its own (health_view.py)."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from typing import Any

from mongoengine import BooleanField, DictField, IntField, ListField, StringField

from shared.aggregate import DomainError
from shared.envelope import Envelope
from shared.projection import Projection, ReadModel, View

DIRECTORY = "cooperative_directory"
MEMBER_LIST = "member_list"

_PROFILE_FIELDS = ("name", "registration_number", "kind", "regency", "is_pesantren", "founded_on",
                   "bylaws", "registered_at")
# How each member event moves the cooperative's count of admitted members.
_ADMITTED_DELTA = {"MemberAdmitted": 1, "MemberSuspended": -1, "MemberReinstated": 1}


class CooperativeEntry(ReadModel):
    """A cooperative in the directory: its profile, the health inputs and the admitted count."""

    meta = {"collection": "cooperatives", "indexes": [("status", "regency", "kind")]}
    name = StringField()
    registration_number = StringField()
    kind = StringField()
    regency = StringField()
    is_pesantren = BooleanField()
    founded_on = StringField()
    bylaws = DictField()
    registered_at = StringField()
    status = StringField()
    rat_fiscal_years = ListField(IntField())
    last_activity_on = StringField(null=True)
    last_report_on = StringField(null=True)
    admitted_members = IntField()


class MemberEntry(ReadModel):
    meta = {"collection": "members", "indexes": [("cooperative_id", "status")]}
    cooperative_id = StringField()
    name = StringField()
    nik = StringField()
    phone = StringField()
    joined_on = StringField()
    status = StringField()


class CooperativeDirectory(Projection):
    name = DIRECTORY
    collections = ("cooperatives",)
    documents = (CooperativeEntry,)
    handles = frozenset(f"membership.{name}" for name in (
        "CooperativeRegistered", "CooperativeDissolved", "AnnualMeetingHeld", "BusinessActivityRecorded",
        "OnlineReportRecorded", "MemberAdmitted", "MemberSuspended", "MemberReinstated", "MemberExited"))

    def handle(self, event: Envelope, view: View) -> None:
        payload = event.payload
        doc_id = payload["cooperative_id"]
        if event.name == "CooperativeRegistered":
            view.create("cooperatives", doc_id, {
                **{key: payload[key] for key in _PROFILE_FIELDS}, "id": doc_id, "status": "active",
                "rat_fiscal_years": [], "last_activity_on": None, "last_report_on": None,
                "admitted_members": 0})
            return
        doc = view.get("cooperatives", doc_id)
        if doc is None:
            return
        if event.name == "CooperativeDissolved":
            doc["status"] = "dissolved"
        elif event.name == "AnnualMeetingHeld":
            doc["rat_fiscal_years"] = sorted({*doc["rat_fiscal_years"], payload["fiscal_year"]})
        elif event.name == "BusinessActivityRecorded":
            doc["last_activity_on"] = payload["on"]
        elif event.name == "OnlineReportRecorded":
            doc["last_report_on"] = payload["on"]
        elif event.name == "MemberExited":
            doc["admitted_members"] -= payload["previous_status"] == "admitted"
        else:
            doc["admitted_members"] += _ADMITTED_DELTA[event.name]
        view.put("cooperatives", doc_id, doc)


_DATE_FIELDS = ("admitted_on", "suspended_on", "reinstated_on", "exited_on", "rejected_on")


def admitted_on(doc: dict[str, Any], day: str) -> bool:
    """Whether the member (a member list document) was admitted on `day`: the last status change
    dated on or before it. Documents projected before `history` existed answer with their current
    status (rebuild the member list to make them exact)."""
    if "history" not in doc:
        return doc["status"] == "admitted"
    changes = [c["status"] for c in sorted(doc["history"], key=lambda change: change["on"]) if c["on"] <= day]
    return bool(changes) and changes[-1] == "admitted"


class MemberList(Projection):
    name = MEMBER_LIST
    collections = ("members",)
    documents = (MemberEntry,)
    handles = frozenset(f"membership.{name}" for name in (
        "MemberApplied", "MemberAdmitted", "MemberSuspended", "MemberReinstated", "MemberExited",
        "MemberRejected", "MemberDetailsCorrected"))
    _STATUS = {"MemberAdmitted": "admitted", "MemberSuspended": "suspended",
               "MemberReinstated": "admitted", "MemberExited": "exited", "MemberRejected": "rejected"}

    def handle(self, event: Envelope, view: View) -> None:
        payload = event.payload
        if event.name == "MemberApplied":
            view.create("members", event.stream_id, {
                "id": event.stream_id, "status": "applied",
                **{key: payload[key] for key in ("cooperative_id", "name", "nik", "phone", "joined_on")}})
            return
        doc = view.get("members", event.stream_id)
        if doc is None:
            return
        if event.name == "MemberDetailsCorrected":
            doc.update({key: payload[key] for key in ("name", "phone", "nik") if key in payload})
        else:
            doc["status"] = self._STATUS[event.name]
            day = next(payload[key] for key in _DATE_FIELDS if key in payload)
            # objects, not pairs: FerretDB v1 stores no nested arrays
            doc["history"] = [*doc.get("history", []), {"on": day, "status": doc["status"]}]
        if event.name == "MemberExited":
            doc["exit_reason"] = payload["reason"]
        view.put("members", event.stream_id, doc)


# -- reading -------------------------------------------------------------------------------------
def profile(state: dict[str, Any], flags: dict[str, bool]) -> dict[str, Any]:
    """The public cooperative profile, from a directory document or a Cooperative's state, with
    its health flags (health.py, computed by the caller from the health projection)."""
    return {"id": state["id"], **{key: state[key] for key in _PROFILE_FIELDS}, "status": state["status"],
            "health": flags}


def member_view(doc: dict[str, Any]) -> dict[str, Any]:
    fields = ("id", "cooperative_id", "name", "nik", "phone", "joined_on", "status")
    return {**{key: doc[key] for key in fields}, "exit_reason": doc.get("exit_reason")}


Keep = Callable[[dict[str, Any]], bool]


def page(documents: Any, limit: int, cursor: str | None,
         keep: Keep = lambda doc: True) -> tuple[list[dict[str, Any]], str | None]:
    """Documents of the QuerySet `documents` in `_id` order after the cursor; `next` is set
    only when more remain."""
    after = _decode(cursor)
    if after is not None:
        documents = documents.filter(pk__gt=after)
    found: list[dict[str, Any]] = []
    for doc in _scan(documents):
        if keep(doc):
            if len(found) == limit:
                return found, _encode(found[-1]["_id"])
            found.append(doc)
    return found, None


def _scan(documents: Any) -> Iterator[dict[str, Any]]:
    yield from documents.order_by("pk").batch_size(500).no_cache().as_pymongo()


def _encode(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise DomainError("validation_error", "invalid cursor", {"cursor": ["invalid cursor"]}) from None
