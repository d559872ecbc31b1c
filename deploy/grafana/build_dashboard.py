#!/usr/bin/env python3
"""Writes deploy/grafana/kopnet.json, the Grafana dashboard for a kopnet network.

    python3 deploy/grafana/build_dashboard.py           # rewrite kopnet.json
    python3 deploy/grafana/build_dashboard.py --check   # exit 1 if kopnet.json is stale

Stdlib only. Every panel's PromQL is checked by promtool and run against a live Prometheus in
tests/ops/test_dashboard.py. Template variables: `datasource` (a Prometheus data source) and
`service` (multi-select over `up{job="kopnet"}`); queries use `$__rate_interval`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).with_name("kopnet.json")
DS = {"type": "prometheus", "uid": "${datasource}"}
SVC = 'service=~"$service"'
RATE = "[$__rate_interval]"


def rate(metric: str, by: str, selector: str = "") -> str:
    inner = f"{SVC},{selector}" if selector else SVC
    return f"sum by ({by}) (rate({metric}{{{inner}}}{RATE}))"


def p(quantile: float, metric: str, by: str, selector: str = "") -> str:
    inner = f"{SVC},{selector}" if selector else SVC
    return (f"histogram_quantile({quantile}, sum by ({by}, le) "
            f"(rate({metric}_bucket{{{inner}}}{RATE})))")


# (title, unit, description, [(expr, legend)])  -- one row of panels per section
SECTIONS: list[tuple[str, list[tuple[str, str, str, list[tuple[str, str]]]]]] = [
    ("Gateway HTTP", [
        ("Requests per second by route", "reqps", "All HTTP requests the gateway answered.",
         [(rate("kopnet_http_requests_total", "method, route"), "{{method}} {{route}}")]),
        ("5xx ratio by route", "percentunit", "Share of requests answered with a 5xx status "
         "(alert KopnetGatewayErrorRateHigh at 5% over 5m).",
         [(rate("kopnet_http_requests_total", "method, route", 'status=~"5.."') + "\n/ "
           + rate("kopnet_http_requests_total", "method, route"), "{{method}} {{route}}")]),
        ("Client errors (4xx) by route and status", "reqps", "Refused requests: validation, "
         "auth, not found, conflicts, business rules.",
         [(rate("kopnet_http_requests_total", "route, status", 'status=~"4.."'),
           "{{status}} {{route}}")]),
        ("Latency by route (p50, p99)", "s", "From the gateway's request histogram.",
         [(p(0.5, "kopnet_http_request_duration_seconds", "method, route"), "p50 {{method}} {{route}}"),
          (p(0.99, "kopnet_http_request_duration_seconds", "method, route"), "p99 {{method}} {{route}}")]),
    ]),
    ("Services", [
        ("Targets up", "short", "1 per scraped process; 0 means Prometheus cannot reach it "
         "(alert KopnetServiceDown).",
         [(f'sum by (service) (up{{job="kopnet",{SVC}}})', "{{service}}"),
          ('sum by (service) (up{job="rabbitmq"})', "rabbitmq")]),
        ("RPC calls per second", "reqps", "Entrypoint calls of kind rpc by service and entrypoint.",
         [(rate("kopnet_entrypoint_calls_total", "service, entrypoint", 'kind="rpc"'),
           "{{service}}.{{entrypoint}}")]),
        ("Entrypoint errors per second", "reqps", "Calls that raised (any kind).",
         [(rate("kopnet_entrypoint_calls_total", "service, kind, entrypoint", 'outcome="error"'),
           "{{service}}.{{entrypoint}} ({{kind}})")]),
        ("RPC latency p99", "s", "Alert KopnetRpcLatencyHigh at 0.5 s for 10m.",
         [(p(0.99, "kopnet_entrypoint_duration_seconds", "service, entrypoint", 'kind="rpc"'),
           "{{service}}.{{entrypoint}}")]),
    ]),
    ("Events", [
        ("Events appended per second", "ops", "Events stored in each service's event store.",
         [(rate("kopnet_events_appended_total", "service"), "{{service}}")]),
        ("Events published per second", "ops", "Events the outbox relay had confirmed by RabbitMQ.",
         [(rate("kopnet_events_published_total", "service"), "{{service}}")]),
        ("Relay backlog (outbox)", "short", "Stored events not yet confirmed by RabbitMQ "
         "(alert KopnetOutboxBacklogGrowing above 1000 and growing for 5m).",
         [(f"max by (service) (kopnet_outbox_backlog_events{{{SVC}}})", "{{service}}")]),
        ("Projection lag (seconds)", "s", "Age of the newest event when the projection applied it "
         "(alert KopnetProjectionLagHigh above 30 s for 5m).",
         [(f"max by (service, projection) (kopnet_projection_lag_seconds{{{SVC}}})",
           "{{service}}/{{projection}}")]),
        ("Read-model lag p99", "s", "Age of each applied batch's oldest event once its read-model "
         "changes were stored: how far behind a reader could have been (kept under 1 s up to the "
         "sustained bench's held rate).",
         [(p(0.99, "kopnet_projection_event_age_seconds", "service, projection"),
           "{{service}}/{{projection}}")]),
        ("Projection lag (events)", "short", "Stored events a projection has not applied yet.",
         [(f"max by (service, projection) (kopnet_projection_lag_events{{{SVC}}})",
           "{{service}}/{{projection}}")]),
    ]),
    ("Subscriptions", [
        ("Messages per second by outcome", "ops", "applied, duplicate, retried, parked.",
         [(rate("kopnet_messages_total", "service, handler, outcome"),
           "{{service}}/{{handler}} {{outcome}}")]),
        ("Parked messages (since process start)", "short", "Messages given up on after their "
         "retries, waiting on <service>.<handler>.parked (alert KopnetMessagesParked).",
         [(f"sum by (service, handler) (kopnet_messages_parked{{{SVC}}})", "{{service}}/{{handler}}")]),
        ("Handler latency p99", "s", "Time a subscription's handler takes per event.",
         [(p(0.99, "kopnet_handler_duration_seconds", "service, handler"), "{{service}}/{{handler}}")]),
        ("RabbitMQ messages ready and unacknowledged", "short", "All queues of the broker "
         "(rabbitmq_prometheus plugin).",
         [("sum(rabbitmq_queue_messages_ready)", "ready"),
          ("sum(rabbitmq_queue_messages_unacked)", "unacknowledged")]),
    ]),
    # services/feed/monitor.py; every feed replica exports each partner's gauges, hence max by
    ("Partner feed", [
        ("Partner queue depth", "short", "Messages waiting in partner.<id>, ready and unacknowledged "
         "(alert KopnetPartnerQueueGrowing above 10000 and not draining for 30m).",
         [(f"max by (partner) (kopnet_feed_queue_messages{{{SVC}}})", "{{partner}}")]),
        ("Oldest message in partner queue", "s", "Age of the message at the head of partner.<id>: how "
         "long the partner has not consumed.",
         [(f"max by (partner) (kopnet_feed_queue_oldest_message_age_seconds{{{SVC}}})", "{{partner}}")]),
        ("Feed lag", "s", "From an event's occurred_at until RabbitMQ confirmed it on the partner's "
         "queue (last batch relayed; the settle delay included).",
         [(f"max by (partner) (kopnet_feed_lag_seconds{{{SVC}}})", "{{partner}}")]),
        ("Events fed per second", "ops", "Events appended to each partner's feed (the replay and "
         "the queue alike).",
         [(rate("kopnet_feed_events_total", "partner"), "{{partner}}")]),
    ]),
]


def dashboard() -> dict:
    panels: list[dict] = []
    next_id, y = 1, 0
    for row_title, row_panels in SECTIONS:
        panels.append({"id": next_id, "type": "row", "title": row_title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id, y = next_id + 1, y + 1
        width = 24 // len(row_panels)
        for index, (title, unit, description, queries) in enumerate(row_panels):
            panels.append({
                "id": next_id, "type": "timeseries", "title": title, "description": description,
                "datasource": DS,
                "gridPos": {"h": 8, "w": width, "x": index * width, "y": y},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "table", "placement": "bottom",
                                       "calcs": ["lastNotNull", "max"]},
                            "tooltip": {"mode": "multi", "sort": "desc"}},
                "targets": [{"refId": chr(ord("A") + n), "datasource": DS, "expr": expr,
                             "legendFormat": legend, "range": True}
                            for n, (expr, legend) in enumerate(queries)],
            })
            next_id += 1
        y += 8
    return {
        "uid": "kopnet", "title": "kopnet network", "tags": ["kopnet"], "timezone": "utc",
        "schemaVersion": 39, "version": 1, "editable": True, "graphTooltip": 1,
        "time": {"from": "now-1h", "to": "now"}, "refresh": "30s",
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0},
            {"name": "service", "label": "Service", "type": "query", "datasource": DS,
             "definition": 'label_values(up{job="kopnet"}, service)',
             "query": {"query": 'label_values(up{job="kopnet"}, service)', "refId": "services"},
             "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "sort": 1,
             "current": {"selected": True, "text": ["All"], "value": ["$__all"]}},
        ]},
        "annotations": {"list": [
            {"name": "Alerts", "datasource": DS, "enable": True, "iconColor": "red",
             "expr": 'ALERTS{alertstate="firing", alertname=~"Kopnet.*|RabbitMQDown"}',
             "titleFormat": "{{alertname}}", "textFormat": "{{service}}"}]},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python3 {Path(__file__).as_posix()}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
