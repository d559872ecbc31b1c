"""The expiring RPC proxy's decisions, without a broker: expiry, deadline, timeout, no service."""

from types import SimpleNamespace

import pytest
from eventlet.event import Event
from nameko.exceptions import UnknownService
from nameko.rpc import RpcReply

from services.gateway.errors import DependencyUnavailable
from services.gateway.rpc import DEADLINE, EXPIRY_SHARE, ExpiringRpcProxy, _MethodProxy

CONFIG = {"AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/", "GATEWAY": {"RPC_TIMEOUT": "0.1"}}


def worker_ctx():
    return SimpleNamespace(container=SimpleNamespace(config=CONFIG), context_data={})


def test_requests_expire_before_the_gateway_stops_waiting():
    proxy = ExpiringRpcProxy("membership")
    proxy.container = SimpleNamespace(config=CONFIG)
    proxy.setup()
    assert proxy.timeout == 0.1
    assert proxy.options["expiration"] == pytest.approx(0.1 * EXPIRY_SHARE)
    assert EXPIRY_SHARE < 1


def method(listener) -> _MethodProxy:
    return _MethodProxy(worker_ctx(), "membership", "get_cooperative", listener, 0.1)


def test_no_answer_in_time_is_unavailable_and_the_waiting_reply_is_forgotten(monkeypatch):
    listener = SimpleNamespace(_reply_events={})
    proxy = method(listener)

    def call(*args, **kwargs):
        event = Event()
        listener._reply_events["corr-1"] = event
        return RpcReply(event)

    monkeypatch.setattr(proxy, "_call", call)
    with pytest.raises(DependencyUnavailable, match="did not answer within 0.1s"):
        proxy("coop-1")
    assert listener._reply_events == {}


def test_an_answer_in_time_is_returned(monkeypatch):
    proxy = method(SimpleNamespace(_reply_events={}))
    event = Event()
    event.send({"result": {"id": "coop-1"}, "error": None})
    monkeypatch.setattr(proxy, "_call", lambda *a, **k: RpcReply(event))
    assert proxy("coop-1") == {"id": "coop-1"}


def test_a_service_that_never_ran_is_unavailable_at_once(monkeypatch):
    proxy = method(SimpleNamespace(_reply_events={}))

    def call(*args, **kwargs):
        raise UnknownService("membership")

    monkeypatch.setattr(proxy, "_call", call)
    with pytest.raises(DependencyUnavailable, match="not running"):
        proxy("coop-1")


def test_requests_carry_their_deadline_as_context_data():
    proxy = method(SimpleNamespace(_reply_events={}))
    proxy.deadline = 1234.5
    assert proxy.get_message_headers(worker_ctx())[f"nameko.{DEADLINE}"] == 1234.5


def test_requests_carry_the_http_requests_correlation_id_as_context_data():
    from shared.logs import correlation_scope

    proxy = method(SimpleNamespace(_reply_events={}))
    with correlation_scope("5b1f0a52-8a7e-4d3e-9d1e-2f6c1b0f4a11"):
        headers = proxy.get_message_headers(worker_ctx())
    assert headers["nameko.correlation_id"] == "5b1f0a52-8a7e-4d3e-9d1e-2f6c1b0f4a11"
    assert "nameko.correlation_id" not in proxy.get_message_headers(worker_ctx())
