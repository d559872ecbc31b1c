"""Membership: cooperatives, their members and NIK claims (health: health*.py).

Pure: standard library and shared.aggregate only. Dates travel as ISO strings
(`YYYY-MM-DD`) so that state and events stay plain JSON; commands take `today`/`now`
from the caller so that nothing here reads a clock.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from shared.aggregate import Aggregate, DomainError

KINDS = ("ksp", "kspps", "konsumen", "produsen", "pemasaran", "jasa")

# West Java's 27 regencies and cities (18 kabupaten, 9 kota), as slugs.
REGENCIES = (
    "kabupaten-bogor", "kabupaten-sukabumi", "kabupaten-cianjur", "kabupaten-bandung",
    "kabupaten-garut", "kabupaten-tasikmalaya", "kabupaten-ciamis", "kabupaten-kuningan",
    "kabupaten-cirebon", "kabupaten-majalengka", "kabupaten-sumedang", "kabupaten-indramayu",
    "kabupaten-subang", "kabupaten-purwakarta", "kabupaten-karawang", "kabupaten-bekasi",
    "kabupaten-bandung-barat", "kabupaten-pangandaran",
    "kota-bogor", "kota-sukabumi", "kota-bandung", "kota-cirebon", "kota-bekasi", "kota-depok",
    "kota-cimahi", "kota-tasikmalaya", "kota-banjar",
)

SHU_POOLS = ("reserve", "jasa_modal", "jasa_usaha", "board", "staff", "education", "social")

# Quorum: a RAT is quorate when attendance *exceeds* `quorum_percent` percent of the admitted
# members, i.e. attendees * 100 > admitted * quorum_percent. The default 50 is therefore
# exactly the law's "more than half" (10 admitted: 6 needed; 1000 admitted: 501 needed), which
# no "at least N percent" reading of 51 gives. Range 1..99 (100 could never be exceeded).
DEFAULT_BYLAWS = {"pokok_amount": 100_000, "wajib_amount": 25_000, "quorum_percent": 50}

# A NIK claim whose member stream never appeared is abandoned after this long: the request
# that made it crashed between its two steps (see Membership.apply_member in application.py).
ORPHAN_CLAIM_AFTER = timedelta(minutes=5)


EXIT_REASONS = ("resigned", "expelled", "deceased")
# Which lifecycle step each action is, from which statuses (applied → admitted ⇄ suspended → exited,
# or applied → rejected). Anything else is 422 illegal_transition (409 stays for races and duplicates).
TRANSITIONS = {"admit": {"applied"}, "reject": {"applied"}, "suspend": {"admitted"},
               "reinstate": {"suspended"}, "exit": {"admitted", "suspended"}}
# A member in one of these no longer holds a NIK: their claim may be taken over.
ENDED = ("exited", "rejected")


def nik_problem(nik: str) -> str | None:
    """The first plausibility rule the NIK (KTP number) breaks, or None.

    Layout (Permendagri): 2 digits province (11–94), 2 regency, 2 district, DDMMYY birth date
    (women: DD + 40), 4 digits serial (not 0000). A date counts as real when it exists in either
    century the two-digit year may mean (29 February of "00" exists in 2000). The messages name
    the rule, never the digits: they end up in logs, and a NIK is personal data (UU PDP).
    """
    if not (len(nik) == 16 and nik.isascii() and nik.isdigit()):
        return "NIK is exactly 16 digits"
    if not 11 <= int(nik[:2]) <= 94:
        return "NIK province code (digits 1–2) is not a province (11–94)"
    day, month, year = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    day = day - 40 if day > 40 else day
    if not any(_real_date(century + year, month, day) for century in (1900, 2000)):
        return "NIK birth date (digits 7–12, DDMMYY, women DD+40) is not a real date"
    if nik[12:] == "0000":
        return "NIK serial (digits 13–16) is 0000"
    return None


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def conflict(message: str) -> DomainError:
    return DomainError("conflict", message)


def invalid(field: str, message: str) -> DomainError:
    return DomainError("validation_error", message, {field: [message]})


def quorum_reached(attendees: int, admitted: int, quorum_percent: int) -> bool:
    return attendees * 100 > admitted * quorum_percent


class Cooperative(Aggregate):
    """Id = derived_id("cooperative", registration_number): creating the stream at version 0
    is the network-wide uniqueness check of the registration number."""

    # 2: annual_meetings and closed_fiscal_years joined the state (older snapshots are replayed).
    snapshot_version = 2

    def __init__(self, id: str):
        super().__init__(id)
        self.status = "new"
        self.name = self.registration_number = self.kind = self.regency = ""
        self.is_pesantren = False
        self.founded_on = self.registered_at = ""
        self.bylaws: dict[str, int] = dict(DEFAULT_BYLAWS)
        self.rat_fiscal_years: list[int] = []
        # fiscal year -> the RAT as recorded (and corrected): held_on, attendees, admitted_members,
        # quorum_percent, shu_allocation. Years the ledger closed (or began closing) take no correction.
        self.annual_meetings: dict[str, dict[str, Any]] = {}
        self.closed_fiscal_years: list[int] = []
        self.last_activity_on: str | None = None
        self.last_report_on: str | None = None

    # -- commands ---------------------------------------------------------------------------
    def register(self, *, name: str, registration_number: str, kind: str, regency: str,
                 is_pesantren: bool, founded_on: str, bylaws: Mapping[str, int], today: date,
                 now: str) -> None:
        if self.exists:
            raise conflict(f"registration number {registration_number} is already registered")
        if kind not in KINDS:
            raise invalid("kind", f"kind must be one of {', '.join(KINDS)}")
        if regency not in REGENCIES:
            raise invalid("regency", "regency must be one of West Java's 27 kabupaten/kota")
        if date.fromisoformat(founded_on) > today:
            raise invalid("founded_on", "founded_on must not be in the future")
        self.trigger("CooperativeRegistered", cooperative_id=self.id, name=name,
                registration_number=registration_number, kind=kind, regency=regency,
                is_pesantren=is_pesantren, founded_on=founded_on,
                bylaws={**DEFAULT_BYLAWS, **bylaws}, registered_at=now)

    def dissolve(self, on: str) -> None:
        self._require_exists()
        if self.status == "dissolved":
            raise conflict(f"cooperative {self.id} is already dissolved")
        self.trigger("CooperativeDissolved", cooperative_id=self.id, dissolved_on=on)

    def ensure_accepts_members(self) -> None:
        self._require_exists()
        if self.status == "dissolved":
            raise DomainError("cooperative_dissolved", f"cooperative {self.id} is dissolved")

    def hold_annual_meeting(self, *, fiscal_year: int, held_on: str, attendees: int,
                            shu_allocation: Mapping[str, int], admitted_members: int) -> None:
        self._require_exists()
        if fiscal_year in self.rat_fiscal_years:
            raise conflict(f"the RAT for fiscal year {fiscal_year} is already recorded")
        meeting = self._checked_meeting(fiscal_year, held_on, attendees, shu_allocation, admitted_members)
        self.trigger("AnnualMeetingHeld", cooperative_id=self.id, fiscal_year=fiscal_year, **meeting)

    def correct_annual_meeting(self, *, fiscal_year: int, held_on: str, attendees: int,
                               shu_allocation: Mapping[str, int], admitted_members: int) -> None:
        """Corrects a recorded RAT (the caller merges the unchanged fields in) while its fiscal year
        is open in the ledger; the same rules as recording it. Nothing changed: no event."""
        self._require_exists()
        if str(fiscal_year) not in self.annual_meetings:
            raise DomainError("not_found", f"no RAT for fiscal year {fiscal_year} is recorded")
        if fiscal_year in self.closed_fiscal_years:
            raise DomainError("fiscal_year_closed", f"fiscal year {fiscal_year} is closed in the books: "
                              "its RAT can no longer be corrected")
        meeting = self._checked_meeting(fiscal_year, held_on, attendees, shu_allocation, admitted_members)
        if meeting != self.annual_meetings[str(fiscal_year)]:
            self.trigger("AnnualMeetingCorrected", cooperative_id=self.id, fiscal_year=fiscal_year, **meeting)

    def _checked_meeting(self, fiscal_year: int, held_on: str, attendees: int,
                         shu_allocation: Mapping[str, int], admitted_members: int) -> dict[str, Any]:
        if date.fromisoformat(held_on) <= date(fiscal_year, 12, 31):
            raise invalid("held_on", f"a RAT for {fiscal_year} is held after that fiscal year ends")
        allocation = validated_allocation(shu_allocation)
        if attendees > admitted_members:
            raise invalid("attendees", f"attendees exceed the {admitted_members} admitted members")
        quorum = self.bylaws["quorum_percent"]
        if not quorum_reached(attendees, admitted_members, quorum):
            raise DomainError("quorum_not_reached",
                              f"{attendees} of {admitted_members} admitted members attended; more than "
                              f"{quorum}% must attend")
        return {"held_on": held_on, "attendees": attendees, "admitted_members": admitted_members,
                "quorum_percent": quorum, "shu_allocation": allocation}

    def record_fiscal_year_closed(self, fiscal_year: int, source_event_id: str) -> None:
        """From the ledger's FiscalYearClosing/FiscalYearClosed: from then on the year's RAT stands."""
        self._require_exists()
        if fiscal_year not in self.closed_fiscal_years:
            self.trigger("FiscalYearCloseRecorded", cooperative_id=self.id, fiscal_year=fiscal_year,
                         source_event_id=source_event_id)

    def _require_exists(self) -> None:
        if not self.exists:
            raise DomainError("not_found", f"cooperative {self.id} does not exist")

    # -- events -----------------------------------------------------------------------------
    def apply_CooperativeRegistered(self, data: dict) -> None:
        self.cooperative_id = self.id
        for key in ("name", "registration_number", "kind", "regency", "is_pesantren", "founded_on",
                    "registered_at"):
            setattr(self, key, data[key])
        self.bylaws = dict(data["bylaws"])
        self.status = "active"

    def apply_CooperativeDissolved(self, data: dict) -> None:
        self.status = "dissolved"

    def apply_AnnualMeetingHeld(self, data: dict) -> None:
        self.rat_fiscal_years = sorted({*self.rat_fiscal_years, data["fiscal_year"]})
        self.annual_meetings[str(data["fiscal_year"])] = _meeting(data)

    def apply_AnnualMeetingCorrected(self, data: dict) -> None:
        self.annual_meetings[str(data["fiscal_year"])] = _meeting(data)

    def apply_FiscalYearCloseRecorded(self, data: dict) -> None:
        self.closed_fiscal_years = sorted({*self.closed_fiscal_years, data["fiscal_year"]})

    # Health inputs of the first version (kept for stores that hold them); health_record.py
    # records them now, on a HealthRecord of their own.
    def apply_BusinessActivityRecorded(self, data: dict) -> None:
        self.last_activity_on = data["on"]

    def apply_OnlineReportRecorded(self, data: dict) -> None:
        self.last_report_on = data["on"]


def _meeting(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in ("held_on", "attendees", "admitted_members", "quorum_percent")} | {
        "shu_allocation": dict(data["shu_allocation"])}


def validated_allocation(allocation: Mapping[str, int]) -> dict[str, int]:
    """All seven pools (a missing pool is 0); unknown pools and sums other than 100 refused."""
    unknown = sorted(set(allocation) - set(SHU_POOLS))
    if unknown:
        raise invalid("shu_allocation", f"unknown pools: {', '.join(unknown)}")
    full = {pool: allocation.get(pool, 0) for pool in SHU_POOLS}
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in full.values()):
        raise invalid("shu_allocation", "every pool is a whole percentage, 0 or more")
    if sum(full.values()) != 100:
        raise invalid("shu_allocation", f"the pools add up to {sum(full.values())}, not 100")
    return full


class Member(Aggregate):
    """One person's membership of one cooperative. Id = derived from the applying command's
    id, so a retried application lands on the same stream."""

    # Defaults for states restored from snapshots taken before these fields existed.
    exit_reason: str | None = None
    admitted_on: str | None = None
    pokok_amount = wajib_amount = 0

    def __init__(self, id: str):
        super().__init__(id)
        self.status = "new"
        self.name = self.nik = self.phone = self.joined_on = ""

    def apply_for(self, *, cooperative_id: str, name: str, nik: str, phone: str, joined_on: str,
                  today: date) -> None:
        if self.exists:
            raise conflict(f"member {self.id} already exists")
        _check_nik(nik)
        if date.fromisoformat(joined_on) > today:
            raise invalid("joined_on", "joined_on must not be in the future")
        self.trigger("MemberApplied", cooperative_id=cooperative_id, member_id=self.id, name=name,
                nik=nik, phone=phone, joined_on=joined_on)

    def admit(self, on: str, bylaws: Mapping[str, int]) -> None:
        self._transition("admit", on)
        self.trigger("MemberAdmitted", cooperative_id=self.cooperative_id, member_id=self.id,
                     admitted_on=on, pokok_amount=bylaws["pokok_amount"],
                     wajib_amount=bylaws["wajib_amount"])

    def suspend(self, on: str) -> None:
        self._transition("suspend", on)
        self.trigger("MemberSuspended", cooperative_id=self.cooperative_id, member_id=self.id,
                     suspended_on=on)

    def reinstate(self, on: str) -> None:
        self._transition("reinstate", on)
        self.trigger("MemberReinstated", cooperative_id=self.cooperative_id, member_id=self.id,
                     reinstated_on=on)

    def reject(self, on: str) -> None:
        """Ends an application; the application service then frees its NIK."""
        self._transition("reject", on)
        self.trigger("MemberRejected", cooperative_id=self.cooperative_id, member_id=self.id,
                     rejected_on=on)

    def exit(self, on: str, reason: str = "resigned") -> None:
        if reason not in EXIT_REASONS:
            raise invalid("reason", f"reason must be one of {', '.join(EXIT_REASONS)}")
        self._transition("exit", on)
        # previous_status lets read models keep the admitted count from this event alone.
        self.trigger("MemberExited", cooperative_id=self.cooperative_id, member_id=self.id,
                     exited_on=on, previous_status=self.status, reason=reason)

    def correct(self, *, name: str | None = None, phone: str | None = None, nik: str | None = None) -> None:
        """Corrects the member's details; only changed fields are recorded (none: no event). A new
        NIK must be claimed first by the caller (NikClaim), the old one released after."""
        if not self.exists:
            raise DomainError("not_found", f"member {self.id} does not exist")
        if self.status in ENDED:
            raise DomainError("illegal_transition", f"cannot correct a member who is {self.status}")
        if nik is not None:
            _check_nik(nik)
        changed = {key: value for key, value in (("name", name), ("phone", phone), ("nik", nik))
                   if value is not None and value != getattr(self, key)}
        if changed:
            self.trigger("MemberDetailsCorrected", cooperative_id=self.cooperative_id, member_id=self.id,
                         **changed)

    def _transition(self, action: str, on: str) -> None:
        if not self.exists:
            raise DomainError("not_found", f"member {self.id} does not exist")
        if self.status not in TRANSITIONS[action]:
            raise DomainError("illegal_transition", f"cannot {action} a member who is {self.status}")
        if on < self.joined_on:
            raise invalid("date", f"{on} is before the member joined ({self.joined_on})")

    def apply_MemberApplied(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]
        for key in ("name", "nik", "phone", "joined_on"):
            setattr(self, key, data[key])
        self.status = "applied"

    def apply_MemberAdmitted(self, data: dict) -> None:
        self.status = "admitted"
        self.admitted_on = data.get("admitted_on")
        self.pokok_amount, self.wajib_amount = data.get("pokok_amount", 0), data.get("wajib_amount", 0)

    def apply_MemberSuspended(self, data: dict) -> None:
        self.status = "suspended"

    def apply_MemberReinstated(self, data: dict) -> None:
        self.status = "admitted"

    def apply_MemberExited(self, data: dict) -> None:
        self.status = "exited"
        self.exit_reason = data.get("reason")

    def apply_MemberRejected(self, data: dict) -> None:
        self.status = "rejected"

    def apply_MemberDetailsCorrected(self, data: dict) -> None:
        for key in ("name", "phone", "nik"):
            if key in data:
                setattr(self, key, data[key])

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "cooperative_id": self.cooperative_id, "name": self.name, "nik": self.nik,
                "phone": self.phone, "joined_on": self.joined_on, "status": self.status,
                "exit_reason": self.exit_reason}


class NikClaim(Aggregate):
    """Stream id f"{cooperative_id}:{nik_digest}" (services/membership/nik.py: a keyed hash, so no
    NIK is in a stream id or a claim's events): the first append at version 0 decides which of
    several concurrent applicants gets the NIK; the claim is released when its member exits.
    Claims stored before the digest have the number as the suffix; they are only released now."""

    snapshot_every = 0

    def __init__(self, id: str):
        super().__init__(id)
        self.member_id: str | None = None
        self.claimed_at = self.nik_digest = ""

    def claim(self, *, cooperative_id: str, nik_digest: str, member_id: str, holder_status: str | None,
              now: str, holder_digest: str | None = None) -> None:
        """`holder_status`/`holder_digest`: the current holder's member status and the digest of their
        NIK (None: no such stream yet)."""
        if self.member_id == member_id:
            return  # a retry of the same application
        if self.member_id is not None and self.blocks(holder_status, now, holder_digest):
            # The number stays out of the message: error messages are logged (UU PDP).
            raise conflict("this NIK already belongs to a member of this cooperative")
        self.trigger("NikClaimed", cooperative_id=cooperative_id, nik_digest=nik_digest, member_id=member_id,
                     claimed_at=now)

    def blocks(self, holder_status: str | None, now: str, holder_key: str | None) -> bool:
        """Whether the claim still keeps the NIK from others. `holder_key`: the holder's NIK in the
        form this claim's id ends with (its digest; the number for a claim stored before digests)."""
        if self.member_id is None or holder_status in ENDED:
            return False  # released, or the holder left (or was rejected) but the release was lost
        # No member stream, or a holder whose NIK is another one (a correction that claimed this
        # NIK and crashed before recording it, or moved off it and lost the release): give an
        # unfinished request time to complete, then let the NIK go.
        if holder_status is None or (holder_key is not None and holder_key != self.id.split(":", 1)[1]):
            return _instant(now) - _instant(self.claimed_at) <= ORPHAN_CLAIM_AFTER
        return True

    def release(self, member_id: str) -> None:
        if self.member_id == member_id:
            self.trigger("NikReleased", cooperative_id=self.cooperative_id, nik_digest=self.nik_digest,
                         member_id=member_id)

    def apply_NikClaimed(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]
        self.member_id = data["member_id"]
        self.claimed_at = data["claimed_at"]
        self.nik_digest = data["nik_digest"]

    def apply_NikReleased(self, data: dict) -> None:
        self.member_id = None


def _check_nik(nik: str) -> None:
    problem = nik_problem(nik)
    if problem:
        raise invalid("nik", problem)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
