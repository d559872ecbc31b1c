"""The health score: docs/health.md's worked example, the categories' edges and KSPPS weights."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from services.membership.health_score import WEIGHTS, WEIGHTS_KSPPS, category, score

TODAY = date(2026, 12, 2)
EXAMPLE = {
    "kind": "ksp",
    "balances": {"asset": 100_000_000, "liability": 60_000_000, "equity": 25_000_000, "cash": 30_000_000},
    "financing": {"k1": {"outstanding": 40_000_000, "overdue": 2_400_000}},
    "months": {"2026-03": {"income": 8_000_000, "expense": 6_000_000, "member_income": 5_000_000},
               "2026-09": {"income": 12_000_000, "expense": 9_000_000, "member_income": 7_000_000},
               "2025-11": {"income": 99_000_000, "expense": 0, "member_income": 0}},  # older than 12 months
}
FLAGS = {"active": True, "rat_compliant": True, "reporting_online": True, "healthy": True}


def test_the_worked_example_of_docs_health_md():
    result = score(EXAMPLE, FLAGS, TODAY)
    assert {name: (a["ratio_bp"], a["score"], a["points"]) for name, a in result["aspects"].items()} == {
        "capital": (2500, 100, 15), "asset_quality": (600, 50, 12), "management": (None, 100, 15),
        "efficiency": (7500, 75, 7), "liquidity": (5000, 75, 11), "independence_growth": (500, 100, 10),
        "identity": (6000, 75, 7)}
    assert (result["score"], result["category"]) == (79, "cukup sehat")
    doc = (Path(__file__).parents[2] / "docs" / "health.md").read_text()
    assert re.search(r"score \*\*79\*\*, \*cukup sehat\*", doc), "docs/health.md states the example's result"


def test_categories_at_their_edges_and_weights_add_up_to_100():
    assert [category(s) for s in (100, 80, 79, 66, 65, 51, 50, 0)] == [
        "sehat", "sehat", "cukup sehat", "cukup sehat", "dalam pengawasan", "dalam pengawasan",
        "dalam pengawasan khusus", "dalam pengawasan khusus"]
    assert sum(WEIGHTS.values()) == 100 and sum(WEIGHTS_KSPPS.values()) == 100


def test_a_running_loss_lowers_capital_and_an_unhealthy_cooperative_is_never_sehat():
    strong = {**EXAMPLE, "financing": {}, "months": {"2026-09": {"income": 10_000_000, "expense": 0,
                                                                 "member_income": 10_000_000}},
              "balances": {**EXAMPLE["balances"], "cash": 100_000_000}}
    assert score(strong, FLAGS, TODAY)["category"] == "sehat"
    no_rat = score(strong, {**FLAGS, "rat_compliant": False, "healthy": False}, TODAY)
    assert (no_rat["score"], no_rat["category"], no_rat["capped_below_sehat"]) == (79, "cukup sehat", True)
    losing = {**strong, "balances": {**strong["balances"], "result": -20_000_000}}  # equity 25M − 20M
    assert score(losing, FLAGS, TODAY)["aspects"]["capital"]["ratio_bp"] == 500


def test_a_kspps_adds_syariah_compliance_and_no_books_score_low():
    kspps = score({**EXAMPLE, "kind": "kspps", "balances": {**EXAMPLE["balances"], "social_fund": 1}}, FLAGS, TODAY)
    assert kspps["aspects"]["syariah_compliance"] == {"ratio_bp": None, "score": 100, "weight": 10, "points": 10}
    empty = score({"kind": "ksp"}, dict.fromkeys(FLAGS, False), TODAY)
    assert empty["aspects"]["asset_quality"]["score"] == 100  # no financing: nothing overdue
    assert (empty["score"], empty["category"]) == (25, "dalam pengawasan khusus")
