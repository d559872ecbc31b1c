"""The NIK as personal data (UU PDP): claims by keyed hash, the number kept out of what is
published, claims stored with the number still load and still keep it unique."""
from __future__ import annotations

import logging
from datetime import date
from types import SimpleNamespace

import pytest

from services.membership.application import Membership
from services.membership.domain import Cooperative, Member, NikClaim
from services.membership.nik import claim_id, key_problem, legacy_claim_id, nik_digest
from services.membership.schemas import NikClaimedV1, registry
from shared.aggregate import DomainError
from shared.application import Application, CommandContext
from shared.commits import NewEvent
from shared.envelope import Envelope, new_id, utc_now
from shared.registry import EventRegistry
from tests.support.memory_store import MemoryEventStore
from tests.support.niks import plausible_nik

NIK = "3273015501850001"
COOP = "c1"
TODAY = date(2026, 6, 1)


def envelope(event_type: str, payload: dict, version: int = 1) -> Envelope:
    return Envelope(event_id=new_id(), event_type=event_type, schema_version=version, stream_type="Member",
                    stream_id="m1", stream_version=1, position=1, occurred_at=utc_now(), cooperative_id=COOP,
                    correlation_id=new_id(), causation_id=None, payload=payload)


def test_the_digest_is_keyed_and_the_claim_id_holds_no_nik(monkeypatch):
    monkeypatch.delenv("KOPNET_NIK_KEY", raising=False)
    development = nik_digest(NIK)
    assert "not set" in (key_problem() or "")
    monkeypatch.setenv("KOPNET_NIK_KEY", "k" * 40)
    assert key_problem() is None
    assert nik_digest(NIK) != development and len(nik_digest(NIK)) == 64
    assert NIK not in claim_id(COOP, NIK) and claim_id(COOP, NIK) == f"{COOP}:{nik_digest(NIK)}"
    assert nik_digest(NIK) != nik_digest(plausible_nik())


def test_what_is_published_drops_the_nik_and_keeps_everything_else():
    applied = envelope("membership.MemberApplied", {"cooperative_id": COOP, "member_id": "m1", "name": "Siti",
                                                    "nik": NIK, "phone": "0812", "joined_on": "2024-01-02"})
    public = registry.published(applied)
    assert "nik" not in public.payload and applied.payload["nik"] == NIK  # the stored one keeps it
    assert public.payload == {k: v for k, v in applied.payload.items() if k != "nik"}
    corrected = envelope("membership.MemberDetailsCorrected", {"cooperative_id": COOP, "member_id": "m1",
                                                               "nik": NIK, "phone": "0813"})
    assert registry.published(corrected).payload == {"cooperative_id": COOP, "member_id": "m1", "phone": "0813"}
    admitted = envelope("membership.MemberAdmitted", {"cooperative_id": COOP, "member_id": "m1"})
    assert registry.published(admitted) is admitted


def test_a_claim_stored_with_the_number_loads_with_its_digest_only():
    stored = envelope("membership.NikClaimed", {"cooperative_id": COOP, "nik": NIK, "member_id": "m1",
                                                "claimed_at": "2026-01-01T00:00:00.000Z"})
    current = registry.upcast(stored)
    assert current.schema_version == 2 and "nik" not in current.payload
    assert current.payload["nik_digest"] == nik_digest(NIK)


class UpcastingStore(MemoryEventStore):
    """Reads upcast as the real store's do (shared/commits.py envelopes_of)."""

    def read_stream(self, stream_type: str, stream_id: str, after_version: int = 0) -> list[Envelope]:
        return [self.registry.upcast(e) for e in super().read_stream(stream_type, stream_id, after_version)]


def membership_with_a_legacy_claim() -> tuple[Membership, Application]:
    """A store as an older membership left it: m1 applied and its claim stored with the number
    (NikClaimed v1, stream id "<coop>:<NIK>")."""
    old = EventRegistry("membership")
    old.register("NikClaimed", NikClaimedV1, version=1)
    store = UpcastingStore(old)
    store.append("NikClaim", legacy_claim_id(COOP, NIK), 0, [NewEvent("membership.NikClaimed", {
        "cooperative_id": COOP, "nik": NIK, "member_id": "m1", "claimed_at": utc_now()})])
    store.registry = registry
    app = Application(store, registry)
    app.execute(Cooperative, COOP, lambda c: c.register(
        name="K", registration_number="1", kind="ksp", regency="kota-bandung", is_pesantren=False,
        founded_on="2000-01-01", bylaws={}, today=TODAY, now=utc_now()))
    membership = Membership(SimpleNamespace(application=app, database=None))
    app.execute(Member, "m1", lambda m: m.apply_for(cooperative_id=COOP, name="Siti", nik=NIK, phone="0812",
                                                    joined_on="2024-01-02", today=TODAY))
    return membership, app


def test_a_claim_stored_with_the_number_keeps_the_nik_taken_until_its_holder_lets_it_go(caplog):
    caplog.set_level(logging.DEBUG)
    membership, app = membership_with_a_legacy_claim()
    with pytest.raises(DomainError) as caught:
        membership._claim_nik(COOP, NIK, "m2", CommandContext.new(), None)
    assert caught.value.code == "conflict" and NIK not in str(caught.value)
    membership._release_nik(COOP, NIK, "m1", CommandContext.new(), None)  # m1 exits: both claims released
    assert app.load(NikClaim, legacy_claim_id(COOP, NIK), fresh=True).member_id is None
    membership._claim_nik(COOP, NIK, "m2", CommandContext.new(), None)
    claim = app.load(NikClaim, claim_id(COOP, NIK), fresh=True)
    assert claim.member_id == "m2" and claim.nik_digest == nik_digest(NIK)
    assert NIK not in caplog.text
