"""What the event store stores and answers: a commit (one command's events, one document),
the events a command appends, and the errors an append can end in. Plain data: the store
(eventstore.py) writes and reads them, everyone else only looks at them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .aggregate import DomainError
from .envelope import Envelope
from .registry import EventRegistry

MAX_EVENTS_PER_COMMIT = 1000
#: Seconds a caller should wait before retrying a command whose outcome is unknown.
RETRY_AFTER = 1


class ConcurrencyError(Exception):
    """The stream moved on since it was read: reload and decide again."""


class StoreUnavailable(Exception):
    """The store did not answer; nothing was stored."""


class OutcomeUnknown(StoreUnavailable):
    """The store may or may not have stored the command: retry it with the same command id
    (which stores it at most once), after `retry_after` seconds."""

    def __init__(self, message: str, command_id: str = "", retry_after: int = RETRY_AFTER):
        super().__init__(message, command_id, retry_after)
        self.message, self.command_id, self.retry_after = message, command_id, retry_after

    def __str__(self) -> str:
        return self.message


class CommandIdReused(DomainError):
    """A command id already stored for another stream: a caller's bug, not a duplicate."""

    def __init__(self, code: str = "conflict", message: str = "", fields: dict[str, Any] | None = None):
        super().__init__(code, message or "this command id was already used for another stream", fields)


@dataclass(frozen=True)
class NewEvent:
    event_type: str
    payload: dict[str, Any]
    event_id: str = ""
    occurred_at: str = ""


@dataclass(frozen=True)
class PendingCommit:
    """One commit of `EventStore.append_all`: what `append` takes for one."""

    stream_type: str
    stream_id: str
    expected_version: int
    events: list[NewEvent]
    command_id: str
    correlation_id: str | None = None
    causation_id: str | None = None
    cooperative_id: str | None = None


@dataclass(frozen=True)
class Commit:
    command_id: str
    stream_type: str
    stream_id: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int
    events: list[Envelope]
    #: True when the command had been stored before and this is its first result.
    duplicate: bool = False


def envelopes_of(document: dict[str, Any], registry: EventRegistry | None, upcast: bool = True
                 ) -> list[Envelope]:
    """The envelopes of a stored commit document, upcast to their current schema unless asked not to."""
    envelopes = []
    for offset, event in enumerate(document["events"]):
        envelope = Envelope(
            event_id=event["event_id"],
            event_type=event["event_type"],
            schema_version=event["schema_version"],
            stream_type=document["stream_type"],
            stream_id=document["stream_id"],
            stream_version=event["stream_version"],
            position=document["position"] + offset,
            occurred_at=event["occurred_at"],
            cooperative_id=document["cooperative_id"],
            correlation_id=document["correlation_id"],
            causation_id=document["causation_id"],
            payload=event["payload"],
        )
        envelopes.append(registry.upcast(envelope) if registry and upcast else envelope)
    return envelopes


def commit_from(document: dict[str, Any], registry: EventRegistry | None, duplicate: bool = False) -> Commit:
    return Commit(
        command_id=document["command_id"],
        stream_type=document["stream_type"],
        stream_id=document["stream_id"],
        first_version=document["first_version"],
        last_version=document["last_version"],
        first_position=document["position"],
        last_position=document["end"],
        events=envelopes_of(document, registry),
        duplicate=duplicate,
    )
