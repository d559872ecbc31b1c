"""Pure bookkeeping rules: lines, largest-remainder rounding, the SHU split."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ledger.accounting import (
    DEFAULT_CHART,
    SHU_POOLS,
    checked_lines,
    distribute,
    largest_remainder,
    shu_distribution,
)
from shared.aggregate import DomainError

CHART = {code: {"name": name, "type": kind} for code, name, kind in DEFAULT_CHART}


def test_the_spec_example_pays_334_333_333():
    assert largest_remainder(1000, [1, 1, 1]) == [334, 333, 333]


def test_remainders_go_to_the_largest_fractions_first():
    # quotas 100*1/6=16.67, 100*2/6=33.33, 100*3/6=50 → floors 16, 33, 50; one left for 0.67
    assert largest_remainder(100, [1, 2, 3]) == [17, 33, 50]
    assert largest_remainder(10, [3, 3, 3, 1]) == [3, 3, 3, 1]
    assert largest_remainder(11, [3, 3, 3, 1]) == [4, 3, 3, 1]
    assert largest_remainder(0, [5, 7]) == [0, 0]


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**9), min_size=1, max_size=30).filter(any))
def test_parts_add_up_exactly_and_stay_within_one_rupiah_of_the_quota(total, weights):
    parts = largest_remainder(total, weights)
    assert sum(parts) == total
    whole = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert total * weight // whole <= part <= total * weight // whole + 1


def test_distribution_orders_members_by_id_and_skips_members_without_a_basis():
    assert distribute(1000, {"c": 1, "a": 1, "b": 1, "z": 0}) == {"a": 334, "b": 333, "c": 333}
    assert distribute(500, {}) == {}


def test_shu_split_into_pools_then_members():
    allocation = {"reserve": 40, "jasa_modal": 20, "jasa_usaha": 25, "board": 5, "staff": 5, "education": 3,
                  "social": 2}
    result = shu_distribution(10_001, allocation, {"m1": 100, "m2": 200}, {"m1": 1, "m3": 2})
    # 10,001 by 40/20/25/5/5/3/2 percent: quotas 4000.4, 2000.2, 2500.25, 500.05, 500.05, 300.03,
    # 200.02 → floors sum to 10,000; the one rupiah left goes to the largest fraction (reserve, .4)
    assert result["pools"] == {"reserve": 4001, "jasa_modal": 2000, "jasa_usaha": 2500, "board": 500,
                               "staff": 500, "education": 300, "social": 200}
    assert sum(result["pools"].values()) == 10_001
    # jasa modal 2000 over 100:200 → 666.67, 1333.33 → 667, 1333; jasa usaha 2500 over 1:2 → 833.33,
    # 1666.67 → 833, 1667
    assert result["members"] == [
        {"member_id": "m1", "jasa_modal": 667, "jasa_usaha": 833, "total": 1500},
        {"member_id": "m2", "jasa_modal": 1333, "jasa_usaha": 0, "total": 1333},
        {"member_id": "m3", "jasa_modal": 0, "jasa_usaha": 1667, "total": 1667},
    ]


def test_a_loss_or_nothing_distributes_nothing():
    for shu in (-5000, 0):
        result = shu_distribution(shu, {"reserve": 100}, {"m1": 10}, {"m1": 10})
        assert result == {"shu": shu, "pools": {pool: 0 for pool in SHU_POOLS}, "members": []}


def test_a_member_pool_nobody_can_share_goes_to_the_reserve():
    result = shu_distribution(1000, {"reserve": 50, "jasa_modal": 25, "jasa_usaha": 25}, {"m1": 5}, {})
    assert result["pools"]["reserve"] == 750 and result["pools"]["jasa_usaha"] == 0
    assert result["members"] == [{"member_id": "m1", "jasa_modal": 250, "jasa_usaha": 0, "total": 250}]


def test_lines_are_checked_one_by_one_then_for_balance():
    members = {"m1": True}
    with pytest.raises(DomainError) as caught:
        checked_lines([{"account": "9999", "debit": 5}, {"account": "1101", "debit": 5, "credit": 5},
                       {"account": "4101", "credit": -1}, {"account": "4101", "credit": 1, "member_id": "x"}],
                      CHART, members)
    assert caught.value.code == "validation_error"
    assert set(caught.value.fields["lines"]) == {"0", "1", "2", "3"}
    with pytest.raises(DomainError) as caught:
        checked_lines([{"account": "1101", "debit": 5}, {"account": "4101", "credit": 4}], CHART, members)
    assert caught.value.code == "unbalanced_entry"
    with pytest.raises(DomainError) as caught:
        checked_lines([{"account": "1101", "debit": 5}], CHART, members)
    assert caught.value.code == "validation_error"
    with pytest.raises(DomainError) as caught:
        checked_lines([{"account": "1101", "debit": True}, {"account": "4101", "credit": 1}], CHART, members)
    assert caught.value.code == "validation_error"
    clean = checked_lines([{"account": "1101", "debit": 5}, {"account": "4101", "credit": 5, "member_id": "m1"}],
                          CHART, members)
    assert clean[1] == {"account": "4101", "debit": 0, "credit": 5, "member_id": "m1"}
