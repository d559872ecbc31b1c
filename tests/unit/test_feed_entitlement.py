"""The feed's entitlement rules, pure: the matrix (funder, guarantor, feed_entitled partnership,
ended partnership, unrelated partner) and the boundary of a partnership's window."""
from __future__ import annotations

import pytest

from services.feed import domain
from services.feed.domain import CooperativeAccess, FeedPartner, FundedContract
from shared.aggregate import DomainError

OPENED, CLOSED = "2026-03-01T08:00:00.000Z", "2026-06-01T08:00:00.000Z"


def access(*windows: tuple[str, str, str | None, str | None]) -> CooperativeAccess:
    """A cooperative's access built through its commands: (partnership, partner, opened, closed)."""
    coop = CooperativeAccess("coop-1")
    for partnership, partner, opened, closed in windows:
        if closed:  # the end may be recorded first (a retried delivery); the window is the same
            coop.close(partnership, partner, closed)
        if opened:
            coop.open(partnership, partner, opened)
    return coop


def test_matrix_funder_guarantor_partnership_ended_and_unrelated():
    contract = FundedContract("contract-1")
    contract.record("coop-1", domain.contract_partners(
        {"partner_id": "funder", "guarantee": {"partner_id": "guarantor", "coverage_percent": 70, "fee": 1}}))
    coop = access(("ps-1", "partner", OPENED, None), ("ps-2", "ended", OPENED, CLOSED))
    during, after = "2026-04-01T00:00:00.000Z", "2026-07-01T00:00:00.000Z"
    # a contract event: its funder and guarantor always, partnership partners while it holds
    assert domain.entitled(contract.partners, coop.windows.values(), during) == [
        "ended", "funder", "guarantor", "partner"]
    assert domain.entitled(contract.partners, coop.windows.values(), after) == ["funder", "guarantor", "partner"]
    # any other event of the cooperative: the partnership partners only
    assert domain.entitled([], coop.windows.values(), during) == ["ended", "partner"]
    assert domain.entitled([], coop.windows.values(), after) == ["partner"]
    # an unrelated partner is named nowhere; an event of no cooperative and no contract goes nowhere
    assert "unrelated" not in domain.entitled(contract.partners, coop.windows.values(), during)
    assert domain.entitled([], [], during) == []


@pytest.mark.parametrize(("occurred_at", "inside"), [
    ("2026-03-01T07:59:59.999Z", False),   # a millisecond before the last signature
    (OPENED, True),                         # the activation instant itself
    ("2026-03-01T15:00:00+07:00", True),    # compared as instants, not as text
    ("2026-06-01T08:00:00.000Z", False),    # the end instant: already outside
    ("2026-06-01T07:59:59.999Z", True),
])
def test_window_boundary_is_decided_by_instants(occurred_at, inside):
    coop = access(("ps-1", "p", OPENED, CLOSED))
    assert (coop.partners_at(occurred_at) == {"p"}) is inside


def test_window_recorded_in_either_order_and_once():
    first, second = access(("ps", "p", OPENED, CLOSED)), CooperativeAccess("coop-1")
    second.open("ps", "p", OPENED)
    second.close("ps", "p", CLOSED)
    assert first.windows == second.windows
    version = second.version
    second.open("ps", "p", "2027-01-01T00:00:00.000Z")  # a redelivered activation changes nothing
    second.close("ps", "p", "2027-01-01T00:00:00.000Z")
    assert second.version == version and second.partners_at("2026-04-01T00:00:00Z") == {"p"}


def test_an_end_without_its_start_opens_nothing():
    assert access(("ps", "p", None, CLOSED)).partners_at("2026-01-01T00:00:00Z") == set()


def test_contract_partners_only_from_its_application_and_only_named_ones():
    assert domain.contract_partners({"partner_id": None, "guarantee": None}) == set()
    contract = FundedContract("c")
    contract.record("coop", set())
    assert not contract.exists  # an unfunded, unguaranteed contract entitles nobody
    contract.record("coop", {"bank"})
    contract.record("coop", {"other"})  # a second application of the same contract changes nothing
    assert contract.partners == ["bank"] and contract.version == 1


def test_partnership_parties_and_contract_of():
    partnership = domain.partnership({"parties": [{"cooperative_id": "c1"}, {"partner_id": "p1"},
                                                  {"cooperative_id": "c2"}], "feed_entitled": True})
    assert (partnership.cooperatives, partnership.partners, partnership.feed_entitled) == (
        ["c1", "c2"], ["p1"], True)
    assert domain.contract_of("financing.PaymentReceived", {"contract_id": "k"}) == "k"
    assert domain.contract_of("ledger.JournalEntryPosted", {"contract_id": "k"}) is None
    assert domain.cooperative_of(None, {"cooperative_id": "c"}) == "c"
    assert domain.cooperative_of("e", {"cooperative_id": "c"}) == "e"


@pytest.mark.parametrize("bad", ["", "a b", "a.b", "a*", "x" * 101, "ü"])
def test_partner_ids_that_could_widen_a_permission_are_refused(bad):
    with pytest.raises(DomainError) as refused:
        domain.check_partner_id(bad)
    assert refused.value.code == "validation_error"


def test_credentials_history_counts_rotations():
    partner = FeedPartner("p")
    partner.register("Bank Syariah", "bank_syariah")
    partner.register("again", "bank_syariah")
    partner.credentials_issued("kopnet-partner-p", OPENED)
    partner.credentials_issued("kopnet-partner-p", CLOSED)
    assert (partner.registered, partner.rotations, partner.version) == (True, 1, 3)
