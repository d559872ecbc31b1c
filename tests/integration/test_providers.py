"""The kernel inside a real nameko container: RPC over RabbitMQ, relay, metrics."""
from __future__ import annotations

import urllib.request

import pytest
from nameko.containers import ServiceContainer
from nameko.rpc import get_rpc_exchange, rpc
from nameko.standalone.rpc import ClusterRpcProxy

from services.gateway.rpc import ExpiringRpcProxy
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


class Teller:
    """Calls the bank as the gateway calls a service."""

    name = "teller"
    bank = ExpiringRpcProxy("bank")

    @rpc
    def deposit(self, account: str, amount: int) -> int:
        return self.bank.deposit(account, amount)


def test_the_gateways_requests_and_the_services_replies_stay_off_the_brokers_disk(bank_container, tap):
    _container, _port, config = bank_container
    seen = tap("#", exchange=get_rpc_exchange(config).name)  # every request and reply
    teller = ServiceContainer(Teller, {**config, "GATEWAY": {"RPC_TIMEOUT": "5"}})
    teller.start()
    try:
        with ClusterRpcProxy(config) as cluster:
            cluster.bank.open("t1", "coop-1", "siti")
            assert cluster.teller.deposit("t1", 250) == 250
    finally:
        teller.stop()
    messages = wait_for(lambda: (m := seen.drain()) and len(m) >= 6 and m, what="3 requests and 3 replies")
    by_key = [(m.delivery_info["routing_key"], m.properties) for m in messages]
    gateway_request = [properties for key, properties in by_key if key == "bank.deposit"]
    replies = [properties for key, properties in by_key if "." not in key]  # to a reply queue's id
    assert [(p["delivery_mode"], p["expiration"]) for p in gateway_request] == [(1, "4000")]
    assert len(replies) == 3 and all(p["delivery_mode"] == 1 for p in replies), replies


def test_health_and_readiness(bank_container):
    _container, port, _config = bank_container
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
        assert response.status == 200 and b'"ready": true' in response.read()


def _readiness(port: int) -> tuple[int, dict] | None:
    """(status, body) of /ready, or None while nothing listens on the port."""
    import json
    import urllib.error

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return None


def test_not_ready_until_the_rpc_queue_is_consumed(database_name, amqp_uri, mongodb_uri, monkeypatch):
    """nameko starts a container's extensions side by side: the ops server listens while the RPC
    queue's consumer is still starting (held here), and /ready must say so until it consumes."""
    import eventlet
    from nameko.messaging import QueueConsumer

    hold, consume_ready = eventlet.event.Event(), QueueConsumer.on_consume_ready

    def held(self, *args, **kwargs):
        hold.wait()
        return consume_ready(self, *args, **kwargs)

    monkeypatch.setattr(QueueConsumer, "on_consume_ready", held)
    port = free_port()
    monkeypatch.setenv("KOPNET_BANK_DATABASE", database_name)
    monkeypatch.setenv("KOPNET_BANK_METRICS_PORT", str(port))
    container = ServiceContainer(BankService, load_config("tests/support/bankservice/config.yml"))
    starting = eventlet.spawn(container.start)
    try:
        status, body = wait_for(lambda: _readiness(port), what="the ops server answering")
        assert status == 503 and body["problems"] == ["starting: QueueConsumer is not consuming yet"]
        hold.send()
        starting.wait()
        assert _readiness(port) == (200, {"ready": True, "problems": []})
    finally:
        if not hold.ready():
            hold.send()
        container.stop()


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
