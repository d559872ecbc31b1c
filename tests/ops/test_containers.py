"""deploy/Dockerfile passes hadolint; deploy/docker-compose.yml validates against the compose
specification (offline, check-jsonschema's vendored schema) and runs every service from the
one image; the image's premise (each service's config.yml installed beside its code) holds."""
from __future__ import annotations

import re
import shutil
import sys

import yaml

from shared.supervisor import ORDER
from tests.ops.conftest import PROMETHEUS_DIR, REPO, run, tool

DOCKERFILE = REPO / "deploy" / "Dockerfile"
COMPOSE = REPO / "deploy" / "docker-compose.yml"


def test_dockerfile_passes_hadolint():
    run([tool("hadolint"), "--failure-threshold", "error", str(DOCKERFILE)])
    # and without a threshold: not even a style note
    assert run([tool("hadolint"), str(DOCKERFILE)]).stdout.strip() == ""


def test_dockerfile_is_pinned_non_root_and_holds_no_secrets():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}$", text, re.M)
    assert re.findall(r"^FROM \$\{PYTHON_IMAGE\}", text, re.M), "every stage from the pinned base"
    assert re.search(r"^USER 10001:10001$", text, re.M)
    last_user = [line for line in text.splitlines() if line.startswith("USER ")][-1]
    assert "root" not in last_user and " 0" not in last_user
    instructions = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"(SECRET|PASSWORD|TOKEN|AMQP_URI|MONGODB_URI)\s*=", instructions), "no secrets"


def test_compose_file_validates_against_the_compose_spec():
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])


def test_compose_runs_every_service_from_the_image_with_secrets_from_the_environment():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    for name in ORDER:
        assert services[name]["command"] == ["kopnet", "run", name]
        assert services[name]["image"] == "kopnet:local" and services[name]["user"] == "10001:10001"
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["rabbitmq"]["image"].endswith("-management")
    assert services["mongodb"]["image"].startswith("mongo:")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    # every credential is a required variable, never a value written here
    text = COMPOSE.read_text()
    for secret in ("RABBITMQ_PASSWORD", "MONGODB_PASSWORD", "KOPNET_JWT_SECRET", "KOPNET_NIK_KEY"):
        assert f"${{{secret}:?" in text
    assert not re.search(r"(PASS|PASSWORD|SECRET):\s+(?!\$\{)\S", text)


def test_compose_prometheus_config_passes_promtool_and_scrapes_the_compose_services():
    run([tool("promtool"), "check", "config", "prometheus-compose.yml"], cwd=PROMETHEUS_DIR)
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus-compose.yml").read_text())
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    targets = {target for job in config["scrape_configs"] for group in job["static_configs"]
               for target in group["targets"]}
    always_on = {name for name in ORDER if "profiles" not in compose[name]}
    assert {t.split(":")[0] for t in targets} == always_on | {"rabbitmq"}


def test_package_installs_each_service_config_beside_its_code(tmp_path):
    """The image installs kopnet as a wheel; a service without its config.yml there would run
    without its metrics port and database name. Checked with setuptools' own file list."""
    for part in ("pyproject.toml", "shared", "services"):
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / part)
    run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "egg_info"], cwd=tmp_path)
    sources = (tmp_path / "kopnet.egg-info" / "SOURCES.txt").read_text().split()
    configs = sorted(str(p.relative_to(REPO)) for p in (REPO / "services").glob("*/config.yml"))
    assert configs and set(configs) <= set(sources), (configs, sources)
