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
from shared.audit import Actor, actor_from_wire, audited, caused_by
from shared.consumer import Subscription
from shared.envelope import Envelope, derived_id, utc_now
from shared.eventstore import StoreUnavailable
from shared.kernel import Kernel
from shared.projection import documents
from shared.validation import validated

from .domain import Cooperative, Member, NikClaim
from .health_application import HealthQueries
from .nik import claim_id, legacy_claim_id, nik_digest
from .projections import (
    DIRECTORY,
    MEMBER_LIST,
    CooperativeEntry,
    MemberEntry,
    admitted_on,
    member_view,
    page,
    profile,
)
from .schemas import (
    AnnualMeetingCorrectionSchema,
    AnnualMeetingSchema,
    CooperativeFiltersSchema,
    CooperativeRegistrationSchema,
    MemberApplicationSchema,
    MemberCorrectionSchema,
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
        self.health = HealthQueries(kernel, today)

    # -- cooperatives -------------------------------------------------------------------------
    def register_cooperative(self, data: dict, context: dict | None) -> dict:
        fields = validated(CooperativeRegistrationSchema, data)
        cooperative_id = derived_id("cooperative", fields["registration_number"])
        fields["founded_on"] = fields["founded_on"].isoformat()
        outcome = self._run(Cooperative, cooperative_id, lambda cooperative: cooperative.register(
            **fields, today=self.today(), now=utc_now()), CommandContext.from_wire(context),
            actor_from_wire(context))
        return self._profile(outcome.aggregate.snapshot_state())

    def dissolve_cooperative(self, cooperative_id: str, context: dict | None) -> dict:
        outcome = self._run(Cooperative, cooperative_id, lambda cooperative: cooperative.dissolve(
            self.today().isoformat()), CommandContext.from_wire(context), actor_from_wire(context))
        return self._profile(outcome.aggregate.snapshot_state())

    def get_cooperative(self, cooperative_id: str) -> dict:
        doc = self._directory().filter(pk=cooperative_id).as_pymongo().first()
        if doc is None:
            # Just registered and not yet projected (read models lag by milliseconds): a
            # client that creates and then reads must not get a 404.
            cooperative = self.app.load(Cooperative, cooperative_id)
            if not cooperative.exists:
                raise not_found("cooperative", cooperative_id)
            doc = cooperative.snapshot_state()
        return self._profile(doc)

    def list_cooperatives(self, filters: dict | None, limit: int | None, cursor: str | None) -> dict:
        # An absent filter may arrive as None (e.g. an unset query parameter): not a filter.
        given = {key: value for key, value in (filters or {}).items() if value is not None}
        wanted = validated(CooperativeFiltersSchema, given)
        paging = self._paging(limit, cursor)
        query: dict[str, Any] = {key: wanted[key] for key in ("regency", "kind", "status") if key in wanted}
        if "ids" in wanted:
            query["pk__in"] = wanted["ids"]

        def keep(doc: dict) -> bool:  # healthy depends on today, so it is filtered here
            return "healthy" not in wanted or self._flags(doc)["healthy"] == wanted["healthy"]

        docs, after = page(self._directory().filter(**query), paging["limit"], paging["cursor"], keep)
        return {"items": [self._profile(doc) for doc in docs], "next": after}

    def cooperative_bylaws(self, cooperative_id: str) -> dict:
        return dict(self._existing_cooperative(cooperative_id).bylaws)

    def network_health(self, today: str | None = None) -> dict:
        return self.health.network_health(self._day(today, "today"))

    # -- members ------------------------------------------------------------------------------
    def apply_member(self, cooperative_id: str, data: dict, context: dict | None) -> dict:
        fields = validated(MemberApplicationSchema, data)
        fields["joined_on"] = fields["joined_on"].isoformat()
        ctx, actor = CommandContext.from_wire(context), actor_from_wire(context)
        member_id = derived_id("member", ctx.command_id)
        earlier = self.app.read(Member, member_id)
        if earlier.exists:  # a retry of an application that was completed: the same answer
            if earlier.cooperative_id != cooperative_id or earlier.nik != fields["nik"]:
                raise DomainError("conflict", "this command id was already used for another application")
            return earlier.to_dict()
        self.app.read(Cooperative, cooperative_id).ensure_accepts_members()
        # Two steps, two streams: first the NIK claim (the uniqueness check, decided by the
        # store at version 0), then the member. Both are keyed by the command id, so a retry
        # finds the claim already its own and creates the member. A crash between the steps
        # leaves a claim without a member: a retry completes it; if none comes, the claim
        # counts as abandoned after ORPHAN_CLAIM_AFTER and the NIK can be claimed again.
        self._claim_nik(cooperative_id, fields["nik"], member_id, ctx.step("claim-nik"), actor)
        outcome = self._run(Member, member_id, lambda member: member.apply_for(
            cooperative_id=cooperative_id, **fields, today=self.today()), ctx, actor)
        assert isinstance(outcome.aggregate, Member)
        return outcome.aggregate.to_dict()

    def change_member_status(self, cooperative_id: str, member_id: str, action: str,
                             context: dict | None, on: str | None = None, reason: str | None = None) -> dict:
        """admit, reject, suspend, reinstate or exit, dated `on` (default today). A reject or an exit
        frees the member's NIK (a second step; if it is lost, the next claim takes over)."""
        request = validated(MemberStatusChangeSchema, {"action": action, "date": on, "reason": reason})
        day = (request["date"] or self.today()).isoformat()
        self._member(cooperative_id, member_id)
        ctx, actor = CommandContext.from_wire(context), actor_from_wire(context)

        def change(member: Member) -> None:
            if action == "admit":
                # Loaded inside the command so that a retry sees the cooperative as it is now.
                cooperative = self.app.read(Cooperative, cooperative_id)
                cooperative.ensure_accepts_members()
                member.admit(day, cooperative.bylaws)
            elif action == "exit":
                member.exit(day, request["reason"] or "resigned")
            else:
                getattr(member, action)(day)

        outcome = self._run(Member, member_id, change, ctx, actor)
        member = outcome.aggregate
        assert isinstance(member, Member)
        if action in ("exit", "reject"):
            self._release_nik(cooperative_id, member.nik, member_id, ctx, actor)
        return member.to_dict()

    def correct_member(self, cooperative_id: str, member_id: str, data: dict, context: dict | None) -> dict:
        """Corrects name, phone and/or NIK. A new NIK is claimed first (the uniqueness check), then
        recorded on the member, then the old one is released; each step has its own command id
        derived from the request's, so a retry completes a request that stopped half-way, and a
        claim left behind by one that never returns lapses (NikClaim._abandoned)."""
        fields = validated(MemberCorrectionSchema, data)
        member = self._member(cooperative_id, member_id)
        ctx, actor = CommandContext.from_wire(context), actor_from_wire(context)
        old_nik, new_nik = member.nik, fields.get("nik")
        if new_nik is not None and new_nik != old_nik:
            member.correct(nik=new_nik)  # refuses an ended member before anything is claimed
            self._claim_nik(cooperative_id, new_nik, member_id, ctx.step("claim-nik"), actor)
        outcome = self._run(Member, member_id, lambda m: m.correct(**fields), ctx, actor)
        if new_nik is not None and new_nik != old_nik:
            self._release_nik(cooperative_id, old_nik, member_id, ctx, actor)
        corrected = outcome.aggregate
        assert isinstance(corrected, Member)
        return corrected.to_dict()

    def _claim_nik(self, cooperative_id: str, nik: str, member_id: str, context: CommandContext,
                   actor: Actor | None) -> None:
        """Claims the NIK's digest (services/membership/nik.py). A claim stored before digests (its
        id holds the number) still keeps the NIK from others while its holder is a live member."""
        digest = nik_digest(nik)
        legacy = self.app.read(NikClaim, legacy_claim_id(cooperative_id, nik))
        if legacy.exists and legacy.member_id not in (None, member_id):
            holder = self._holder(legacy.member_id)
            if legacy.blocks(holder.status if holder else None, utc_now(), holder.nik if holder else None):
                raise DomainError("conflict", "this NIK already belongs to a member of this cooperative")

        def claim(holder: NikClaim) -> None:
            current = self._holder(holder.member_id)
            holder.claim(cooperative_id=cooperative_id, nik_digest=digest, member_id=member_id,
                         holder_status=current.status if current else None, now=utc_now(),
                         holder_digest=nik_digest(current.nik) if current else None)

        self._run(NikClaim, claim_id(cooperative_id, nik), claim, context, actor)

    def _release_nik(self, cooperative_id: str, nik: str, member_id: str, context: CommandContext,
                     actor: Actor | None) -> None:
        self._run(NikClaim, claim_id(cooperative_id, nik), lambda claim: claim.release(member_id),
                  context.step("release-nik"), actor)
        legacy = self.app.read(NikClaim, legacy_claim_id(cooperative_id, nik))
        if legacy.exists and legacy.member_id == member_id:
            self._run(NikClaim, legacy.id, lambda claim: claim.release(member_id),
                      context.step("release-legacy-nik"), actor)

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

    def member_admission(self, cooperative_id: str, member_id: str) -> dict | None:
        """For the ledger's read-your-own-writes (it opens a savings account on demand): the
        member's status and admission terms, from the store (the answer is acted on at once)."""
        member = self.app.read(Member, member_id)
        if not member.exists or member.cooperative_id != cooperative_id:
            return None
        return {"status": member.status, "admitted_on": member.admitted_on,
                "pokok_amount": member.pokok_amount, "wajib_amount": member.wajib_amount}

    # -- annual meeting (RAT) ---------------------------------------------------------------
    def record_annual_meeting(self, cooperative_id: str, data: dict, context: dict | None) -> dict:
        fields = validated(AnnualMeetingSchema, data)
        self._existing_cooperative(cooperative_id)
        admitted = self._admitted_members(cooperative_id, fields["held_on"].isoformat())
        outcome = self._run(Cooperative, cooperative_id, lambda cooperative: cooperative.hold_annual_meeting(
            fiscal_year=fields["fiscal_year"], held_on=fields["held_on"].isoformat(),
            attendees=fields["attendees"], shu_allocation=fields["shu_allocation"],
            admitted_members=admitted), CommandContext.from_wire(context), actor_from_wire(context))
        assert outcome.commit is not None  # the command always triggers or raises
        held = outcome.commit.events[0].payload
        return {"cooperative_id": cooperative_id, "quorum_reached": True,
                **{key: held[key] for key in ("fiscal_year", "held_on", "attendees", "admitted_members",
                                              "shu_allocation")}}

    def correct_annual_meeting(self, cooperative_id: str, fiscal_year: Any, data: dict,
                               context: dict | None) -> dict:
        """Corrects a recorded RAT (attendance, held_on, SHU allocation) until the ledger closes its
        year: membership learns the close from ledger.FiscalYearClosing/Closed (close_policy), the
        ledger follows the correction from AnnualMeetingCorrected (docs/books.md)."""
        year = _fiscal_year(fiscal_year)
        fields = validated(AnnualMeetingCorrectionSchema, data)
        recorded = self._existing_cooperative(cooperative_id).annual_meetings.get(str(year))
        if recorded is None:
            raise DomainError("not_found", f"no RAT for fiscal year {year} is recorded")
        held_on = fields["held_on"].isoformat() if "held_on" in fields else recorded["held_on"]
        admitted = self._admitted_members(cooperative_id, held_on)
        attendees = fields.get("attendees", recorded["attendees"])
        allocation = fields.get("shu_allocation", recorded["shu_allocation"])
        outcome = self._run(Cooperative, cooperative_id, lambda coop: coop.correct_annual_meeting(
            fiscal_year=year, held_on=held_on, attendees=attendees, shu_allocation=allocation,
            admitted_members=admitted), CommandContext.from_wire(context), actor_from_wire(context))
        assert isinstance(outcome.aggregate, Cooperative)
        meeting = outcome.aggregate.annual_meetings[str(year)]
        return {"cooperative_id": cooperative_id, "fiscal_year": year, "quorum_reached": True,
                **{key: meeting[key] for key in ("held_on", "attendees", "admitted_members",
                                                 "shu_allocation")}}

    def record_fiscal_year_closed(self, event: Envelope, context: CommandContext) -> None:
        """The ledger began closing or closed a year: its RAT is final from now on."""
        if not event.cooperative_id:
            return
        year = event.payload["fiscal_year"]
        try:
            self.app.execute(Cooperative, event.cooperative_id, audited(
                lambda cooperative: cooperative.record_fiscal_year_closed(year, event.event_id),
                caused_by(event)), context)
        except DomainError as error:
            if error.code != "not_found":
                raise
            log.info("ignored %s for unknown cooperative %s", event.event_type, event.cooperative_id)

    def _admitted_members(self, cooperative_id: str, held_on: str) -> int:
        """Members admitted on `held_on` (the RAT's quorum counts them), from the member list once it
        has applied every event stored so far.

        Why the read model and not a counter on the Cooperative: member transitions are stored on
        the members' own streams; the member list derives each member's dated status changes from
        those events (and can be rebuilt), and waiting for it to reach the store's head makes the
        count exact as of this command.
        """
        members = next(p for p in self.kernel.definition.projections if p.name == MEMBER_LIST)
        checkpoint = self.kernel.projections.checkpoint_name(members)
        head = self.kernel.store.head()
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while self.kernel.projections.checkpoints.load(checkpoint) < head:  # incl. what it keeps back
            if time.monotonic() > deadline:
                raise StoreUnavailable("the member count is still catching up; nothing was stored, try again")
            time.sleep(0.01)
        docs = documents(self.kernel.database, MemberEntry, MEMBER_LIST).filter(
            cooperative_id=cooperative_id).as_pymongo()
        return sum(admitted_on(doc, held_on) for doc in docs)

    # -- helpers ------------------------------------------------------------------------------
    def _run(self, cls: type[A], stream_id: str, command: Callable[[A], Any],
             context: CommandContext, actor: Actor | None = None) -> Outcome:
        outcome = self.app.execute(cls, stream_id, audited(command, actor), context)
        commit = outcome.commit
        if commit is not None and (commit.stream_type, commit.stream_id) != (cls.stream_type, stream_id):
            # The command id was first used for a different request: never answer for that one.
            raise DomainError("conflict", "this command id was already used for another request")
        return outcome

    def _flags(self, state: dict) -> dict[str, bool]:
        return self.health.flags_of(state["id"], state["status"])

    def _profile(self, state: dict) -> dict:
        return profile(state, self._flags(state))

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

    def _holder(self, member_id: str | None) -> Member | None:
        if member_id is None:
            return None
        member = self.app.read(Member, member_id)
        return member if member.exists else None

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


def _fiscal_year(value: Any) -> int:
    try:
        year = int(value)
    except (TypeError, ValueError):
        year = 0
    if not 1900 <= year <= 2999:
        raise DomainError("validation_error", "fiscal_year is a year", {"fiscal_year": ["Not a valid year."]})
    return year


# The ledger's close makes a RAT final: membership refuses corrections from FiscalYearClosing on
# (the ledger, which decides, refuses entries from then on), FiscalYearClosed covers a close begun
# before this subscription existed.
CLOSE_EVENTS = ["ledger.FiscalYearClosed", "ledger.FiscalYearClosing"]


def close_policy(kernel: Kernel) -> Subscription:
    return Subscription("ledger-closes", CLOSE_EVENTS, Membership(kernel).record_fiscal_year_closed)
