"""A RAT corrected through HTTP (gateway → membership), followed by the ledger's year-end close,
and refused once the ledger closed the year (membership learns the close from the ledger)."""

from __future__ import annotations

from tests.conftest import wait_for

from .conftest import assert_error
from .test_ledger_http import ALLOCATION, Books, entry

ALL_TO_RESERVE = {"reserve": 100, "jasa_modal": 0, "jasa_usaha": 0, "board": 0, "staff": 0, "education": 0,
                  "social": 0}


def test_a_rat_is_corrected_before_the_close_the_ledger_follows_and_after_the_close_it_is_422(stack, world):
    coop = Books(stack, world)
    coop.ok("POST", "/journal-entries", entry("2025-09-09", ("1101", 10_000, 0), ("4101", 0, 10_000)), 201)
    coop.hold_rat(2025, attendees=2)  # held on 2026-03-15 with ALLOCATION
    assert_error(coop.call("PATCH", "/annual-meetings/2024", {"attendees": 2}), 404, "not_found")
    assert_error(coop.call("PATCH", "/annual-meetings/2025", {"attendees": 1}), 422, "quorum_not_reached")
    assert_error(coop.call("PATCH", "/annual-meetings/2025", {"attendees": "two"}), 400, "validation_error")
    assert_error(coop.call("PATCH", "/annual-meetings/2025", {"attendees": 2}, token=coop.tokens["member_a1"]),
                 403, "forbidden")

    corrected = coop.ok("PATCH", "/annual-meetings/2025", {"held_on": "2026-03-20", "shu_allocation": ALL_TO_RESERVE})
    assert corrected == {"cooperative_id": coop.a, "fiscal_year": 2025, "held_on": "2026-03-20", "attendees": 2,
                         "admitted_members": 2, "quorum_reached": True, "shu_allocation": ALL_TO_RESERVE}

    commits = stack.database("ledger")["commits"]
    wait_for(lambda: any(event["event_type"] == "ledger.RatResolutionCorrected"
                         for commit in commits.find({"stream_id": coop.a}) for event in commit["events"]),
             what="the correction reaching the ledger")
    closed = coop.ok("POST", "/fiscal-years/2025/close")
    assert closed["pools"]["reserve"] == 10_000 and closed["members"] == []  # the corrected allocation

    def reserve(as_of: str) -> int:
        rows = coop.ok("GET", "/reports/trial-balance", params={"as_of": as_of})["accounts"]
        return next(row["balance"] for row in rows if row["code"] == "3103")

    # distributed on the corrected RAT date (the reports' read models follow the close within ms)
    wait_for(lambda: reserve("2026-03-20") == 10_000, what="the distribution in the reports")
    assert reserve("2026-03-19") == 0

    # membership learns the close from ledger.FiscalYearClosing/Closed: an unchanged correction (which
    # stores nothing either way) shows when it did; then any correction of 2025 is refused
    wait_for(lambda: coop.call("PATCH", "/annual-meetings/2025", {"attendees": 2}).status_code == 422,
             what="membership learning the close")
    assert_error(coop.call("PATCH", "/annual-meetings/2025", {"shu_allocation": ALLOCATION}), 422,
                 "fiscal_year_closed")
