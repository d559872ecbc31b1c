"""Who may see what: the feed's entitlement rules, pure (standard library and the kernel's
Aggregate only; nothing here does I/O).

A partner is entitled to an event when
* the event belongs to a contract the partner funds or guarantees (a financing event whose
  payload names the contract; the partners are taken from the contract's
  `financing.ContractApplied`), whatever its date; or
* the event belongs to a cooperative (envelope `cooperative_id`, else the payload's) that had a
  `feed_entitled` partnership with the partner active at the event's `occurred_at`.

The boundary of a partnership is decided by instants that every replay sees alike, never by the
order in which events reach the feed: access opens at the `occurred_at` of
`networking.PartnershipActivated` (the moment the last party signed) and closes at the
`occurred_at` of `networking.PartnershipEnded`: an event is inside when
`opened_at <= occurred_at < closed_at`. An event that happened inside the window is delivered even
if it reaches the feed after the end; an event that happened before the activation or at or after
the end is never delivered, whichever arrives first (the feed holds each event back until it is
`settle` seconds old, so that the entitlement events of the same moment are recorded before it is
decided: policies.py).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.aggregate import Aggregate, DomainError

PARTNER_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def check_partner_id(partner_id: str) -> str:
    """A partner id names a queue, a user and a permission pattern: letters, digits, `_`, `-`."""
    if not isinstance(partner_id, str) or not PARTNER_ID.match(partner_id):
        raise DomainError("validation_error", "a partner id is 1 to 100 letters, digits, '_' or '-'",
                          {"partner_id": ["letters, digits, '_' or '-' only"]})
    return partner_id


def instant(text: str) -> datetime:
    """An envelope instant (ISO 8601, `Z`) as an aware datetime: compared as time, not as text."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- the facts, as aggregates (their events are the feed service's own, feed.*) ----------------------
class FundedContract(Aggregate):
    """The partners that fund or guarantee one contract (stream id = contract id)."""

    snapshot_every = 0

    def __init__(self, id: str):
        super().__init__(id)
        self.partners: list[str] = []

    def record(self, cooperative_id: str | None, partners: Iterable[str]) -> None:
        named = sorted(set(partners))
        if self.exists or not named:
            return  # the first record is the contract's: ContractApplied comes once per contract
        self.trigger("ContractEntitled", contract_id=self.id, cooperative_id=cooperative_id, partners=named)

    def apply_ContractEntitled(self, data: dict[str, Any]) -> None:
        self.partners = list(data["partners"])
        self.cooperative_id = data["cooperative_id"]


class CooperativeAccess(Aggregate):
    """The partners a cooperative's events are open to, with when (stream id = cooperative id).

    One window per (partnership, partner); its `opened_at` and `closed_at` are set once each and
    in either order (a retried delivery may bring the end first)."""

    snapshot_every = 50

    def __init__(self, id: str):
        super().__init__(id)
        self.windows: dict[str, dict[str, Any]] = {}

    def open(self, partnership_id: str, partner_id: str, at: str) -> None:
        if self._window(partnership_id, partner_id).get("opened_at") is None:
            self.trigger("AccessOpened", cooperative_id=self.id, partnership_id=partnership_id,
                         partner_id=partner_id, at=at)

    def close(self, partnership_id: str, partner_id: str, at: str) -> None:
        if self._window(partnership_id, partner_id).get("closed_at") is None:
            self.trigger("AccessClosed", cooperative_id=self.id, partnership_id=partnership_id,
                         partner_id=partner_id, at=at)

    def _window(self, partnership_id: str, partner_id: str) -> dict[str, Any]:
        return self.windows.get(f"{partnership_id}|{partner_id}", {})

    def _set(self, data: dict[str, Any], field: str) -> None:
        self.cooperative_id = self.id
        window = self.windows.setdefault(f"{data['partnership_id']}|{data['partner_id']}",
                                         {"partner_id": data["partner_id"], "opened_at": None,
                                          "closed_at": None})
        window[field] = data["at"]

    def apply_AccessOpened(self, data: dict[str, Any]) -> None:
        self._set(data, "opened_at")

    def apply_AccessClosed(self, data: dict[str, Any]) -> None:
        self._set(data, "closed_at")

    def partners_at(self, occurred_at: str) -> set[str]:
        return partners_open_at(self.windows.values(), occurred_at)


class FeedPartner(Aggregate):
    """A partner institution as the feed knows it: registered, and its feed credentials' history
    (never the password: RabbitMQ keeps its hash, kopnet nothing)."""

    snapshot_every = 0

    def __init__(self, id: str):
        super().__init__(id)
        self.name: str | None = None
        self.registered = False
        self.username: str | None = None
        self.rotations = 0

    def register(self, name: str | None, kind: str | None) -> None:
        if not self.registered:
            self.trigger("PartnerKnown", partner_id=self.id, name=name, kind=kind)

    def credentials_issued(self, username: str, at: str) -> None:
        self.trigger("CredentialsIssued", partner_id=self.id, username=username, issued_at=at,
                     rotation=self.rotations + (1 if self.username else 0))

    def apply_PartnerKnown(self, data: dict[str, Any]) -> None:
        self.registered, self.name = True, data["name"]

    def apply_CredentialsIssued(self, data: dict[str, Any]) -> None:
        self.username, self.rotations = data["username"], data["rotation"]


# -- the rules --------------------------------------------------------------------------------------
def partners_open_at(windows: Iterable[Mapping[str, Any]], occurred_at: str) -> set[str]:
    """Partners whose window holds `occurred_at`: opened_at <= occurred_at < closed_at."""
    at = instant(occurred_at)
    return {w["partner_id"] for w in windows
            if w.get("opened_at") is not None and instant(w["opened_at"]) <= at
            and (w.get("closed_at") is None or at < instant(w["closed_at"]))}


def contract_partners(payload: Mapping[str, Any]) -> set[str]:
    """The funder and the guarantor named by a `financing.ContractApplied` payload."""
    named = {payload.get("partner_id"), (payload.get("guarantee") or {}).get("partner_id")}
    return {p for p in named if p}


@dataclass(frozen=True)
class Partnership:
    cooperatives: list[str]
    partners: list[str]
    feed_entitled: bool


def partnership(payload: Mapping[str, Any]) -> Partnership:
    parties = payload.get("parties") or []
    return Partnership(sorted({p["cooperative_id"] for p in parties if p.get("cooperative_id")}),
                       sorted({p["partner_id"] for p in parties if p.get("partner_id")}),
                       bool(payload.get("feed_entitled")))


def contract_of(event_type: str, payload: Mapping[str, Any]) -> str | None:
    """The contract a financing event belongs to (every contract event names it), else None."""
    if event_type.startswith("financing.") and isinstance(payload.get("contract_id"), str):
        return str(payload["contract_id"])
    return None


def cooperative_of(envelope_cooperative: str | None, payload: Mapping[str, Any]) -> str | None:
    value = envelope_cooperative or payload.get("cooperative_id")
    return value if isinstance(value, str) and value else None


def entitled(contract_funders: Iterable[str], cooperative_windows: Iterable[Mapping[str, Any]],
             occurred_at: str) -> list[str]:
    """Every partner entitled to one event, in a fixed order: its contract's funders and
    guarantors, and the partners whose partnership with its cooperative held at `occurred_at`."""
    return sorted(set(contract_funders) | partners_open_at(cooperative_windows, occurred_at))
