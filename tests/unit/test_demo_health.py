"""The regulator's demo network follows the calendar: its year of books ends today, and its
dates never fall in the future (the API refuses those)."""
from datetime import date

from services.gateway import demo_health
from services.gateway.demo import annual_meeting


def test_a_year_of_months_ends_today_and_wraps_over_new_year():
    today = date(2026, 12, 2)
    assert demo_health.months_back(today, 0) == today  # the 10th has not come yet
    assert demo_health.months_back(today, 11) == date(2026, 1, 10)
    assert demo_health.months_back(date(2027, 1, 15), 1) == date(2026, 12, 10)
    assert demo_health.months_back(date(2027, 1, 15), 0) == date(2027, 1, 10)


def test_just_founded_means_this_january_never_later_than_today():
    new = next(p for p in demo_health.PROFILES if p.founded_on is None)
    assert demo_health.founded_on(new, date(2026, 12, 2)) == "2026-01-05"
    assert demo_health.founded_on(new, date(2027, 1, 3)) == "2027-01-03"


def test_the_rat_is_last_fiscal_years_with_both_members_and_never_in_the_future():
    meeting = annual_meeting(date(2027, 2, 1))
    assert meeting["fiscal_year"] == 2026 and meeting["held_on"] == "2027-02-01"
    assert meeting["attendees"] == len(demo_health.MEMBERS)
