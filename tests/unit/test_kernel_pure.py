"""The pure parts of the kernel: aggregates, envelopes, configuration."""
import json

import pytest

from shared.aggregate import DomainError, DomainEvent
from shared.config import ConfigError, interpolate
from shared.envelope import Envelope, derived_id, utc_now
from tests.support.bankservice.domain import Account


def test_commands_check_rules_and_return_events_that_only_assign_state():
    account = Account("a1")
    account.open("coop-1", "siti")
    account.deposit(100)
    with pytest.raises(DomainError) as refused:
        account.withdraw(101)
    assert refused.value.code == "insufficient_balance"
    assert [e.name for e in account.pending_events] == ["AccountOpened", "Deposited"]
    assert (account.version, account.balance, account.cooperative_id) == (2, 100, "coop-1")


def test_replaying_events_rebuilds_state_without_running_rules():
    replayed = Account("a1")
    replayed.replay([DomainEvent("AccountOpened", {"cooperative_id": "c", "owner": "o"}),
                     DomainEvent("Withdrawn", {"amount": 5})])  # rules are not re-checked
    assert (replayed.version, replayed.balance, replayed.pending_events) == (2, -5, [])


def test_a_snapshot_restores_the_same_state():
    account = Account("a1")
    account.open("coop-1", "siti")
    account.deposit(7)
    restored = Account.from_snapshot(account.snapshot_state())
    assert restored.snapshot_state() == account.snapshot_state()
    assert restored.pending_events == []


def test_an_envelope_is_plain_json_with_a_utc_instant():
    envelope = Envelope("e", "bank.Deposited", 1, "Account", "a1", 1, 9, utc_now(), "c", "r", None, {"amount": 1})
    data = json.loads(envelope.to_json())
    assert data["occurred_at"].endswith("Z") and data["position"] == 9
    assert Envelope.from_json(envelope.to_json()) == envelope
    assert (envelope.service, envelope.name) == ("bank", "Deposited")


def test_derived_ids_are_stable():
    assert derived_id("h", "e1") == derived_id("h", "e1") != derived_id("h", "e2")


def test_configuration_reads_the_environment_with_defaults():
    text = "AMQP_URI: ${AMQP_URI:amqp://localhost}\nSECRET: ${JWT_SECRET}\n"
    assert interpolate(text, {"JWT_SECRET": "s"}) == "AMQP_URI: amqp://localhost\nSECRET: s\n"
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        interpolate(text, {})
