"""k8s/: every manifest passes yamllint, and
- core Kubernetes kinds pass `kubernetes-validate --strict` against Kubernetes 1.34;
- the operators' kinds (RabbitmqCluster, MongoDBCommunity, PodMonitor, PrometheusRule), which
  kubernetes-validate has no schema for, pass check-jsonschema against tests/ops/schemas/*.json:
  schemas written for the fields kopnet uses (names and types; unknown fields are errors),
  not the operators' full CRDs; the PrometheusRule's rules also pass promtool;
- the generated files are what k8s/render.py makes, and the whole set has what a service
  needs: probes, resources, secret references only, an autoscaler, a disruption budget, and
  network policies that let in only the gateway's HTTP port from outside."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from shared.supervisor import ORDER
from tests.ops.conftest import REPO, execute, run, tool

K8S = REPO / "k8s"
KUBERNETES_VERSION = "1.34.0"
SCHEMAS = Path(__file__).with_name("schemas")
OPERATOR_KINDS = {"RabbitmqCluster", "MongoDBCommunity", "PodMonitor", "PrometheusRule"}


def manifests() -> list[Path]:
    return sorted(K8S.rglob("*.yaml"))


def documents() -> list[dict]:
    return [doc for path in manifests() for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == kind}


def test_yamllint_passes_on_deploy_and_k8s():
    run([tool("yamllint"), "-c", str(REPO / ".yamllint.yml"), "--strict", "deploy", "k8s"])


def test_generated_manifests_are_up_to_date():
    run([sys.executable, "k8s/render.py", "--check"])


def test_core_kinds_pass_kubernetes_validate_strict():
    result = execute([tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION,
                      *map(str, manifests())])
    lines = (result.stdout + result.stderr).splitlines()
    unchecked = {line.split(" kind ")[1].split(" ")[0] for line in lines if "Couldn't find schema" in line}
    problems = [line for line in lines if not line.startswith("INFO") and "Couldn't find schema" not in line]
    assert result.returncode == 0 and not problems, "\n".join(lines)
    assert unchecked == OPERATOR_KINDS, f"only the operators' kinds may go unchecked here: {unchecked}"
    core = [doc for doc in documents() if doc["kind"] not in OPERATOR_KINDS]
    assert len([line for line in lines if line.startswith("INFO") and " passed " in line]) == len(core)


def test_operator_kinds_pass_their_schemas(tmp_path):
    seen = set()
    for doc in documents():
        if doc["kind"] not in OPERATOR_KINDS:
            continue
        seen.add(doc["kind"])
        instance = tmp_path / f"{doc['kind']}-{doc['metadata']['name']}.json"
        instance.write_text(json.dumps(doc))
        run([tool("check-jsonschema"), "--schemafile", str(SCHEMAS / f"{doc['kind'].lower()}.schema.json"),
             str(instance)])
    assert seen == OPERATOR_KINDS


def test_operator_schemas_reject_unknown_fields(tmp_path):
    """The hand-written schemas catch a misspelt field (so they check something)."""
    cluster = by_kind("RabbitmqCluster")["kopnet-rabbitmq"]
    cluster["spec"]["rabbitmq"]["additionalconfig"] = cluster["spec"]["rabbitmq"].pop("additionalConfig")
    instance = tmp_path / "bad.json"
    instance.write_text(json.dumps(cluster))
    schema = SCHEMAS / "rabbitmqcluster.schema.json"
    result = execute([tool("check-jsonschema"), "--schemafile", str(schema), str(instance)])
    assert result.returncode == 1 and "additionalconfig" in result.stdout


def test_prometheus_rule_matches_alerts_and_passes_promtool(tmp_path):
    rule = by_kind("PrometheusRule")["kopnet-alerts"]
    alerts = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    run([tool("promtool"), "check", "rules", str(tmp_path / "rules.yml")])


def test_rabbitmq_and_mongodb_are_replicated_clusters():
    rabbit = by_kind("RabbitmqCluster")["kopnet-rabbitmq"]["spec"]
    assert rabbit["replicas"] == 3 and "default_queue_type = quorum" in rabbit["rabbitmq"]["additionalConfig"]
    mongo = by_kind("MongoDBCommunity")["kopnet-mongodb"]["spec"]
    assert mongo["members"] == 3 and mongo["type"] == "ReplicaSet"
    assert by_kind("RoleBinding")["mongodb-database"]["subjects"][0]["name"] == "mongodb-database"


@pytest.mark.parametrize("name", ORDER)
def test_every_service_is_deployable(name):
    deployment = by_kind("Deployment")[name]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["kopnet", "run", name]
    metrics = next(p for p in container["ports"] if p["name"] == "metrics")["containerPort"]
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(metrics)
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert pod["securityContext"]["runAsNonRoot"]
    assert not container["securityContext"]["allowPrivilegeEscalation"]
    # secrets only by reference, and only to the one Secret
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert all("value" not in e for e in container["env"])
    assert {ref["name"] for ref in refs.values()} == {"kopnet-secrets"}
    expected = {"AMQP_URI", "MONGODB_URI"} | ({"KOPNET_JWT_SECRET"} if name == "gateway" else set()) | (
        {"KOPNET_NIK_KEY"} if name == "membership" else set())
    assert set(refs) == expected
    assert refs["AMQP_URI"]["key"] == ("FEED_AMQP_URI" if name == "feed" else "AMQP_URI")  # its admin user
    assert by_kind("Service")[name]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    hpa = by_kind("HorizontalPodAutoscaler")[name]["spec"]
    assert hpa["scaleTargetRef"]["name"] == name and hpa["minReplicas"] >= 2
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    assert by_kind("PodDisruptionBudget")[name]["spec"]["selector"] == deployment["spec"]["selector"]


def test_no_secret_values_in_the_repository():
    assert by_kind("Secret") == {}
    for doc in documents():
        assert "stringData" not in doc and not (doc["kind"] == "ConfigMap" and any(
            word in key for key in doc.get("data", {}) for word in ("SECRET", "PASSWORD", "URI")))


def test_network_policies_expose_only_the_gateway():
    policies = by_kind("NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    open_to_all = []  # (policy, ports) of rules with no `from`: reachable from anywhere
    for name, policy in policies.items():
        for rule in policy["spec"].get("ingress", []):
            assert rule, f"{name}: an empty rule admits everything"
            if "from" not in rule:
                open_to_all.append((name, [p["port"] for p in rule["ports"]]))
            for peer in rule.get("from", []):
                assert "ipBlock" not in peer, name
                namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
                assert peer.get("podSelector") or namespace.get("kubernetes.io/metadata.name") in (
                    "monitoring", "rabbitmq-system"), f"{name}: {peer}"
    assert open_to_all == [("gateway-http", [8000])]
    gateway = policies["gateway-http"]["spec"]["podSelector"]["matchLabels"]
    assert gateway["app.kubernetes.io/name"] == "gateway"
