"""Membership rules without I/O: given events → command → expected events or DomainError."""

from __future__ import annotations

from datetime import date

import pytest

from services.membership.domain import (
    DEFAULT_BYLAWS,
    REGENCIES,
    SHU_POOLS,
    Cooperative,
    Member,
    NikClaim,
    quorum_reached,
)
from services.membership.nik import nik_digest
from services.membership.schemas import (
    AnnualMeetingSchema,
    CooperativeRegistrationSchema,
    MemberApplicationSchema,
    registry,
)
from shared.aggregate import Aggregate, DomainError, DomainEvent

TODAY = date(2026, 6, 15)
NIK_DIGEST = nik_digest("3201234512900123")
CLAIM_ID = f"c1:{NIK_DIGEST}"
ALLOCATION = {"reserve": 40, "jasa_modal": 20, "jasa_usaha": 25, "board": 5, "staff": 5, "education": 5}


def given(cls: type[Aggregate], stream_id: str, *events: tuple[str, dict]) -> Aggregate:
    aggregate = cls(stream_id)
    aggregate.replay([DomainEvent(name, data) for name, data in events])
    return aggregate


def emitted(aggregate: Aggregate) -> list[tuple[str, dict]]:
    pending = [(event.name, event.data) for event in aggregate.pending_events]
    for name, data in pending:  # every emitted payload satisfies its registered schema
        registry.validate(registry.event_type(name), data)
    return pending


def refused(code: str, command) -> DomainError:
    with pytest.raises(DomainError) as caught:
        command()
    assert caught.value.code == code, caught.value
    return caught.value


REGISTERED = (
    "CooperativeRegistered",
    {
        "cooperative_id": "c1",
        "name": "Kopontren Al-Ikhlas",
        "registration_number": "3201010000001",
        "kind": "kspps",
        "regency": "kabupaten-garut",
        "is_pesantren": True,
        "founded_on": "2001-02-03",
        "bylaws": dict(DEFAULT_BYLAWS),
        "registered_at": "2026-01-01T00:00:00.000Z",
    },
)
APPLIED = (
    "MemberApplied",
    {
        "cooperative_id": "c1",
        "member_id": "m1",
        "name": "Siti",
        "nik": "3201234512900123",
        "phone": "+6281234567",
        "joined_on": "2026-01-10",
    },
)


def register(cooperative: Cooperative, **changes) -> None:
    arguments = {
        **{k: v for k, v in REGISTERED[1].items() if k not in ("cooperative_id", "registered_at")},
        "today": TODAY,
        "now": "2026-06-15T01:00:00.000Z",
        **changes,
    }
    cooperative.register(**arguments)


# -- cooperatives ---------------------------------------------------------------------------------
def test_registration_records_the_profile_with_default_bylaws():
    cooperative = Cooperative("c1")
    register(cooperative, bylaws={"pokok_amount": 50_000})
    [(name, data)] = emitted(cooperative)
    assert name == "CooperativeRegistered"
    assert data["bylaws"] == {"pokok_amount": 50_000, "wajib_amount": 25_000, "quorum_percent": 50}
    assert cooperative.status == "active" and cooperative.cooperative_id == "c1"


def test_a_registration_number_registers_once():
    refused("conflict", lambda: register(given(Cooperative, "c1", REGISTERED)))


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"kind": "bank"}, "kind"),
        ({"regency": "kota-jakarta"}, "regency"),
        ({"founded_on": "2026-06-16"}, "founded_on"),
    ],
)
def test_registration_rejects_bad_kind_regency_and_future_founding(changes, field):
    error = refused("validation_error", lambda: register(Cooperative("c1"), **changes))
    assert field in error.fields


def test_west_java_has_27_regencies():
    assert len(REGENCIES) == len(set(REGENCIES)) == 27
    assert sum(r.startswith("kota-") for r in REGENCIES) == 9


def test_dissolution_happens_once_and_then_no_member_is_accepted():
    cooperative = given(Cooperative, "c1", REGISTERED)
    cooperative.dissolve("2026-06-15")
    assert emitted(cooperative) == [
        ("CooperativeDissolved", {"cooperative_id": "c1", "dissolved_on": "2026-06-15"})
    ]
    refused("conflict", lambda: cooperative.dissolve("2026-06-16"))
    refused("cooperative_dissolved", cooperative.ensure_accepts_members)
    refused("not_found", Cooperative("nope").ensure_accepts_members)


# -- members --------------------------------------------------------------------------------------
def test_application_then_full_lifecycle():
    member = Member("m1")
    member.apply_for(
        cooperative_id="c1",
        name="Siti",
        nik="3201234512900123",
        phone="+6281234567",
        joined_on="2026-01-10",
        today=TODAY,
    )
    member.admit("2026-01-11", DEFAULT_BYLAWS)
    member.suspend("2026-02-01")
    member.reinstate("2026-03-01")
    member.exit("2026-04-01")
    assert [name for name, _ in emitted(member)] == [
        "MemberApplied",
        "MemberAdmitted",
        "MemberSuspended",
        "MemberReinstated",
        "MemberExited",
    ]
    admitted = emitted(member)[1][1]
    assert admitted == {
        "cooperative_id": "c1",
        "member_id": "m1",
        "admitted_on": "2026-01-11",
        "pokok_amount": 100_000,
        "wajib_amount": 25_000,
    }
    assert emitted(member)[-1][1] == {
        "cooperative_id": "c1",
        "member_id": "m1",
        "exited_on": "2026-04-01",
        "previous_status": "admitted",
        "reason": "resigned",
    }
    assert member.status == "exited"


@pytest.mark.parametrize(
    "history, action",
    [
        ([], "suspend"),
        ([], "reinstate"),
        ([], "exit"),
        (["MemberAdmitted"], "admit"),
        (["MemberAdmitted"], "reinstate"),
        (["MemberAdmitted", "MemberSuspended"], "suspend"),
        (["MemberAdmitted", "MemberExited"], "admit"),
        (["MemberAdmitted", "MemberExited"], "exit"),
        (["MemberAdmitted", "MemberExited"], "reinstate"),
    ],
)
def test_illegal_transitions_are_422_illegal_transition(history, action):
    member = given(Member, "m1", APPLIED, *[(name, {}) for name in history])
    arguments = ("2026-05-01", DEFAULT_BYLAWS) if action == "admit" else ("2026-05-01",)
    refused("illegal_transition", lambda: getattr(member, action)(*arguments))


def test_a_suspended_member_may_exit_and_unknown_members_are_not_found():
    member = given(Member, "m1", APPLIED, ("MemberAdmitted", {}), ("MemberSuspended", {}))
    member.exit("2026-05-01")
    assert emitted(member)[0][1]["previous_status"] == "suspended"
    refused("not_found", lambda: Member("m2").admit("2026-05-01", DEFAULT_BYLAWS))


def test_transitions_cannot_predate_joining_and_nik_is_16_digits():
    refused("validation_error", lambda: given(Member, "m1", APPLIED).admit("2026-01-09", DEFAULT_BYLAWS))
    for nik in ("123", "32012345129001234", "320123456789012x"):
        refused(
            "validation_error",
            lambda nik=nik: Member("m1").apply_for(
                cooperative_id="c1", name="S", nik=nik, phone="0812", joined_on="2026-01-01", today=TODAY
            ),
        )
    refused(
        "conflict",
        lambda: given(Member, "m1", APPLIED).apply_for(
            cooperative_id="c1",
            name="S",
            nik="3201234512900123",
            phone="0812",
            joined_on="2026-01-01",
            today=TODAY,
        ),
    )


# -- NIK claims -----------------------------------------------------------------------------------
CLAIMED = (
    "NikClaimed",
    {
        "cooperative_id": "c1",
        "nik_digest": NIK_DIGEST,
        "member_id": "m1",
        "claimed_at": "2026-06-15T01:00:00.000Z",
    },
)


def claim(
    aggregate: NikClaim, member_id: str, holder_status: str | None, now="2026-06-15T01:01:00.000Z"
) -> None:
    aggregate.claim(
        cooperative_id="c1", nik_digest=NIK_DIGEST, member_id=member_id, holder_status=holder_status, now=now
    )


def test_a_nik_is_claimed_once_and_a_retry_by_the_holder_is_a_no_op():
    fresh = NikClaim(CLAIM_ID)
    claim(fresh, "m1", None)
    assert [name for name, _ in emitted(fresh)] == ["NikClaimed"]
    held = given(NikClaim, CLAIM_ID, CLAIMED)
    claim(held, "m1", "applied")
    assert emitted(held) == []
    for status in ("applied", "admitted", "suspended"):
        refused("conflict", lambda status=status: claim(held, "m2", status))


def test_a_released_claim_can_be_claimed_again():
    claim_ = given(NikClaim, CLAIM_ID, CLAIMED)
    claim_.release("m2")  # not the holder: nothing
    assert emitted(claim_) == []
    claim_.release("m1")
    claim(claim_, "m2", None)
    assert [name for name, _ in emitted(claim_)] == ["NikReleased", "NikClaimed"]
    assert claim_.member_id == "m2"


def test_an_exited_holder_or_a_long_orphaned_claim_gives_the_nik_up():
    claim(exited := given(NikClaim, CLAIM_ID, CLAIMED), "m2", "exited")
    assert exited.member_id == "m2"
    refused("conflict", lambda: claim(given(NikClaim, CLAIM_ID, CLAIMED), "m2", None))
    orphaned = given(NikClaim, CLAIM_ID, CLAIMED)
    claim(orphaned, "m2", None, now="2026-06-15T01:06:00.000Z")
    assert orphaned.member_id == "m2"


# -- RAT ------------------------------------------------------------------------------------------
def hold(cooperative: Cooperative, **changes) -> None:
    arguments = {
        "fiscal_year": 2025,
        "held_on": "2026-03-01",
        "attendees": 6,
        "shu_allocation": ALLOCATION,
        "admitted_members": 10,
        **changes,
    }
    cooperative.hold_annual_meeting(**arguments)


def test_a_quorate_rat_records_the_full_allocation():
    cooperative = given(Cooperative, "c1", REGISTERED)
    hold(cooperative)
    [(name, data)] = emitted(cooperative)
    assert name == "AnnualMeetingHeld"
    assert data["shu_allocation"] == {**ALLOCATION, "social": 0}
    assert list(data["shu_allocation"]) == list(SHU_POOLS)
    assert cooperative.rat_fiscal_years == [2025]
    refused("conflict", lambda: hold(cooperative, held_on="2026-04-01"))


@pytest.mark.parametrize(
    "attendees, admitted, percent, reached",
    [
        (6, 10, 50, True),
        (5, 10, 50, False),
        (501, 1000, 50, True),
        (500, 1000, 50, False),
        (1, 1, 50, True),
        (0, 0, 50, False),
        (3, 4, 66, True),
        (2, 3, 66, True),
        (2, 3, 67, False),
    ],
)
def test_quorum_is_more_than_the_bylaws_percentage(attendees, admitted, percent, reached):
    assert quorum_reached(attendees, admitted, percent) is reached


def test_rat_refuses_no_quorum_early_dates_too_many_attendees_and_bad_allocations():
    cooperative = given(Cooperative, "c1", REGISTERED)
    refused("quorum_not_reached", lambda: hold(cooperative, attendees=5))
    assert "held_on" in refused("validation_error", lambda: hold(cooperative, held_on="2025-12-31")).fields
    assert "attendees" in refused("validation_error", lambda: hold(cooperative, attendees=11)).fields
    for allocation in (
        {**ALLOCATION, "reserve": 41},
        {**ALLOCATION, "zakat": 0},
        {**ALLOCATION, "reserve": -1, "social": 1},
    ):
        refused(
            "validation_error", lambda allocation=allocation: hold(cooperative, shu_allocation=allocation)
        )
    refused("not_found", lambda: hold(Cooperative("c2")))
    assert emitted(cooperative) == []


def test_bylaws_can_raise_the_quorum():
    strict = dict(REGISTERED[1], bylaws={**DEFAULT_BYLAWS, "quorum_percent": 75})
    cooperative = given(Cooperative, "c1", ("CooperativeRegistered", strict))
    refused("quorum_not_reached", lambda: hold(cooperative, attendees=7))
    hold(cooperative, attendees=8)


# (health: tests/unit/test_health_flags.py, test_health_record.py, test_health_score.py)


# -- edge schemas -------------------------------------------------------------------------------
def test_request_schemas_apply_defaults_and_reject_unknown_or_malformed_input():
    loaded = CooperativeRegistrationSchema().load(
        {
            "name": "K",
            "registration_number": "3201010000001",
            "kind": "ksp",
            "regency": "kota-depok",
            "founded_on": "2000-01-01",
        }
    )
    assert loaded["bylaws"] == DEFAULT_BYLAWS and loaded["is_pesantren"] is False
    errors = MemberApplicationSchema().validate(
        {"name": "S", "nik": "12", "phone": "x", "joined_on": "2999-01-01", "extra": 1}
    )
    assert set(errors) == {"nik", "phone", "joined_on", "extra"}
    meeting = {"fiscal_year": 2025, "held_on": "2026-01-05", "attendees": 3, "shu_allocation": ALLOCATION}
    assert AnnualMeetingSchema().validate(meeting) == {}
    assert "shu_allocation" in AnnualMeetingSchema().validate({**meeting, "shu_allocation": {"reserve": 99}})
    assert "shu_allocation" in AnnualMeetingSchema().validate(
        {**meeting, "shu_allocation": {**ALLOCATION, "zakat": 0}}
    )


def correct(cooperative: Cooperative, **changes) -> None:
    recorded = cooperative.annual_meetings["2025"]
    arguments = {"fiscal_year": 2025, "held_on": recorded["held_on"], "attendees": recorded["attendees"],
                 "shu_allocation": recorded["shu_allocation"], "admitted_members": recorded["admitted_members"],
                 **changes}
    cooperative.correct_annual_meeting(**arguments)


def test_a_rat_is_corrected_whole_by_the_same_rules_until_the_ledger_closes_its_year():
    cooperative = given(Cooperative, "c1", REGISTERED)
    hold(cooperative)
    cooperative.mark_saved()
    corrected = {**ALLOCATION, "reserve": 30, "social": 10}
    correct(cooperative, attendees=7, shu_allocation=corrected)
    [(name, data)] = emitted(cooperative)
    assert name == "AnnualMeetingCorrected"
    assert data["attendees"] == 7 and data["shu_allocation"] == corrected
    assert data["held_on"] == cooperative.annual_meetings["2025"]["held_on"]  # the rest stays
    assert cooperative.annual_meetings["2025"]["attendees"] == 7
    cooperative.mark_saved()
    correct(cooperative)  # nothing changed: nothing recorded
    assert emitted(cooperative) == []
    # the recording rules hold for a correction too
    refused("quorum_not_reached", lambda: correct(cooperative, attendees=5))
    assert "held_on" in refused("validation_error", lambda: correct(cooperative, held_on="2025-12-31")).fields
    refused("validation_error", lambda: correct(cooperative, shu_allocation={**ALLOCATION, "reserve": 41}))
    refused("not_found", lambda: correct(cooperative, fiscal_year=2024))
    # the ledger's close (FiscalYearClosing or Closed, whichever comes first) makes the RAT final
    cooperative.record_fiscal_year_closed(2025, "ledger-event-1")
    cooperative.record_fiscal_year_closed(2025, "ledger-event-2")
    assert [name for name, _ in emitted(cooperative)] == ["FiscalYearCloseRecorded"]
    refused("fiscal_year_closed", lambda: correct(cooperative, attendees=8))
