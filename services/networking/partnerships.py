"""Partnerships (kerjasama), pure: proposed → active once every party signed → ended.

A party is `{"cooperative_id": ...}` or `{"partner_id": ...}`; its signature comes from that
cooperative's board or that partner. `PartnershipActivated` is appended in the same commit as
the last signature, so a consumer never sees every party signed without the activation.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.aggregate import Aggregate, DomainError

from .domain import forbidden, invalid

Actor = Mapping[str, Any]


def party_of(actor: Actor) -> dict[str, str] | None:
    if actor.get("role") == "coop_admin":
        return {"cooperative_id": actor["cooperative_id"]}
    if actor.get("role") == "partner":
        return {"partner_id": actor["partner_id"]}
    return None


def _key(party: Mapping[str, str]) -> str:
    if "cooperative_id" in party:
        return f"cooperative:{party['cooperative_id']}"
    return f"partner:{party['partner_id']}"


class Partnership(Aggregate):
    snapshot_every = 0

    def __init__(self, id: str):
        super().__init__(id)
        self.status = "new"
        self.title = ""
        self.parties: list[dict[str, str]] = []
        self.signed: list[dict[str, str]] = []
        self.feed_entitled = False
        self.starts_on = ""
        self.ends_on: str | None = None
        self.activated_on: str | None = None
        self.ended_on: str | None = None

    def propose(self, *, actor: Actor, title: str, parties: list[dict[str, str]], feed_entitled: bool,
                starts_on: str, ends_on: str | None) -> None:
        if self.exists:
            raise DomainError("conflict", f"partnership {self.id} already exists")
        keys = [_key(party) for party in parties]
        if len(set(keys)) != len(keys) or len(keys) < 2:
            raise invalid("parties", "a partnership has at least two different parties")
        if not any("cooperative_id" in party for party in parties):
            raise invalid("parties", "a partnership has at least one cooperative")
        proposer = party_of(actor)
        if actor.get("role") != "network_admin" and (proposer is None or _key(proposer) not in keys):
            raise forbidden("a cooperative proposes only partnerships it is a party to")
        if ends_on is not None and ends_on < starts_on:
            raise invalid("ends_on", "ends_on is before starts_on")
        tenant = proposer.get("cooperative_id") if proposer else None
        self.trigger("PartnershipProposed", partnership_id=self.id, cooperative_id=tenant,
                     title=title, parties=[dict(party) for party in parties], feed_entitled=feed_entitled,
                     starts_on=starts_on, ends_on=ends_on)

    def sign(self, actor: Actor, today: str) -> None:
        party = self._own_party(actor)
        if self.status != "proposed" or party in self.signed:
            raise DomainError("illegal_transition", f"a {self.status} partnership cannot be signed "
                              "by this party" + (" again" if party in self.signed else ""))
        self.trigger("PartnershipSigned", partnership_id=self.id, cooperative_id=self.cooperative_id,
                     party=party)
        if len(self.signed) == len(self.parties):
            self.trigger("PartnershipActivated", partnership_id=self.id, cooperative_id=self.cooperative_id,
                         parties=self.parties, feed_entitled=self.feed_entitled, activated_on=today)

    def end(self, actor: Actor, today: str) -> None:
        self._own_party(actor)
        if self.status not in ("proposed", "active"):
            raise DomainError("illegal_transition", f"a {self.status} partnership cannot be ended")
        self.trigger("PartnershipEnded", partnership_id=self.id, cooperative_id=self.cooperative_id,
                     parties=self.parties, feed_entitled=self.feed_entitled, ended_on=today)

    def require_reader(self, actor: Actor) -> None:
        """A network admin reads any; a party its own; to anyone else it does not exist."""
        party = party_of(actor)
        outsider = actor.get("role") != "network_admin" and (party is None or party not in self.parties)
        if not self.exists or outsider:
            raise DomainError("not_found", f"partnership {self.id} does not exist")

    def _own_party(self, actor: Actor) -> dict[str, str]:
        if not self.exists:
            raise DomainError("not_found", f"partnership {self.id} does not exist")
        party = party_of(actor)
        if party is None or party not in self.parties:
            raise forbidden("only a party's board or the partner itself signs or ends a partnership")
        return party

    def apply_PartnershipProposed(self, data: dict) -> None:
        self.cooperative_id = data["cooperative_id"]
        self.status, self.title, self.parties = "proposed", data["title"], data["parties"]
        self.feed_entitled = data["feed_entitled"]
        self.starts_on, self.ends_on = data["starts_on"], data["ends_on"]

    def apply_PartnershipSigned(self, data: dict) -> None:
        self.signed.append(data["party"])

    def apply_PartnershipActivated(self, data: dict) -> None:
        self.status, self.activated_on = "active", data["activated_on"]

    def apply_PartnershipEnded(self, data: dict) -> None:
        self.status, self.ended_on = "ended", data["ended_on"]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "parties": self.parties, "signed": self.signed,
                "feed_entitled": self.feed_entitled, "starts_on": self.starts_on, "ends_on": self.ends_on,
                "status": self.status, "activated_on": self.activated_on, "ended_on": self.ended_on}
