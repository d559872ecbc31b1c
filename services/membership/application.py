"""Membership use cases: validate at the edge, load → command → save through the kernel.

Command answers are built from `outcome.aggregate` (read models lag the store); queries
read the projections.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from shared.aggregate import Aggregate, DomainError, not_found
from shared.application import CommandContext, Outcome
from shared.consumer import Subscription
from shared.envelope import Envelope, derived_id, utc_now
from shared.eventstore import StoreUnavailable
from shared.kernel import Kernel
from shared.projection import documents
from shared.validation import validated

from .domain import (
    ACTIVITY_EVENTS,
    REPORTING_EVENTS,
    Cooperative,
    Member,
    NikClaim,
    counts_as_activity,
    health,
)
from .projections import DIRECTORY, MEMBER_LIST, CooperativeEntry, MemberEntry, member_view, page, profile
from .schemas import (
    AnnualMeetingSchema,
    CooperativeFiltersSchema,
    CooperativeRegistrationSchema,
    MemberApplicationSchema,
    MemberListFiltersSchema,
    MemberStatusChangeSchema,
    PageRequestSchema,
    local_today,
)

log = logging.getLogger(__name__)
A = TypeVar("A", bound=Aggregate)
CATCH_UP_SECONDS = 5.0





class Membership:
    def __init__(self, kernel: Kernel, today: Callable[[], date] = local_today):
        self.kernel = kernel
        self.app = kernel.application
        self.today = today

    # -- cooperatives -------------------------------------------------------------------------
    def register_cooperative(self, data: dict, context: dict | None) -> dict:
        fields = validated(CooperativeRegistrationSchema, data)
        cooperative_id = derived_id("cooperative", fields["registration_number"])
        fields["founded_on"] = fields["founded_on"].isoformat()
        outcome = self._run(Cooperative, cooperative_id, lambda cooperative: cooperative.register(
            **fields, today=self.today(), now=utc_now()), CommandContext.from_wire(context))
        return profile(outcome.aggregate.snapshot_state(), self.today())

    def dissolve_cooperative(self, cooperative_id: str, context: dict | None) -> dict:
        today = self.today()
        outcome = self._run(Cooperative, cooperative_id, lambda cooperative: cooperative.dissolve(
            today.isoformat()), CommandContext.from_wire(context))
        return profile(outcome.aggregate.snapshot_state(), today)

    def get_cooperative(self, cooperative_id: str) -> dict:
        doc = self._directory().filter(pk=cooperative_id).as_pymongo().first()
        if doc is None:
            # Just registered and not yet projected (read models lag by milliseconds): a
            # client that creates and then reads must not get a 404.
            cooperative = self.app.load(Cooperative, cooperative_id)
            if not cooperative.exists:
                raise not_found("cooperative", cooperative_id)
            doc = cooperative.snapshot_state()
        return profile(doc, self.today())

    def list_cooperatives(self, filters: dict | None, limit: int | None, cursor: str | None) -> dict:
        # An absent filter may arrive as None (e.g. an unset query parameter): not a filter.
        given = {key: value for key, value in (filters or {}).items() if value is not None}
        wanted = validated(CooperativeFiltersSchema, given)
        paging = self._paging(limit, cursor)
        query: dict[str, Any] = {key: wanted[key] for key in ("regency", "kind", "status") if key in wanted}
        if "ids" in wanted:
            query["pk__in"] = wanted["ids"]
        today = self.today()

        def keep(doc: dict) -> bool:  # healthy depends on today, so it is filtered here
            return "healthy" not in wanted or health(doc, today)["healthy"] == wanted["healthy"]

        docs, after = page(self._directory().filter(**query), paging["limit"], paging["cursor"], keep)
        return {"items": [profile(doc, today) for doc in docs], "next": after}

    def cooperative_bylaws(self, cooperative_id: str) -> dict:
        return dict(self._existing_cooperative(cooperative_id).bylaws)

    def network_health(self, today: str | None = None) -> dict:
        day = self._day(today, "today")
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        # Dissolved cooperatives are no longer part of the network the regulator watches.
        for doc in self._directory().filter(status="active").no_cache().as_pymongo():
            row = rows.setdefault((doc["regency"], doc["kind"]), {
                "regency": doc["regency"], "kind": doc["kind"], "registered": 0, "active": 0,
                "rat_compliant": 0, "reporting_online": 0, "healthy": 0})
            row["registered"] += 1
            for flag, value in health(doc, day).items():
                row[flag] += value
        return {"items": [rows[key] for key in sorted(rows)]}

    # -- members ------------------------------------------------------------------------------
    def apply_member(self, cooperative_id: str, data: dict, context: dict | None) -> dict:
        fields = validated(MemberApplicationSchema, data)
        fields["joined_on"] = fields["joined_on"].isoformat()
        ctx = CommandContext.from_wire(context)
        member_id = derived_id("member", ctx.command_id)
        earlier = self.app.load(Member, member_id, fresh=True)
        if earlier.exists:  # a retry of an application that was completed: the same answer
            if earlier.cooperative_id != cooperative_id or earlier.nik != fields["nik"]:
                raise DomainError("conflict", "this command id was already used for another application")
            return earlier.to_dict()
        self.app.load(Cooperative, cooperative_id, fresh=True).ensure_accepts_members()
        # Two steps, two streams: first the NIK claim (the uniqueness check, decided by the
        # store at version 0), then the member. Both are keyed by the command id, so a retry
        # finds the claim already its own and creates the member. A crash between the steps
        # leaves a claim without a member: a retry completes it; if none comes, the claim
        # counts as abandoned after ORPHAN_CLAIM_AFTER and the NIK can be claimed again.
        nik = fields["nik"]
        self._run(NikClaim, f"{cooperative_id}:{nik}", lambda claim: claim.claim(
            cooperative_id=cooperative_id, nik=nik, member_id=member_id,
            holder_status=self._member_status(claim.member_id), now=utc_now()), ctx.step("claim-nik"))
        outcome = self._run(Member, member_id, lambda member: member.apply_for(
            cooperative_id=cooperative_id, **fields, today=self.today()), ctx)
        assert isinstance(outcome.aggregate, Member)
        return outcome.aggregate.to_dict()

    def change_member_status(self, cooperative_id: str, member_id: str, action: str,
                             context: dict | None, on: str | None = None) -> dict:
        request = validated(MemberStatusChangeSchema, {"action": action, **({"on": on} if on else {})})
        day = (request["on"] or self.today()).isoformat()
        self._member(cooperative_id, member_id)
        ctx = CommandContext.from_wire(context)

        def change(member: Member) -> None:
            if action == "admit":
                # Loaded inside the command so that a retry sees the cooperative as it is now.
                cooperative = self.app.load(Cooperative, cooperative_id, fresh=True)
                cooperative.ensure_accepts_members()
                member.admit(day, cooperative.bylaws)
            else:
                getattr(member, action)(day)

        outcome = self._run(Member, member_id, change, ctx)
        member = outcome.aggregate
        assert isinstance(member, Member)
        if action == "exit":
            # Second step; if it is lost, the next claim sees an exited holder and takes over.
            self._run(NikClaim, f"{cooperative_id}:{member.nik}", lambda claim: claim.release(member_id),
                      ctx.step("release-nik"))
        return member.to_dict()

    def get_member(self, cooperative_id: str, member_id: str) -> dict:
        members = documents(self.kernel.database, MemberEntry, MEMBER_LIST)
        doc = members.filter(pk=member_id).as_pymongo().first()
        if doc is None:  # applied a moment ago, not yet projected
            return self._member(cooperative_id, member_id).to_dict()
        if doc["cooperative_id"] != cooperative_id:
            raise not_found("member", member_id)
        return member_view(doc)

    def list_members(self, cooperative_id: str, limit: int | None, cursor: str | None,
                     status: str | None = None) -> dict:
        paging = self._paging(limit, cursor)
        query: dict[str, Any] = {"cooperative_id": cooperative_id}
        if status is not None:
            query["status"] = validated(MemberListFiltersSchema, {"status": status})["status"]
        docs, after = page(documents(self.kernel.database, MemberEntry, MEMBER_LIST).filter(**query),
                           paging["limit"], paging["cursor"])
        return {"items": [member_view(doc) for doc in docs], "next": after}

    def member_status(self, cooperative_id: str, member_id: str) -> str | None:
        # From the store, not the read model: other services act on the answer.
        member = self.app.load(Member, member_id)
        return member.status if member.exists and member.cooperative_id == cooperative_id else None

    # -- annual meeting (RAT) ---------------------------------------------------------------
    def record_annual_meeting(self, cooperative_id: str, data: dict, context: dict | None) -> dict:
        fields = validated(AnnualMeetingSchema, data)
        self._existing_cooperative(cooperative_id)
        admitted = self._admitted_members(cooperative_id)
        outcome = self._run(Cooperative, cooperative_id, lambda cooperative: cooperative.hold_annual_meeting(
            fiscal_year=fields["fiscal_year"], held_on=fields["held_on"].isoformat(),
            attendees=fields["attendees"], shu_allocation=fields["shu_allocation"],
            admitted_members=admitted), CommandContext.from_wire(context))
        assert outcome.commit is not None  # the command always triggers or raises
        held = outcome.commit.events[0].payload
        return {"cooperative_id": cooperative_id, "quorum_reached": True,
                **{key: held[key] for key in ("fiscal_year", "held_on", "attendees", "admitted_members",
                                              "shu_allocation")}}

    def _admitted_members(self, cooperative_id: str) -> int:
        """The admitted count of the directory once it has applied every event stored so far.

        Why the read model and not a counter on the Cooperative: member transitions are
        stored on the member's stream, so a counter on another stream would be a second,
        separate write that a crash or a retry could lose or double, drifting for good. The
        directory derives the count from the member events themselves (and can be rebuilt);
        waiting for it to reach the store's head makes the count exact as of this command.
        """
        directory = next(p for p in self.kernel.definition.projections if p.name == DIRECTORY)
        checkpoint = self.kernel.projections.checkpoint_name(directory)
        head = self.kernel.store.head()
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while self.kernel.projections.checkpoints.load(checkpoint) < head:  # incl. what it keeps back
            if time.monotonic() > deadline:
                raise StoreUnavailable("the member count is still catching up; nothing was stored, try again")
            time.sleep(0.01)
        doc = self._directory().filter(pk=cooperative_id).only("admitted_members").as_pymongo().first()
        return doc["admitted_members"] if doc else 0

    # -- health inputs from other services' events (a policy) ---------------------------------
    def record_health_input(self, event: Envelope, context: CommandContext) -> None:
        """Activity and reporting dates, recorded once per event and only when later."""
        if event.event_type in REPORTING_EVENTS:
            record = Cooperative.record_online_report
        elif counts_as_activity(event.event_type, event.payload):
            record = Cooperative.record_activity
        else:
            return
        if not event.cooperative_id:
            return
        day = _event_date(event)
        try:
            self.app.execute(Cooperative, event.cooperative_id,
                             lambda cooperative: record(cooperative, day, event.event_id, event.event_type),
                             context)
        except DomainError as error:
            if error.code != "not_found":
                raise
            log.info("ignored %s for unknown cooperative %s", event.event_type, event.cooperative_id)

    # -- helpers ------------------------------------------------------------------------------
    def _run(self, cls: type[A], stream_id: str, command: Callable[[A], Any],
             context: CommandContext) -> Outcome:
        outcome = self.app.execute(cls, stream_id, command, context)
        commit = outcome.commit
        if commit is not None and (commit.stream_type, commit.stream_id) != (cls.stream_type, stream_id):
            # The command id was first used for a different request: never answer for that one.
            raise DomainError("conflict", "this command id was already used for another request")
        return outcome

    def _directory(self):
        return documents(self.kernel.database, CooperativeEntry, DIRECTORY)

    def _existing_cooperative(self, cooperative_id: str) -> Cooperative:
        cooperative = self.app.load(Cooperative, cooperative_id)
        if not cooperative.exists:
            raise not_found("cooperative", cooperative_id)
        return cooperative

    def _member(self, cooperative_id: str, member_id: str) -> Member:
        member = self.app.load(Member, member_id)
        if not member.exists or member.cooperative_id != cooperative_id:
            raise not_found("member", member_id)
        return member

    def _member_status(self, member_id: str | None) -> str | None:
        if member_id is None:
            return None
        member = self.app.load(Member, member_id, fresh=True)
        return member.status if member.exists else None

    def _paging(self, limit: int | None, cursor: str | None) -> dict[str, Any]:
        given = {"limit": limit} if limit is not None else {}
        return validated(PageRequestSchema, {**given, "cursor": cursor})

    def _day(self, text: str | None, name: str) -> date:
        if text is None:
            return self.today()
        try:
            return date.fromisoformat(text)
        except (TypeError, ValueError):
            raise DomainError("validation_error", f"{name} is not a date",
                              {name: ["Not a valid date."]}) from None


def _event_date(event: Envelope) -> str:
    """payload["date"] when it is a date (or an instant), else the day the event occurred."""
    text = event.payload.get("date")
    if isinstance(text, str):
        try:
            return date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            pass
    return event.occurred_at[:10]


def health_inputs_policy(kernel: Kernel) -> Subscription:
    # Every ledger posting comes through here and nearly all change nothing (a date already
    # recorded): no processed marks, the command ids derived from the events keep it once.
    return Subscription("health-inputs", sorted(ACTIVITY_EVENTS | REPORTING_EVENTS),
                        Membership(kernel).record_health_input, remember=False)

