"""Who caused an event: the `actor` every kopnet event payload records (the audit trail).

A gateway request sends `context.actor = {role, subject}` (the token's role and the member,
partner or cooperative it names); a policy's actor is the event it reacted to. `audited` wraps a
command so that every event it triggers carries the actor: the command's rules never see it, the
apply methods ignore it, and a replay reads it back from the stored payload.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .aggregate import Aggregate
from .envelope import Envelope

A = TypeVar("A", bound=Aggregate)
Actor = dict[str, str]


def actor_from_wire(context: dict[str, Any] | None) -> Actor | None:
    """The actor an RPC caller sent in its context, if it sent a well-formed one."""
    actor = (context or {}).get("actor")
    if isinstance(actor, dict) and all(isinstance(v, str) for v in actor.values()):
        return {str(k): v for k, v in actor.items()}
    return None


def caused_by(event: Envelope) -> Actor:
    """The actor of what a policy does in reaction to `event`."""
    return {"service": event.service, "event": event.event_type, "event_id": event.event_id}


def audited(command: Callable[[A], Any], actor: Actor | None) -> Callable[[A], Any]:
    """`command`, with `actor` recorded in every event it triggers (None: nothing recorded)."""
    if actor is None:
        return command

    def run(aggregate: A) -> Any:
        result = command(aggregate)
        for event in aggregate.pending_events:  # the pending events' payloads, not copies
            event.data.setdefault("actor", dict(actor))
        return result

    return run
