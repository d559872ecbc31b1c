"""The role matrix (http-api.md, Membership and Ledger): who may call what, decided from the token alone.

A policy answers from the principal and the path's ids; it never looks anything up, so a
principal of cooperative A learns nothing about B (403 whether or not B exists).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from .auth import Principal

Policy = Callable[[Principal, Mapping[str, str]], bool]


def network_admin(principal: Principal, path: Mapping[str, str]) -> bool:
    return principal.role == "network_admin"


def coop_admin(principal: Principal, path: Mapping[str, str]) -> bool:
    """The board of the cooperative in the path."""
    return principal.role == "coop_admin" and principal.cooperative_id == path.get("cooperative_id")


def of_cooperative(principal: Principal, path: Mapping[str, str]) -> bool:
    """The network admin, or the cooperative's own board or members."""
    return network_admin(principal, path) or (
        principal.role in ("coop_admin", "member") and principal.cooperative_id == path.get("cooperative_id"))


def coop_admin_or_the_member(principal: Principal, path: Mapping[str, str]) -> bool:
    return coop_admin(principal, path) or (
        principal.role == "member" and principal.cooperative_id == path.get("cooperative_id")
        and principal.member_id == path.get("member_id"))


def coop_admin_or_network_admin(principal: Principal, path: Mapping[str, str]) -> bool:
    return coop_admin(principal, path) or network_admin(principal, path)


def coop_admin_or_member(principal: Principal, path: Mapping[str, str]) -> bool:
    """The cooperative's board or any of its members (not the network admin)."""
    return principal.role in ("coop_admin", "member") and (
        principal.cooperative_id == path.get("cooperative_id"))


def network_or_cooperative(principal: Principal, path: Mapping[str, str]) -> bool:
    """Anyone but partners (a cooperative's principals then see their own cooperative only)."""
    return principal.role in ("network_admin", "coop_admin", "member")


def partner(principal: Principal, path: Mapping[str, str]) -> bool:
    """A partner institution (its own data: the route takes the partner id from the token)."""
    return principal.role == "partner"


def network_admin_or_the_partner(principal: Principal, path: Mapping[str, str]) -> bool:
    """The network admin, or a partner for its own record (a list: its own entry only)."""
    return network_admin(principal, path) or (
        principal.role == "partner" and path.get("partner_id") in (None, principal.partner_id))


def financing_reader(principal: Principal, path: Mapping[str, str]) -> bool:
    """The cooperative's board and members, and partners; the financing service then shows a member
    their own contracts and a partner those it funds or guarantees (404 for any other)."""
    return coop_admin_or_member(principal, path) or principal.role == "partner"


def describe(policy: Policy) -> str:
    """The policy in words, for the OpenAPI document."""
    words: dict[Policy, str] = {
        network_admin: "network_admin",
        coop_admin: "coop_admin of the cooperative",
        of_cooperative: "network_admin, or a coop_admin or member of the cooperative",
        coop_admin_or_the_member: "coop_admin of the cooperative, or that member",
        network_or_cooperative: "network_admin (all cooperatives); coop_admin and member (their own)",
        coop_admin_or_network_admin: "coop_admin of the cooperative, or network_admin",
        coop_admin_or_member: "coop_admin of the cooperative, or a member of it",
        partner: "partner (its own feed)",
        network_admin_or_the_partner: "network_admin, or the partner itself",
        financing_reader: "coop_admin of the cooperative; a member (own contracts); a partner (the "
                          "contracts it funds or guarantees)",
    }
    return {**words, **NETWORKING_WORDS}[policy]


# -- Networking: /catalog, /orders and /partnerships are not under a cooperative's path. Their
# parties are known only to the order or partnership, so these policies admit the roles that can
# be a party, and the networking service answers 403 to a principal that is not one.
def any_token(principal: Principal, path: Mapping[str, str]) -> bool:
    return True


def cooperative_principal(principal: Principal, path: Mapping[str, str]) -> bool:
    """A cooperative's board or a member (the order's buyer or seller, decided by networking)."""
    return principal.role in ("coop_admin", "member")


def order_reader(principal: Principal, path: Mapping[str, str]) -> bool:
    return principal.role in ("coop_admin", "member", "network_admin")


def partnership_proposer(principal: Principal, path: Mapping[str, str]) -> bool:
    return principal.role in ("coop_admin", "network_admin")


def partnership_party(principal: Principal, path: Mapping[str, str]) -> bool:
    return principal.role in ("coop_admin", "partner")


def partnership_reader(principal: Principal, path: Mapping[str, str]) -> bool:
    return principal.role in ("coop_admin", "partner", "network_admin")


NETWORKING_WORDS: dict[Policy, str] = {
    any_token: "any token",
    cooperative_principal: "coop_admin or member; the service decides whether it is the order's party",
    order_reader: "the order's parties, or network_admin",
    partnership_proposer: "coop_admin (a party) or network_admin",
    partnership_party: "each party's coop_admin or the partner itself",
    partnership_reader: "the parties, or network_admin",
}
