"""The regulator's flags on their boundaries (domain.md, Membership: Health): pure, no I/O."""
from __future__ import annotations

from datetime import date

from services.membership.health import due_fiscal_year, flags

COOP = {"id": "c1", "status": "active", "founded_on": "2001-02-03"}


def judged(doc: dict, today: str) -> dict:
    return flags({**COOP, **doc}, date.fromisoformat(today))


def test_a_years_rat_falls_due_by_30_june_of_the_next_year():
    assert [due_fiscal_year(date.fromisoformat(d)) for d in
            ("2026-12-31", "2027-01-01", "2027-06-30", "2027-07-01")] == [2025, 2025, 2025, 2026]
    held_2025 = {"rats": {"2025": "2026-03-20"}}
    # Not non-compliant on 1 January: 2026's RAT may be held until 30 June 2027.
    assert [judged(held_2025, d)["flags"]["rat_compliant"] for d in
            ("2026-12-31", "2027-01-01", "2027-06-30", "2027-07-01")] == [True, True, True, False]
    assert judged({"rats": {"2025": "2026-03-20", "2026": "2027-06-30"}}, "2027-07-01")["flags"]["rat_compliant"]
    evidence = judged(held_2025, "2027-07-01")["evidence"]["rat_compliant"]
    assert evidence["due_fiscal_year"] == 2026 and evidence["due_by"] == "2027-06-30"
    assert evidence["last_rat"] == {"fiscal_year": 2025, "held_on": "2026-03-20"}


def test_a_cooperative_founded_after_the_due_year_owes_no_rat_yet():
    young = {"founded_on": "2026-02-01"}
    assert judged(young, "2027-06-30")["flags"]["rat_compliant"] is True    # 2025 was before it
    assert judged(young, "2027-07-01")["flags"]["rat_compliant"] is False   # 2026's is due now


def test_activity_is_business_in_the_last_twelve_months_not_in_the_future():
    doc = {"business": {"e1": "2025-12-31"}}
    assert judged(doc, "2026-12-30")["flags"]["active"] is True
    assert judged(doc, "2026-12-31")["flags"]["active"] is False  # twelve months have passed
    future = {"business": {"e2": "2027-01-01"}}
    assert judged(future, "2026-12-31")["flags"]["active"] is False  # counts from its date on
    assert judged(future, "2027-01-01")["flags"]["active"] is True
    evidence = judged({"business": {"e1": "2026-05-01", "e2": "2027-01-01"}}, "2026-12-31")["evidence"]["active"]
    assert (evidence["last_activity_on"], evidence["entry_id"]) == ("2026-05-01", "e1")


def test_reporting_online_is_recent_not_once_forever():
    closed = {"closed_years": {"2025": "2026-04-01"}, "reports": {"last_on": "2026-04-01", "event_id": "x"}}
    assert judged(closed, "2027-06-30")["flags"]["reporting_online"] is True   # 2025 is the due year
    assert judged(closed, "2027-07-01")["flags"]["reporting_online"] is False  # 2026's books now
    report_only = {"reports": {"last_on": "2026-04-01", "event_id": "x"}}
    assert judged(report_only, "2027-03-31")["flags"]["reporting_online"] is True
    assert judged(report_only, "2027-04-01")["flags"]["reporting_online"] is False  # a year ago
    assert judged({}, "2027-04-01")["evidence"]["reporting_online"]["last_report_on"] is None


def test_healthy_is_active_and_rat_compliant_and_a_dissolved_cooperative_is_nothing():
    doc = {"business": {"e1": "2026-11-01"}, "rats": {"2025": "2026-03-20"},
           "closed_years": {"2025": "2026-04-01"}}
    assert judged(doc, "2026-12-31")["flags"] == {"active": True, "rat_compliant": True,
                                                  "reporting_online": True, "healthy": True}
    gone = judged({**doc, "status": "dissolved", "dissolved_on": "2026-12-01"}, "2026-12-31")
    assert gone["flags"] == dict.fromkeys(("active", "rat_compliant", "reporting_online", "healthy"), False)
    assert gone["evidence"]["active"]["dissolved_on"] == "2026-12-01"
    assert gone["evidence"]["active"]["last_activity_on"] == "2026-11-01"  # the evidence stays visible
