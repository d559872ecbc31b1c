"""Financing's use cases over the in-memory store: the daily overdue sweep run for a given date,
idempotent per day, and a member who is not admitted cannot apply."""
from __future__ import annotations

from datetime import date

import pytest

from services.financing.application import Financing
from services.financing.projections import ContractIndex, PartnerDirectory
from services.financing.schemas import registry
from shared.aggregate import DomainError
from shared.application import Application
from shared.envelope import new_id
from tests.support.memory_store import MemoryDatabase, MemoryEventStore

TERMS = {"cost": 3_000_000, "margin": 300_000, "tenor_months": 3, "first_due_on": "2026-02-10", "late_fee": 20_000}


def financing(status: str = "admitted") -> Financing:
    store = MemoryEventStore(registry)
    database = MemoryDatabase(store, [PartnerDirectory(), ContractIndex()])
    return Financing(Application(store, registry), database, lambda coop, member: status,
                     today=lambda: date(2026, 6, 1))


def disbursed(use_cases: Financing) -> str:
    contract = use_cases.apply("coop", {"member_id": "m1", "product": "murabahah", "terms": TERMS,
                                        "applied_on": "2026-01-05"}, {"command_id": new_id()})
    for step in ("approve", "sign", "disburse"):
        use_cases.act("coop", contract["id"], step, {"date": "2026-01-06"}, {"command_id": new_id()})
    return contract["id"]


def test_the_sweep_marks_overdue_instalments_late_once_per_day_and_charges_each_fee_once():
    use_cases = financing()
    contract = disbursed(use_cases)
    applied_only = use_cases.apply("coop", {"member_id": "m1", "product": "murabahah", "terms": TERMS,
                                            "applied_on": "2026-01-05"},
                                   {"command_id": new_id()})["id"]
    assert use_cases.sweep_overdue(date(2026, 2, 10)) == 0            # due today is not late
    assert use_cases.sweep_overdue(date(2026, 3, 11)) == 1
    assert use_cases.sweep_overdue(date(2026, 3, 11)) == 0            # the same day again: nothing new
    assert use_cases.sweep_overdue(date(2026, 3, 12)) == 0            # no new instalment overdue
    view = use_cases.get_contract("coop", contract)
    assert view["status"] == "late" and [f["due_on"] for f in view["late_fees"]] == ["2026-02-10", "2026-03-10"]
    assert use_cases.get_contract("coop", applied_only)["status"] == "applied"
    paid = use_cases.pay("coop", contract, {"amount": 2_240_000, "date": "2026-03-12"}, {"command_id": new_id()})
    assert paid["status"] == "current" and paid["outstanding"] == 3_300_000 - 2_200_000


def test_a_member_who_is_not_admitted_cannot_apply_and_another_cooperative_sees_no_contract():
    with pytest.raises(DomainError) as refused:
        financing("applied").apply("coop", {"member_id": "m1", "product": "murabahah", "terms": TERMS},
                                   {"command_id": new_id()})
    assert refused.value.code == "validation_error" and "member_id" in refused.value.fields
    use_cases = financing()
    contract = disbursed(use_cases)
    with pytest.raises(DomainError) as hidden:
        use_cases.get_contract("other-coop", contract)
    assert hidden.value.code == "not_found"
    with pytest.raises(DomainError) as not_theirs:
        use_cases.pay("other-coop", contract, {"amount": 1, "date": "2026-02-01"}, {"command_id": new_id()})
    assert not_theirs.value.code == "not_found"
