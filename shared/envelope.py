"""The event envelope of ../shared/spec/events.md: plain JSON values only."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# One encoder for every envelope: json.dumps with arguments builds a new encoder per call, a
# third of the time of encoding an event on the relay's path.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def utc_now() -> str:
    """An ISO 8601 UTC instant with a `Z`, millisecond precision."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


def derived_id(namespace: str, name: str) -> str:
    """A stable id for `name` within `namespace`: the same inputs always give the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kopnet:{namespace}:{name}"))


@dataclass(frozen=True)
class Envelope:
    event_id: str
    event_type: str
    schema_version: int
    stream_type: str
    stream_id: str
    stream_version: int
    position: int
    occurred_at: str
    cooperative_id: str | None
    correlation_id: str
    causation_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return self.event_type.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.event_type.split(".", 1)[1]

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))  # shallow: envelopes are immutable and this is the relay's hot path

    def to_json(self) -> bytes:
        return _ENCODER.encode(self.to_dict()).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        return cls.from_dict(json.loads(raw))
