"""Prometheus metrics of one service process. Kernel parts count here; nothing in a domain does."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Read-model lag: fine around the 1 s that readers (and the sustained bench's aim) allow.
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self, service: str, registry: CollectorRegistry | None = None):
        self.service = service
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.entrypoint_calls = Counter(
            "kopnet_entrypoint_calls_total", "Entrypoint calls (rpc, http, event) by outcome",
            ["service", "kind", "entrypoint", "outcome"], registry=r)
        self.entrypoint_seconds = Histogram(
            "kopnet_entrypoint_duration_seconds", "Entrypoint latency",
            ["service", "kind", "entrypoint"], buckets=_LATENCY_BUCKETS, registry=r)
        self.http_requests = Counter(
            "kopnet_http_requests_total", "HTTP requests by route and status",
            ["service", "method", "route", "status"], registry=r)
        self.http_seconds = Histogram(
            "kopnet_http_request_duration_seconds", "HTTP request latency by route",
            ["service", "method", "route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.events_appended = Counter(
            "kopnet_events_appended_total", "Events stored in the service's event store",
            ["service"], registry=r)
        self.events_published = Counter(
            "kopnet_events_published_total", "Events confirmed by RabbitMQ", ["service"], registry=r)
        self.outbox_backlog = Gauge(
            "kopnet_outbox_backlog_events", "Stored events not yet confirmed by RabbitMQ",
            ["service"], registry=r)
        self.projection_lag_events = Gauge(
            "kopnet_projection_lag_events", "Stored events a projection has not applied yet",
            ["service", "projection"], registry=r)
        self.projection_lag_seconds = Gauge(
            "kopnet_projection_lag_seconds", "Age of the newest event when a projection applied it",
            ["service", "projection"], registry=r)
        self.projection_event_age_seconds = Histogram(
            "kopnet_projection_event_age_seconds", "Age of a batch's oldest event when the projection "
            "had stored its read-model changes: how far behind a reader could have been",
            ["service", "projection"], buckets=_LAG_BUCKETS, registry=r)
        self.messages = Counter(
            "kopnet_messages_total", "Delivered messages by handler and outcome "
            "(applied, duplicate, retried, parked)", ["service", "handler", "outcome"], registry=r)
        self.handler_seconds = Histogram(
            "kopnet_handler_duration_seconds", "Event handler latency (subscriptions)",
            ["service", "handler"], buckets=_LATENCY_BUCKETS, registry=r)
        self.messages_parked = Gauge(
            "kopnet_messages_parked", "Messages parked after too many failed tries, since start",
            ["service", "handler"], registry=r)

        self.unpublishable_events = Counter(
            "kopnet_relay_unpublishable_events", "Stored events the relay could not turn into a message "
            "(passed by and recorded in relay_unpublishable)", ["service"], registry=r)
        self.loop_failures = Counter(
            "kopnet_loop_failures", "Unexpected failures of a background loop (relay, projections, "
            "subscriber), each followed by a backoff", ["service", "loop"], registry=r)
        self.position_holes = Counter(
            "kopnet_position_holes", "Positions declared holes (missing while later ones are stored, "
            "for longer than the hole timeout) and passed by a follower", ["service"], registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
