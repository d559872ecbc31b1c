"""End to end: Debian's Prometheus, started on loopback with the project's scrape config,
scrapes real kopnet service processes; traffic driven through RPC (and the gateway's HTTP
API when the gateway is in the tree) shows in kopnet's metrics as Prometheus stores them;
every Grafana panel's PromQL passes promtool and runs on that Prometheus without error."""
from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import yaml
from nameko.standalone.rpc import ClusterRpcProxy

from tests.conftest import wait_for
from tests.ops.conftest import REPO, http_get, run, tool
from tests.ops.test_prometheus_rules import ALERTS

DASHBOARD = REPO / "deploy" / "grafana" / "kopnet.json"
DEPOSITS = 5
ROUNDS = 2
EVENTS = 1 + ROUNDS * DEPOSITS  # one AccountOpened, then Deposited


@pytest.fixture(scope="module")
def traffic(live_stack):
    """Drives traffic for the module in two rounds, the second after Prometheus has scraped the
    first (kopnet's labelled series appear at their first use; `rate` needs an increase between
    two scrapes): bank RPC commands (events appended and published) and, when the gateway runs,
    HTTP requests (one unauthenticated, two authenticated) per round."""
    statuses: dict[str, int] = {}
    now = datetime.now(UTC)
    token = jwt.encode({"role": "network_admin", "iss": "kopnet", "iat": now,
                        "exp": now + timedelta(minutes=10)}, live_stack.jwt_secret, algorithm="HS256")
    auth = {"Authorization": f"Bearer {token}"}
    with ClusterRpcProxy({"AMQP_URI": live_stack.amqp_uri}) as cluster:
        cluster.bank.open("ops-1", "coop-ops", "siti")
        for round_ in range(ROUNDS):
            for _ in range(DEPOSITS):
                cluster.bank.deposit("ops-1", 100)
            if live_stack.gateway_url:
                statuses["anonymous"] = http_get(f"{live_stack.gateway_url}/api/v1/cooperatives")[0]
                statuses["openapi"] = http_get(f"{live_stack.gateway_url}/api/v1/openapi.json", auth)[0]
                statuses["list"] = http_get(f"{live_stack.gateway_url}/api/v1/cooperatives", auth)[0]
            if round_ < ROUNDS - 1:
                live_stack.wait('sum(kopnet_events_published_total{service="bank"})',
                                lambda v, n=round_: v == 1 + (n + 1) * DEPOSITS, what="a round, scraped")
                if live_stack.gateway_url:  # scraped on its own schedule: wait for it as well
                    live_stack.wait('sum(kopnet_http_requests_total{status=~"4.."})',
                                    lambda v, n=round_: v >= n + 1, what="a round of HTTP requests, scraped")
    return statuses


def test_every_service_target_is_up(live_stack, traffic):
    def targets():
        active = live_stack.prometheus.api("targets", state="active")["activeTargets"]
        return {t["labels"]["service"]: t for t in active if t["labels"]["job"] == "kopnet"}

    def all_up(found: dict) -> bool:
        return set(found) == set(live_stack.ports) and all(t["health"] == "up" for t in found.values())

    # Prometheus applies discovered targets every 5 s
    found = wait_for(lambda: (current := targets()) and all_up(current) and current, timeout=20,
                     interval=0.25, what="every service's target up in Prometheus")
    assert set(found) == set(live_stack.ports), found
    assert {name: t["health"] for name, t in found.items()} == {name: "up" for name in found}, found
    for name in live_stack.ports:
        live_stack.wait(f'up{{job="kopnet",service="{name}"}}', lambda v: v == 1, what=f"up of {name}")


def test_rpc_traffic_and_events_show_in_prometheus(live_stack, traffic):
    stack, events = live_stack, EVENTS
    stack.wait('sum(kopnet_events_appended_total{service="bank"})', lambda v: v == events)
    stack.wait('sum(kopnet_events_published_total{service="bank"})', lambda v: v == events,
               what="events the relay had confirmed")
    stack.wait('sum(kopnet_entrypoint_calls_total{service="bank",kind="rpc",entrypoint="deposit",outcome="ok"})',
               lambda v: v == ROUNDS * DEPOSITS)
    stack.wait('sum(kopnet_entrypoint_duration_seconds_count{service="bank",kind="rpc"})',
               lambda v: v == events)
    stack.wait('max(kopnet_outbox_backlog_events{service="bank"})', lambda v: v == 0)


def test_one_relay_publishes_for_two_replicas_of_a_service(live_stack, traffic):
    """Two bank processes share one store: both take RPC calls, only the holder of the relay
    lock publishes, so every event is published once."""
    live_stack.wait('sum(kopnet_events_published_total{service="bank"})', lambda v: v == EVENTS)
    assert live_stack.prometheus.value('count(kopnet_events_published_total{service="bank"} > 0)') == 1
    assert live_stack.prometheus.value('count(up{job="kopnet",service=~"bank|bank-replica"} == 1)') == 2


def test_gateway_http_traffic_shows_in_prometheus(live_stack, traffic):
    assert live_stack.gateway_url, "the stack started the gateway"
    assert traffic["anonymous"] == 401, traffic
    stack = live_stack
    stack.wait('sum(kopnet_http_requests_total{service="gateway"})', lambda v: v >= 3 * ROUNDS,
               what="gateway HTTP requests")
    stack.wait('sum(kopnet_http_requests_total{service="gateway",status="401"})', lambda v: v >= 1)
    stack.wait('sum(kopnet_http_request_duration_seconds_count{service="gateway"})',
               lambda v: v >= 3 * ROUNDS)
    if traffic["list"] == 200:  # the listing went over RPC to membership
        stack.wait('sum(kopnet_entrypoint_calls_total{service="membership",kind="rpc"})', lambda v: v >= 1)


def test_rabbitmq_exporter_is_scraped(live_stack, traffic):
    try:
        status = http_get("http://127.0.0.1:15692/metrics", timeout=2)[0]
    except OSError:
        status = None
    assert status == 200, ("RabbitMQ's rabbitmq_prometheus plugin does not answer on 127.0.0.1:15692; "
                           "deploy/localinfra.py enables it — a RabbitMQ started otherwise needs it too")
    live_stack.wait('up{job="rabbitmq"}', lambda v: v == 1, what="RabbitMQ's exporter up")


def test_alert_rules_load_into_prometheus_and_none_fires(live_stack, traffic):
    groups = live_stack.prometheus.api("rules", type="alert")["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert sorted(rules) == sorted(ALERTS)
    assert all(rule["health"] in ("ok", "unknown") for rule in rules.values()), rules
    firing = [a for a in live_stack.prometheus.api("alerts")["alerts"] if a["state"] == "firing"]
    assert firing == []


# -- the Grafana dashboard ----------------------------------------------------------------------

def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title + refId, PromQL with the dashboard's variables filled in) for every target."""
    dashboard = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", "1m").replace('"$service"', '".*"')
            assert "$" not in expr, f"unhandled variable in {panel['title']}: {expr}"
            out.append((f"{panel['title']} [{target['refId']}]", expr))
    return out


def test_dashboard_is_generated_from_its_script():
    run([sys.executable, "deploy/grafana/build_dashboard.py", "--check"])


def test_dashboard_queries_parse_with_promtool(tmp_path):
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"kopnet_dashboard:panel_{n}", "expr": expr}
        for n, (_title, expr) in enumerate(dashboard_queries())]}]}
    (tmp_path / "dashboard-rules.yml").write_text(yaml.safe_dump(rules))
    out = run([tool("promtool"), "check", "rules", str(tmp_path / "dashboard-rules.yml")]).stdout
    assert f"SUCCESS: {len(rules['groups'][0]['rules'])} rules found" in out


def test_dashboard_queries_run_on_live_prometheus(live_stack, traffic):
    live_stack.wait('sum(rate(kopnet_events_published_total{service="bank"}[1m]))', lambda v: v > 0,
                    what="the second round of traffic, scraped")
    if live_stack.gateway_url:
        live_stack.wait('sum(rate(kopnet_http_requests_total{status=~"4.."}[1m]))', lambda v: v > 0,
                        what="the second round of HTTP requests, scraped")
    empty = []
    for title, expr in dashboard_queries():
        run([tool("promtool"), "query", "instant", live_stack.prometheus.url, expr], timeout=20)
        result = live_stack.prometheus.query(expr)  # the same query, its answer read
        if not [r for r in result if not math.isnan(float(r["value"][1]))]:
            empty.append(title)
    # The traffic above must show in the panels that are about it.
    expected = {"Targets up [A]", "RPC calls per second [A]", "RPC latency p99 [A]",
                "Events appended per second [A]", "Events published per second [A]",
                "Relay backlog (outbox) [A]", "Projection lag (events) [A]"}
    if live_stack.gateway_url:
        expected |= {"Requests per second by route [A]", "Client errors (4xx) by route and status [A]",
                     "Latency by route (p50, p99) [A]"}
    missing = sorted(expected & set(empty))
    assert not missing, f"panels without data after the traffic: {missing}"
