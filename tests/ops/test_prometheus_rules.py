"""deploy/prometheus: the scrape config and alert rules pass promtool, and every alert's unit
tests (deploy/prometheus/tests/*.yml: it fires on a series that should fire it, and stays
silent on one that should not) pass `promtool test rules`."""
from __future__ import annotations

import yaml

from tests.ops.conftest import PROMETHEUS_DIR, run, tool

ALERTS = ["KopnetServiceDown", "RabbitMQDown", "KopnetOutboxBacklogGrowing", "KopnetProjectionLagHigh",
          "KopnetProjectionBehind", "KopnetMessagesParked", "KopnetGatewayErrorRateHigh",
          "KopnetRpcLatencyHigh", "KopnetRelayEventUnpublishable", "KopnetPositionHole", "KopnetLoopFailing",
          "KopnetPartnerQueueGrowing"]


def alert_rules() -> dict[str, dict]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_scrape_config_and_rules_pass_promtool():
    out = run([tool("promtool"), "check", "config", "prometheus.yml"], cwd=PROMETHEUS_DIR).stdout
    assert "SUCCESS: 12 rules found" in out
    run([tool("promtool"), "check", "rules", "alerts.yml"], cwd=PROMETHEUS_DIR)


def test_every_alert_has_severity_and_runbook():
    rules = alert_rules()
    assert sorted(rules) == sorted(ALERTS)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        for annotation in ("summary", "description", "runbook"):
            assert len(rule["annotations"].get(annotation, "")) > 20, f"{name}: {annotation}"


def test_alert_unit_tests_pass_and_cover_every_alert():
    files = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
    run([tool("promtool"), "test", "rules", *[str(f.relative_to(PROMETHEUS_DIR)) for f in files]],
        cwd=PROMETHEUS_DIR)
    firing, silent = set(), set()
    for file in files:
        for case in yaml.safe_load(file.read_text())["tests"]:
            for check in case["alert_rule_test"]:
                (firing if check["exp_alerts"] else silent).add(check["alertname"])
    assert firing == set(ALERTS), "an alert has no case where it fires"
    assert silent == set(ALERTS), "an alert has no case where it stays silent"
