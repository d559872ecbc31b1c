"""Membership rules of issue 15 without I/O: NIK plausibility, reject, exit reasons, corrections,
422 illegal_transition, and the exit event's upcast."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st
from marshmallow import ValidationError

from services.membership.nik import nik_digest
from services.membership.domain import EXIT_REASONS, Member, NikClaim, nik_problem
from services.membership.schemas import MemberApplicationSchema, MemberCorrectionSchema, registry
from shared.envelope import Envelope
from tests.support.niks import plausible_nik
from tests.unit.test_membership_domain import APPLIED, CLAIMED, emitted, given, refused

NIK = APPLIED[1]["nik"]


# -- NIK plausibility --------------------------------------------------------------------------
@pytest.mark.parametrize("nik, rule", [
    ("327301150185001", "16 digits"),
    ("1027301501850001", "province code"),
    ("9527301501850001", "province code"),
    ("3273013202850001", "birth date"),     # 32 February
    ("3273011513850001", "birth date"),     # month 13
    ("3273017202850001", "birth date"),     # a woman's day 72 - 40 = 32
    ("3273010000850001", "birth date"),     # day 0
    ("3273012902010001", "birth date"),     # 29 Feb 1901 / 2001: neither a leap year
    ("3273011501850000", "serial"),
])
def test_an_implausible_nik_is_refused_naming_the_rule(nik, rule):
    assert rule in (nik_problem(nik) or "")
    with pytest.raises(ValidationError) as caught:
        MemberApplicationSchema().load({"name": "Siti", "nik": nik, "phone": "081234567890",
                                        "joined_on": "2024-01-01"})
    assert rule in caught.value.messages["nik"][0]
    refused("validation_error", lambda: Member("m9").apply_for(
        cooperative_id="c1", name="Siti", nik=nik, phone="0812345678", joined_on="2024-01-01",
        today=date(2026, 1, 1)))


@pytest.mark.parametrize("nik", ["1101011501850001", "9471015501850001", "3273012902000001",
                                 "3273016902960001", "3273017112990001"])
def test_plausible_niks_pass_women_with_day_plus_40_and_29_february_of_a_leap_year(nik):
    assert nik_problem(nik) is None


@for_all(province=st.integers(11, 94), born=st.dates(date(1900, 1, 1), date(2099, 12, 31)),
         woman=st.booleans(), serial=st.integers(1, 9999), rest=st.integers(0, 9999))
def test_every_nik_built_by_the_rules_is_plausible(province, born, woman, serial, rest):
    nik = f"{province:02d}{rest:04d}{born.day + 40 * woman:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"
    assert nik_problem(nik) is None


@for_all(st.text(alphabet="0123456789", min_size=16, max_size=16))
def test_a_nik_passes_only_if_every_rule_holds(nik):
    day = int(nik[6:8]) - 40 * (int(nik[6:8]) > 40)
    real = any(_exists(century + int(nik[10:12]), int(nik[8:10]), day) for century in (1900, 2000))
    assert (nik_problem(nik) is None) == (11 <= int(nik[:2]) <= 94 and real and nik[12:] != "0000")


def _exists(year: int, month: int, day: int) -> bool:
    try:
        return date(year, month, day) is not None
    except ValueError:
        return False


@for_all(st.integers(0, 3 * 10**10))
def test_the_test_helper_makes_plausible_niks(number):
    assert nik_problem(plausible_nik(number)) is None


# -- reject, exit reasons, illegal steps -------------------------------------------------------
def test_an_application_can_be_rejected_and_then_nothing_else():
    member = given(Member, "m1", APPLIED)
    member.reject("2026-02-01")
    assert emitted(member) == [("MemberRejected", {"cooperative_id": "c1", "member_id": "m1",
                                                   "rejected_on": "2026-02-01"})]
    for action in ("admit", "suspend", "reinstate", "exit", "reject"):
        arguments = ("2026-02-02", {"pokok_amount": 1, "wajib_amount": 1}) if action == "admit" else (
            "2026-02-02",)
        refused("illegal_transition", lambda a=action, args=arguments: getattr(member, a)(*args))
    refused("illegal_transition", lambda: given(Member, "m1", APPLIED, ("MemberAdmitted", {})).reject(
        "2026-02-02"))


@pytest.mark.parametrize("reason", EXIT_REASONS)
def test_an_exit_records_its_reason(reason):
    member = given(Member, "m1", APPLIED, ("MemberAdmitted", {}))
    member.exit("2026-03-01", reason)
    assert emitted(member)[0][1]["reason"] == reason and member.to_dict()["exit_reason"] == reason
    refused("validation_error", lambda: given(Member, "m1", APPLIED, ("MemberAdmitted", {})).exit(
        "2026-03-01", "bored"))


def test_a_stored_v1_exit_loads_with_an_unknown_reason():
    old = Envelope("e1", "membership.MemberExited", 1, "Member", "m1", 3, 9, "2026-01-01T00:00:00Z", "c1",
                   "k", None, {"cooperative_id": "c1", "member_id": "m1", "exited_on": "2026-03-01",
                               "previous_status": "admitted"})
    upcast = registry.upcast(old)
    assert upcast.schema_version == 2 and upcast.payload["reason"] is None


# -- corrections ---------------------------------------------------------------------------
def test_name_phone_and_nik_can_be_corrected_and_only_changes_are_recorded():
    member = given(Member, "m1", APPLIED, ("MemberAdmitted", {}))
    member.correct(name="Siti Aminah", phone=APPLIED[1]["phone"], nik="3273015501850001")
    assert emitted(member) == [("MemberDetailsCorrected", {"cooperative_id": "c1", "member_id": "m1",
                                                           "name": "Siti Aminah", "nik": "3273015501850001"})]
    assert member.to_dict()["nik"] == "3273015501850001"
    unchanged = given(Member, "m1", APPLIED)
    unchanged.correct(name="Siti")
    assert emitted(unchanged) == []
    refused("validation_error", lambda: given(Member, "m1", APPLIED).correct(nik="3273013202850001"))
    refused("illegal_transition", lambda: given(Member, "m1", APPLIED, ("MemberRejected", {})).correct(
        name="X"))


def test_a_correction_needs_something_valid():
    with pytest.raises(ValidationError):
        MemberCorrectionSchema().load({})
    with pytest.raises(ValidationError) as caught:
        MemberCorrectionSchema().load({"nik": "1027301501850001"})
    assert "province" in caught.value.messages["nik"][0]


def test_a_rejected_holder_gives_the_nik_up_and_a_holder_on_another_nik_after_a_while():
    claimed_at = CLAIMED[1]["claimed_at"]
    later = (date.fromisoformat(claimed_at[:10]) + timedelta(days=1)).isoformat() + "T00:00:00.000Z"
    rejected = given(NikClaim, f"c1:{nik_digest(NIK)}", CLAIMED)
    rejected.claim(cooperative_id="c1", nik_digest=nik_digest(NIK), member_id="m2", holder_status="rejected", now=claimed_at)
    assert rejected.member_id == "m2"
    moved = given(NikClaim, f"c1:{nik_digest(NIK)}", CLAIMED)
    refused("conflict", lambda: moved.claim(cooperative_id="c1", nik_digest=nik_digest(NIK), member_id="m2",
                                            holder_status="admitted", now=claimed_at,
                                            holder_digest=nik_digest("3273015501850001")))
    moved.claim(cooperative_id="c1", nik_digest=nik_digest(NIK), member_id="m2", holder_status="admitted", now=later,
                holder_digest=nik_digest("3273015501850001"))
    assert moved.member_id == "m2"
    kept = given(NikClaim, f"c1:{nik_digest(NIK)}", CLAIMED)
    refused("conflict", lambda: kept.claim(cooperative_id="c1", nik_digest=nik_digest(NIK), member_id="m2",
                                           holder_status="admitted", now=later, holder_digest=nik_digest(NIK)))


# -- the RAT's quorum counts the members admitted on its day -------------------------------------
def test_a_member_counts_as_admitted_on_a_day_by_its_last_status_change_up_to_then():
    from services.membership.projections import admitted_on

    doc = {"status": "exited", "history": [{"on": "2024-01-10", "status": "admitted"},
                                           {"on": "2024-06-01", "status": "suspended"},
                                           {"on": "2024-09-01", "status": "admitted"},
                                           {"on": "2025-02-01", "status": "exited"}]}
    assert [admitted_on(doc, day) for day in ("2024-01-09", "2024-01-10", "2024-07-01", "2024-12-31",
                                              "2025-02-01")] == [False, True, False, True, False]
    assert admitted_on({"status": "admitted"}, "2000-01-01")  # projected before history: as it is now
