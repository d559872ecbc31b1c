"""The kernel inside a real nameko container: RPC over RabbitMQ, relay, metrics."""
from __future__ import annotations

import urllib.request

import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from shared.config import load_config
from shared.envelope import Envelope
from tests.conftest import free_port, wait_for
from tests.support.bankservice.service import BankService


@pytest.fixture
def bank_container(database_name, amqp_uri, mongodb_uri, monkeypatch):
    port = free_port()
    monkeypatch.setenv("KOPNET_BANK_DATABASE", database_name)
    monkeypatch.setenv("KOPNET_BANK_METRICS_PORT", str(port))
    config = load_config("tests/support/bankservice/config.yml")
    container = ServiceContainer(BankService, config)
    container.start()
    yield container, port, config
    container.stop()


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def test_rpc_commands_are_stored_relayed_and_measured(bank_container, tap):
    container, port, config = bank_container
    seen = tap("bank.*")
    with ClusterRpcProxy(config) as cluster:
        cluster.bank.open("a1", "coop-1", "siti")
        assert cluster.bank.deposit("a1", 250) == 250
        assert cluster.bank.deposit("a1", 250, command_id="same") == 500
        assert cluster.bank.deposit("a1", 250, command_id="same") == 500  # idempotent
    wait_for(lambda: len(seen.drain()) >= 3, what="three events published")
    assert [Envelope.from_json(m.body).event_type for m in seen.messages] == [
        "bank.AccountOpened", "bank.Deposited", "bank.Deposited"]
    text = wait_for(lambda: (t := metrics_text(port)) and
                    'kopnet_events_published_total{service="bank"} 3.0' in t and t, what="published metric")
    assert 'kopnet_events_appended_total{service="bank"} 3.0' in text
    assert 'kopnet_entrypoint_calls_total{entrypoint="deposit",kind="rpc",outcome="ok",service="bank"} 3.0' in text
    assert 'kopnet_entrypoint_duration_seconds_count{entrypoint="deposit",kind="rpc",service="bank"} 3.0' in text
    assert 'kopnet_outbox_backlog_events{service="bank"} 0.0' in text
    assert "kopnet_projection_lag_events" in text


def test_health_and_readiness(bank_container):
    _container, port, _config = bank_container
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
        assert response.status == 200 and b'"ready": true' in response.read()


def test_a_request_past_its_callers_deadline_is_refused_and_changes_nothing(bank_container):
    import time

    from shared.aggregate import DomainError

    _container, _port, config = bank_container
    with ClusterRpcProxy(config, context_data={"kopnet_deadline": time.time() - 1}) as late:
        with pytest.raises(DomainError) as refused:
            late.bank.open("a9", "coop-1", "siti")
    assert refused.value.code == "unavailable"
    with ClusterRpcProxy(config, context_data={"kopnet_deadline": time.time() + 30}) as in_time:
        assert in_time.bank.open("a9", "coop-1", "siti") == 1, "the refused call stored nothing"
