"""The pure parts of the kernel: aggregates, envelopes, configuration."""
import json

import pytest
from marshmallow import Schema, fields

from shared.aggregate import DomainError, DomainEvent
from shared.application import Application
from shared.config import ConfigError, interpolate
from shared.envelope import Envelope, derived_id, utc_now
from shared.registry import EventRegistry
from tests.support.bankservice import schemas as bank
from tests.support.bankservice.domain import Account
from tests.support.memory_store import MemoryEventStore


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


class TalliedSchema(Schema):
    day = fields.String(required=True)
    amount = fields.Integer(required=True, strict=True)


class Tallied(Account):
    """An account that keeps nested dicts and shares its state with the cache (Books' way)."""

    stream_type = "Account"
    shares_state = True

    def __init__(self, id: str):
        super().__init__(id)
        self.by_day: dict[str, dict[str, int]] = {}

    def deposit_on(self, day: str, amount: int, then_refuse: bool = False) -> None:
        self.deposit(amount)
        self.trigger("Tallied", day=day, amount=amount)
        if then_refuse:
            raise DomainError("conflict", "refused after two events")

    def apply_Tallied(self, data: dict) -> None:
        day = self._own("by_day", data["day"])
        day["count"] = day.get("count", 0) + 1


def test_own_copies_a_borrowed_dict_once_on_the_path_and_a_dict_of_its_own_never():
    cached = {"id": "a1", "version": 1, "cooperative_id": "c", "balance": 0, "status": "open",
              "by_day": {"d1": {"count": 1}, "d2": {"count": 5}}}
    borrowed = Tallied.from_snapshot(cached, copy=False)
    first = borrowed._own("by_day", "d1")
    assert first is not cached["by_day"]["d1"] and borrowed.by_day is not cached["by_day"]
    assert borrowed._own("by_day", "d1") is first, "copied once, then changed in place"
    assert borrowed.by_day["d2"] is cached["by_day"]["d2"], "what it does not change stays shared"
    assert borrowed._own("by_day", "d3") == {} and "d3" not in cached["by_day"]
    owned = Tallied.from_snapshot(cached)  # a copy of its own
    assert owned._own("by_day", "d1") is owned.by_day["d1"]


def test_a_state_shared_with_the_cache_is_never_changed_by_a_command_or_a_replay():
    registry = EventRegistry("bank")
    for name, schema in [("AccountOpened", bank.AccountOpened), ("Deposited", bank.Deposited),
                         ("Tallied", TalliedSchema)]:
        registry.register(name, schema)
    store = MemoryEventStore(registry)
    application = Application(store, store.registry)
    application.execute(Tallied, "a1", lambda a: a.open("coop-1", "siti"))
    application.execute(Tallied, "a1", lambda a: a.deposit_on("d1", 5))
    cached = application.read(Tallied, "a1")
    seen = (cached.balance, json.dumps(cached.by_day, sort_keys=True))
    with pytest.raises(DomainError):
        application.execute(Tallied, "a1", lambda a: a.deposit_on("d1", 7, then_refuse=True))
    assert (cached.balance, json.dumps(cached.by_day, sort_keys=True)) == seen == (5, '{"d1": {"count": 1}}')
    other = Application(store, store.registry)  # another process writes; the first catches up
    other.execute(Tallied, "a1", lambda a: a.deposit_on("d1", 3))
    application.execute(Tallied, "a1", lambda a: a.deposit_on("d2", 1))
    assert (cached.balance, json.dumps(cached.by_day, sort_keys=True)) == seen, "the state handed out stays"
    now = application.read(Tallied, "a1")
    assert (now.balance, now.by_day) == (9, {"d1": {"count": 2}, "d2": {"count": 1}})
