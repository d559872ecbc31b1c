"""One place that builds a service's kernel parts from its configuration."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import topology
from .application import Application
from .consumer import Subscriber, Subscription
from .eventstore import EventStore, connect
from .metrics import Metrics
from .projection import Projection, ProjectionRunner
from .registry import EventRegistry
from .relay import OutboxRelay

log = logging.getLogger(__name__)


@dataclass
class ServiceDefinition:
    """What a service contributes: its name, event schemas, projections and subscriptions."""

    name: str
    registry: EventRegistry
    projections: list[Projection] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    #: Reactions that need the running kernel (e.g. its application): kernel -> Subscription.
    policies: list[Callable[[Kernel], Subscription]] = field(default_factory=list)


@dataclass
class Settings:
    amqp_uri: str
    mongodb_uri: str
    database: str
    metrics_port: int = 0

    @classmethod
    def from_config(cls, config: dict[str, Any], service: str) -> Settings:
        kopnet = config.get("KOPNET", {}) or {}
        return cls(
            amqp_uri=config["AMQP_URI"],
            mongodb_uri=config["MONGODB_URI"],
            database=kopnet.get("DATABASE") or f"kopnet_{service}",
            metrics_port=int(kopnet.get("METRICS_PORT", 0) or 0),
        )


class Kernel:
    def __init__(self, definition: ServiceDefinition, settings: Settings, metrics: Metrics | None = None):
        self.definition = definition
        self.settings = settings
        self.metrics = metrics or Metrics(definition.name)
        self.database = connect(settings.mongodb_uri, settings.database)
        self.store = EventStore(self.database, definition.registry)
        self.store.listeners.append(
            lambda commit: self.metrics.events_appended.labels(definition.name).inc(len(commit.events)))
        self.application = Application(self.store, definition.registry)
        subscriptions = [*definition.subscriptions, *(make(self) for make in definition.policies)]
        own = [subscription.spec(definition.name) for subscription in subscriptions]
        listed = topology.declared()
        for problem in topology.mismatches(own, listed):
            log.error("%s: subscription not in the declared topology (deploy/topology.yml), so other "
                      "services' relays do not declare it: %s", definition.name, problem)
        self.relay = OutboxRelay(self.store, settings.amqp_uri, definition.name, self.metrics,
                                 topology=[*listed, *own])
        self.projections = ProjectionRunner(self.store, definition.projections, settings.amqp_uri,
                                            definition.name, self.metrics)
        self.subscribers = [
            Subscriber(definition.name, subscription, self.database, settings.amqp_uri, self.metrics,
                       definition.registry)
            for subscription in subscriptions
        ]

    def background_loops(self):
        yield self.relay.run
        if self.definition.projections:
            yield self.projections.run
        for subscriber in self.subscribers:
            yield subscriber.run

    def stop(self) -> None:
        self.relay.stop()
        self.projections.stop()
        for subscriber in self.subscribers:
            subscriber.stop()
