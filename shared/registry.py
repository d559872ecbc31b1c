"""Payload schemas by (event_type, schema_version), and upcasters for old versions.

Events are stored with the schema version they were written with and upcast on read,
so stored history is never rewritten and aggregates only ever see current payloads.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from marshmallow import Schema

from .envelope import Envelope

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEvent(LookupError):
    """An event type or version with no registered schema."""


class InvalidPayload(ValueError):
    """A payload that does not match its schema: a programming error in a domain class."""

    def __init__(self, event_type: str, errors: dict[str, Any]):
        super().__init__(f"payload of {event_type} is invalid: {errors}")
        self.errors = errors


class EventRegistry:
    def __init__(self, service: str):
        self.service = service
        self._schemas: dict[tuple[str, int], Schema] = {}
        self._current: dict[str, int] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._private: dict[str, tuple[str, ...]] = {}
        self._internal: set[str] = set()

    def event_type(self, name: str) -> str:
        return name if "." in name else f"{self.service}.{name}"

    def register(self, name: str, schema: type[Schema], version: int = 1, internal: bool = False) -> None:
        """`internal`: the event type stays in the service. It is stored, validated and projected
        like any other, but never published (the relay and `kopnet events redeliver` pass it
        by): for events that only restate other services' facts for this service's own read
        models (membership's HealthRecord), which no other service or partner needs, while
        relaying them cost the broker a persistent message per fact."""
        event_type = self.event_type(name)
        self._schemas[(event_type, version)] = schema()
        self._current[event_type] = max(version, self._current.get(event_type, 0))
        if internal:
            self._internal.add(event_type)

    def event(self, name: str, version: int = 1,
              internal: bool = False) -> Callable[[type[Schema]], type[Schema]]:
        """Class decorator form of `register`."""

        def decorate(schema: type[Schema]) -> type[Schema]:
            self.register(name, schema, version, internal)
            return schema

        return decorate

    def upcaster(self, name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Registers a function turning a `from_version` payload into `from_version + 1`."""

        def decorate(function: Upcaster) -> Upcaster:
            self._upcasters[(self.event_type(name), from_version)] = function
            return function

        return decorate

    def private(self, name: str, *fields: str) -> None:
        """Payload fields kept in the service's own store but never published (personal data, e.g.
        membership's NIK): `published` drops them, the relay and `kopnet events redeliver` send that."""
        self._private[self.event_type(name)] = fields

    def published(self, envelope: Envelope) -> Envelope:
        """The envelope as it may leave the service: without its event type's private fields."""
        hidden = self._private.get(envelope.event_type, ())
        if not any(name in envelope.payload for name in hidden):
            return envelope
        return replace(envelope, payload={k: v for k, v in envelope.payload.items() if k not in hidden})

    def leaves_service(self, event_type: str) -> bool:
        """Whether events of this type are published (not `internal`)."""
        return event_type not in self._internal

    def knows(self, event_type: str) -> bool:
        return event_type in self._current

    def current_version(self, event_type: str) -> int:
        try:
            return self._current[event_type]
        except KeyError:
            raise UnknownEvent(f"no schema registered for {event_type}") from None

    def validate(self, event_type: str, payload: dict[str, Any]) -> int:
        """Checks a new payload against the current schema; returns that schema's version."""
        version = self.current_version(event_type)
        errors = self._schemas[(event_type, version)].validate(payload)
        if errors:
            raise InvalidPayload(event_type, errors)
        return version

    def upcast(self, envelope: Envelope) -> Envelope:
        if not self.knows(envelope.event_type):
            return envelope
        target = self.current_version(envelope.event_type)
        version, payload = envelope.schema_version, envelope.payload
        while version < target:
            step = self._upcasters.get((envelope.event_type, version))
            if step is None:
                raise UnknownEvent(f"no upcaster for {envelope.event_type} v{version}")
            payload, version = step(dict(payload)), version + 1
        if version == envelope.schema_version:
            return envelope
        return replace(envelope, schema_version=version, payload=payload)
