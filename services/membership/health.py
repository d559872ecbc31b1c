"""The regulator's health rules (domain.md, Membership: Health): the flags with their evidence.

Pure: standard library only, nothing reads a clock (`today` is an argument). The flags age with
the calendar, so they are computed when read, from a health document (projections_health.py):

    status, dissolved_on, founded_on,
    rats: {"<fiscal year>": held_on},          closed_years: {"<fiscal year>": closed_on},
    business: {entry_id: date}                 (business entries not reversed),
    reports: {"last_on": date, "event_id": ...}

The score (health_score.py) reads the same document. Guarantees, each tested on its boundary:

* active: a business entry that is not reversed, dated in (today − 12 months, today]. An entry
  dated after today counts from its date on; a reversed one never.
* rat_compliant: the RAT of the fiscal year whose deadline (30 June of the next year) has
  passed last. On 1 January nothing new falls due, so nobody turns non-compliant then; on
  1 July last year's RAT is due. A cooperative founded after that fiscal year owes none.
* reporting_online: the books of that same due year (or a later one) closed through kopnet, or
  a report in the last 12 months (not once forever).
* a dissolved cooperative is none of these.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

FLAGS = ("active", "rat_compliant", "reporting_online", "healthy")


def one_year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def due_fiscal_year(today: date) -> int:
    """The latest fiscal year whose RAT deadline (30 June of the next year) has passed."""
    return today.year - 1 if today >= date(today.year, 7, 1) else today.year - 2


def last_activity(business: Mapping[str, str], today: date) -> tuple[str, str] | None:
    """(date, entry_id) of the latest business entry dated today or earlier."""
    booked = [(day, entry) for entry, day in business.items() if day <= today.isoformat()]
    return max(booked) if booked else None


def flags(doc: Mapping[str, Any], today: date) -> dict[str, Any]:
    """The four flags and, for each, the evidence a Dinas officer can check."""
    due = due_fiscal_year(today)
    rats = {int(year): held for year, held in (doc.get("rats") or {}).items()}
    closed = {int(year): on for year, on in (doc.get("closed_years") or {}).items()}
    last = last_activity(doc.get("business") or {}, today)
    report = doc.get("reports") or {}
    founded = doc.get("founded_on") or "0001-01-01"
    owes_rat = int(founded[:4]) <= due
    last_rat = max(rats.items()) if rats else None
    last_close = max(closed.items()) if closed else None
    since = one_year_before(today).isoformat()
    evidence: dict[str, dict[str, Any]] = {
        "active": {"rule": "business booked, not reversed, dated after "
                           f"{since} and not after {today.isoformat()}",
                   "last_activity_on": last[0] if last else None,
                   "entry_id": last[1] if last else None},
        "rat_compliant": {"rule": f"the RAT for fiscal year {due} (due by {due + 1}-06-30)",
                          "due_fiscal_year": due, "due_by": f"{due + 1}-06-30", "owes_rat": owes_rat,
                          "last_rat": {"fiscal_year": last_rat[0], "held_on": last_rat[1]}
                          if last_rat else None},
        "reporting_online": {"rule": f"books of fiscal year {due} or later closed through kopnet, or a "
                                     f"report after {since}",
                             "last_closed_year": {"fiscal_year": last_close[0], "closed_on": last_close[1]}
                             if last_close else None,
                             "last_report_on": report.get("last_on"),
                             "report_event_id": report.get("event_id")},
    }
    if doc.get("status") == "dissolved":
        values = dict.fromkeys(FLAGS, False)
        for item in evidence.values():
            item["dissolved_on"] = doc.get("dissolved_on")
    else:
        active = last is not None and last[0] > since
        rat = (not owes_rat) or any(year >= due for year in rats)
        online = any(year >= due for year in closed) or (
            report.get("last_on") is not None and since < report["last_on"] <= today.isoformat())
        values = {"active": active, "rat_compliant": rat, "reporting_online": online,
                  "healthy": active and rat}
    evidence["healthy"] = {"rule": "active and rat_compliant"}
    return {"flags": values, "evidence": evidence}
