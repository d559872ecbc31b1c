"""The health score (domain.md, Membership: Health score): the ministry's aspects, each from a
ratio of kopnet's own data, weighted to 0–100. docs/health.md documents every ratio, band,
weight and source, with a worked example that tests/unit/test_health_score.py checks.

Pure and integer only: ratios are basis points (1/100 of a percent, integer division), the
aspect scores 0–100 and the total rounds half up; no floats.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from .health import one_year_before

# The ministry's weights (KSP/USP and, with syariah compliance, KSPPS); each set adds up to 100.
WEIGHTS = {"capital": 15, "asset_quality": 25, "management": 15, "efficiency": 10, "liquidity": 15,
           "independence_growth": 10, "identity": 10}
WEIGHTS_KSPPS = {"capital": 10, "asset_quality": 20, "management": 15, "efficiency": 10, "liquidity": 15,
                 "independence_growth": 10, "identity": 10, "syariah_compliance": 10}
SEHAT = 80
CATEGORIES = ((SEHAT, "sehat"), (66, "cukup sehat"), (51, "dalam pengawasan"), (0, "dalam pengawasan khusus"))

# (lowest ratio in basis points, aspect score): the first band the ratio reaches wins.
CAPITAL_BANDS = ((2000, 100), (1500, 75), (1000, 50), (500, 25), (None, 0))       # equity ÷ assets
LIQUIDITY_BANDS = ((10000, 100), (5000, 75), (2000, 50), (1000, 25), (None, 0))   # cash ÷ liabilities
ROA_BANDS = ((500, 100), (250, 75), (1, 50), (None, 0))                           # net result ÷ assets
IDENTITY_BANDS = ((7500, 100), (5000, 75), (2500, 50), (1, 25), (None, 0))        # member income ÷ income
# (highest ratio in basis points, aspect score): lower is better.
NPF_BANDS = ((200, 100), (500, 75), (800, 50), (1200, 25), (None, 0))            # overdue ÷ outstanding
EFFICIENCY_BANDS = ((6000, 100), (8000, 75), (9000, 50), (10000, 25), (None, 0))  # expenses ÷ income


def ratio_bp(part: int, whole: int) -> int | None:
    """part ÷ whole in basis points (None when whole is not positive)."""
    return part * 10_000 // whole if whole > 0 else None


def at_least(value: int | None, bands: tuple) -> int:
    if value is None:
        return 0
    return next(score for low, score in bands if low is None or value >= low)


def at_most(value: int | None, bands: tuple) -> int:
    if value is None:
        return 0
    return next(score for high, score in bands if high is None or value <= high)


def last_twelve_months(months: Mapping[str, Mapping[str, int]], today: date) -> dict[str, int]:
    """Income, expense and member income of the 12 calendar months ending with today's month."""
    first = one_year_before(today).strftime("%Y-%m")
    totals = {"income": 0, "expense": 0, "member_income": 0}
    for month, flows in months.items():
        if first < month <= today.strftime("%Y-%m"):
            for key in totals:
                totals[key] += flows.get(key, 0)
    return totals


def category(score: int) -> str:
    return next(name for low, name in CATEGORIES if score >= low)


def score(doc: Mapping[str, Any], flag_values: Mapping[str, bool], today: date) -> dict[str, Any]:
    """The score by aspect: each aspect's ratio, its score (0–100), weight and weighted points."""
    balances = doc.get("balances") or {}
    flows = last_twelve_months(doc.get("months") or {}, today)
    contracts = (doc.get("financing") or {}).values()
    outstanding = sum(c.get("outstanding", 0) for c in contracts)
    overdue = sum(c.get("overdue", 0) for c in contracts)
    assets = balances.get("asset", 0)
    # equity includes the open period's running result (a loss this year lowers the capital now)
    capital = ratio_bp(balances.get("equity", 0) + balances.get("result", 0), assets)
    npf = ratio_bp(overdue, outstanding) if outstanding else 0  # no financing: nothing overdue
    efficiency = ratio_bp(flows["expense"], flows["income"])
    liquidity = ratio_bp(balances.get("cash", 0), balances.get("liability", 0))
    if liquidity is None and balances.get("cash", 0) > 0:
        liquidity = 10_000  # cash and nothing owed: fully liquid
    roa = ratio_bp(flows["income"] - flows["expense"], assets)
    identity = ratio_bp(flows["member_income"], flows["income"])
    aspects: dict[str, dict[str, Any]] = {
        "capital": {"ratio_bp": capital, "score": at_least(capital, CAPITAL_BANDS)},
        "asset_quality": {"ratio_bp": npf, "score": at_most(npf, NPF_BANDS)},
        "management": {"ratio_bp": None, "score": 50 * flag_values["rat_compliant"]
                       + 50 * flag_values["reporting_online"]},
        "efficiency": {"ratio_bp": efficiency, "score": at_most(efficiency, EFFICIENCY_BANDS)},
        "liquidity": {"ratio_bp": liquidity, "score": at_least(liquidity, LIQUIDITY_BANDS)},
        "independence_growth": {"ratio_bp": roa, "score": at_least(roa, ROA_BANDS)},
        "identity": {"ratio_bp": identity, "score": at_least(identity, IDENTITY_BANDS)},
    }
    weights = WEIGHTS
    if doc.get("kind") == "kspps":
        weights = WEIGHTS_KSPPS
        written_off = bool((doc.get("written_off") or {}).get("count"))
        aspects["syariah_compliance"] = {
            "ratio_bp": None,
            "score": 50 * (balances.get("social_fund", 0) > 0) + 50 * (not written_off)}
    hundredths = 0
    for name, aspect in aspects.items():
        aspect["weight"] = weights[name]
        hundredths += aspect["score"] * weights[name]
        aspect["points"] = aspect["score"] * weights[name] // 100
    total = (hundredths + 50) // 100
    capped = not (flag_values["active"] and flag_values["rat_compliant"])
    if capped:  # sehat needs the regulator's "healthy": business activity and the RAT held
        total = min(total, SEHAT - 1)
    return {"score": total, "capped_below_sehat": capped, "category": category(total), "aspects": aspects,
            "inputs": {"balances": {k: balances.get(k, 0) for k in ("asset", "liability", "equity", "result",
                                                                   "cash", "social_fund")},
                       "last_12_months": flows, "financing_outstanding": outstanding,
                       "financing_overdue": overdue}}
