"""Admission control without a broker: limits, the bounded wait, shedding, release on error,
the metrics, and how a shed call answers (503 `unavailable`, Retry-After, nothing sent)."""

import json
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.gateway.admission import RETRY_AFTER, STANDING_SHARE, Admission, AdmissionMetrics, Saturated
from services.gateway.application import AdmittedKeys, Gateway
from services.gateway.auth import Principal, sign
from services.gateway.errors import to_api_error
from services.gateway.idempotency import Claim, Replay
from services.gateway.rpc import ExpiringRpcProxy, _ServiceProxy
from shared.metrics import Metrics
from tests.conftest import wait_for

LABELS = {"service": "gateway", "target": "ledger"}


def admission(limit=2, wait=0.05, **options):
    registry = CollectorRegistry()
    return Admission("ledger", limit, wait, AdmissionMetrics(registry), **options), registry


def sample(registry, name):
    return registry.get_sample_value(name, LABELS)


def in_background(target):
    outcome = {}

    def run():
        try:
            outcome["value"] = target()
        except Exception as error:  # noqa: BLE001 - the test looks at it
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_up_to_the_limit_calls_go_at_once_and_the_next_one_is_shed_after_the_wait():
    slots, registry = admission(limit=2, wait=0.05)
    started = time.monotonic()
    slots.acquire()
    slots.acquire()
    assert time.monotonic() - started < 0.05
    assert (slots.in_flight, sample(registry, "kopnet_gateway_rpc_in_flight")) == (2, 2)
    with pytest.raises(Saturated) as shed:
        slots.acquire()
    waited = time.monotonic() - started
    assert 0.05 <= waited < 0.5
    assert (shed.value.service, shed.value.retry_after) == ("ledger", RETRY_AFTER)
    assert sample(registry, "kopnet_gateway_shed_total") == 1
    assert (slots.in_flight, slots.waiting) == (2, 0)


def test_a_caller_gets_a_slot_freed_within_its_wait():
    slots, registry = admission(limit=1, wait=2.0)
    slots.acquire()
    waiter, outcome = in_background(slots.acquire)
    wait_for(lambda: slots.waiting == 1, what="1 waiting")
    started = time.monotonic()
    slots.release()
    waiter.join(2)
    assert outcome == {"value": None} and time.monotonic() - started < 0.5
    assert (slots.in_flight, slots.waiting) == (1, 0)
    assert sample(registry, "kopnet_gateway_shed_total") == 0
    slots.release()
    assert (slots.in_flight, sample(registry, "kopnet_gateway_rpc_in_flight")) == (0, 0)


def test_a_freed_slot_goes_to_the_oldest_waiter():
    slots, _ = admission(limit=1, wait=2.0, max_waiting=2)
    slots.acquire()
    order = []
    first, _ = in_background(lambda: (slots.acquire(), order.append("first")))
    wait_for(lambda: slots.waiting == 1, what="1 waiting")
    second, _ = in_background(lambda: (slots.acquire(), order.append("second")))
    wait_for(lambda: slots.waiting == 2, what="2 waiting")
    slots.release()
    first.join(2)
    assert order == ["first"] and slots.waiting == 1
    slots.release()
    second.join(2)
    assert order == ["first", "second"] and slots.in_flight == 1


def test_when_as_many_wait_as_may_the_next_caller_is_shed_at_once():
    slots, registry = admission(limit=1, wait=2.0)
    slots.acquire()
    waiter, outcome = in_background(slots.acquire)
    wait_for(lambda: slots.waiting == 1, what="1 waiting")
    started = time.monotonic()
    with pytest.raises(Saturated):
        slots.acquire()
    assert time.monotonic() - started < 0.1
    assert sample(registry, "kopnet_gateway_shed_total") == 1
    slots.release()
    waiter.join(2)
    assert outcome == {"value": None}


def test_under_a_standing_queue_callers_wait_only_a_short_while():
    now = [100.0]
    slots, registry = admission(limit=1, wait=1.0, max_waiting=2, clock=lambda: now[0])
    slots.acquire()
    early, early_outcome = in_background(slots.acquire)  # queue non-empty since t=100
    wait_for(lambda: slots.waiting == 1, what="1 waiting")
    assert slots.patience(100.5) == 1.0  # a burst: the full wait
    now[0] = 101.5  # callers have waited without a break for longer than `wait`: overload
    assert slots.patience(now[0]) == pytest.approx(STANDING_SHARE)
    started = time.monotonic()
    with pytest.raises(Saturated):
        slots.acquire()
    assert time.monotonic() - started < 0.6
    slots.release()  # the early waiter still gets its turn
    early.join(2)
    assert early_outcome == {"value": None} and slots.waiting == 0
    assert slots.patience(now[0]) == 1.0  # the queue drained: a full wait again
    assert sample(registry, "kopnet_gateway_shed_total") == 1


def test_the_slot_is_released_however_the_call_ends():
    slots, registry = admission(limit=1, wait=0)
    with pytest.raises(RuntimeError), slots.slot():
        assert sample(registry, "kopnet_gateway_rpc_in_flight") == 1
        raise RuntimeError("the service failed")
    assert (slots.in_flight, sample(registry, "kopnet_gateway_rpc_in_flight")) == (0, 0)
    with slots.slot():
        pass
    assert slots.in_flight == 0


def test_a_waiter_killed_while_waiting_passes_a_slot_on():
    slots, _ = admission(limit=1, wait=5.0)
    slots.acquire()
    import eventlet

    waiter = eventlet.spawn(slots.acquire)
    wait_for(lambda: slots.waiting == 1, what="1 waiting")
    waiter.kill()
    assert slots.waiting == 0
    slots.release()
    assert slots.in_flight == 0


def test_nonsense_limits_are_refused():
    with pytest.raises(ValueError):
        Admission("ledger", 0, 0.5)
    with pytest.raises(ValueError):
        Admission("ledger", 4, -1)


# -- through the RPC proxy and the HTTP answer ---------------------------------------------------
def test_a_shed_call_sends_nothing_and_answers_503_unavailable_naming_the_service(monkeypatch):
    slots, _ = admission(limit=1, wait=0)
    config = {"AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/"}
    worker_ctx = SimpleNamespace(context_data={}, container=SimpleNamespace(config=config))
    proxy = _ServiceProxy(worker_ctx, "ledger", SimpleNamespace(_reply_events={}),
                          0.1, slots)
    sent = []
    method = proxy.deposit_sukarela
    monkeypatch.setattr(method, "_call", lambda *a, **k: sent.append(a))
    slots.acquire()
    with pytest.raises(Saturated) as shed:
        method("coop-1")
    assert sent == [] and proxy.shed is shed.value
    answer = to_api_error(shed.value)
    assert (answer.status, answer.code, answer.retryable) == (503, "unavailable", True)
    assert "ledger is saturated" in answer.message and "nothing was changed, try again" in answer.message


def test_the_answer_to_a_shed_request_says_when_to_retry():
    secret = "s" * 40

    class Ledger:  # the worker's proxy: every call shed, or answered
        def __init__(self, shed):
            self.shed, self.admission, self.refuse = None, None, shed

        def __getattr__(self, method):
            def call(*args, **kwargs):
                if self.refuse:
                    self.shed = Saturated("ledger", 16)
                    raise self.shed
                return {"cooperative_id": "c1", "member_id": "m1", "pokok": 0, "wajib": 0, "sukarela": 0,
                        "total": 0, "status": "open", "pokok_paid": False}
            return call

    token = sign(Principal("coop_admin", cooperative_id="c1"), secret, timedelta(minutes=5))
    request = Request(EnvironBuilder(path="/api/v1/cooperatives/c1/members/m1/savings",
                                     headers={"Authorization": f"Bearer {token}"}).get_environ())
    answers = Gateway(secret, Keys(known=False))
    shed = answers.handle(request, "get_savings", Ledger(shed=True), cooperative_id="c1", member_id="m1")
    assert shed.status_code == 503 and shed.headers["Retry-After"] == str(RETRY_AFTER) == "1"
    assert json.loads(shed.get_data())["error"]["code"] == "unavailable"
    served = answers.handle(request, "get_savings", Ledger(shed=False), cooperative_id="c1", member_id="m1")
    assert served.status_code == 200, served.get_data()
    assert "Retry-After" not in served.headers


def test_the_proxy_reads_its_limits_from_config_and_counts_in_the_gateways_registry():
    metrics = Metrics("gateway")
    container = SimpleNamespace(
        config={"GATEWAY": {"RPC_TIMEOUT": "5", "MAX_IN_FLIGHT": "3", "ADMISSION_WAIT": "0.25"}},
        dependencies=[SimpleNamespace(metrics=metrics)])
    proxies = {}
    for target in ("membership", "ledger"):  # both count in the one registry the gateway serves
        proxies[target] = ExpiringRpcProxy(target)
        proxies[target].container = container
        proxies[target].setup()
    ledger = proxies["ledger"].admission
    assert (ledger.target, ledger.limit, ledger.wait) == ("ledger", 3, 0.25)
    ledger.acquire()
    assert metrics.registry.get_sample_value("kopnet_gateway_rpc_in_flight", LABELS) == 1
    assert metrics.registry.get_sample_value(
        "kopnet_gateway_shed_total", {"service": "gateway", "target": "membership"}) == 0
    defaults = ExpiringRpcProxy("ledger")
    defaults.container = SimpleNamespace(config={})
    defaults.setup()
    assert (defaults.admission.limit, defaults.admission.wait) == (16, 0.5)


class Keys:
    """The Idempotency-Key store's surface: a known record answers its replay."""

    def __init__(self, known: bool):
        self.known, self.begun = known, []
        self.records = SimpleNamespace(find_one=lambda query, _fields: query if known else None)

    def begin(self, principal, key, request_print):
        self.begun.append(key)
        return Replay(201, {"id": "done"})


def test_when_the_service_is_saturated_a_new_key_is_shed_before_anything_is_stored():
    slots, registry = admission(limit=1, wait=0.5, max_waiting=0)
    rpc = SimpleNamespace(admission=slots, shed=None)
    assert not slots.saturated()
    fresh = Keys(known=False)
    assert AdmittedKeys(fresh, rpc).begin("member:1", "key-1", "print") == Replay(201, {"id": "done"})
    slots.acquire()
    assert slots.saturated()
    with pytest.raises(Saturated):
        AdmittedKeys(fresh, rpc).begin("member:1", "key-2", "print")
    assert fresh.begun == ["key-1"] and isinstance(rpc.shed, Saturated)
    assert sample(registry, "kopnet_gateway_shed_total") == 1
    known = Keys(known=True)  # a replay needs no slot, saturated or not
    assert AdmittedKeys(known, rpc).begin("member:1", "key-1", "print") == Replay(201, {"id": "done"})



def ledger_proxy(slots):
    config = {"AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/"}
    worker_ctx = SimpleNamespace(context_data={}, container=SimpleNamespace(config=config))
    return _ServiceProxy(worker_ctx, "ledger", SimpleNamespace(_reply_events={}), 0.1, slots)


def test_a_new_key_takes_its_slot_before_its_claim_and_its_call_uses_that_slot(monkeypatch):
    slots, _ = admission(limit=1, wait=0)
    proxy = ledger_proxy(slots)
    keys = Keys(known=False)
    keys.begin = lambda principal, key, request_print: (keys.begun.append(key), Claim("record", "token"))[1]
    assert AdmittedKeys(keys, proxy).begin("member:1", "key-1", "print") == Claim("record", "token")
    assert slots.in_flight == 1 and proxy.reserved
    method = proxy.deposit_sukarela
    monkeypatch.setattr(method, "_call", lambda *a, **k: SimpleNamespace(result=lambda: "stored"))
    assert method("coop-1") == "stored", "the reserved slot is the call's: no second one is asked for"
    proxy.release()
    assert slots.in_flight == 0 and not proxy.reserved


def test_a_new_key_shed_while_waiting_for_a_slot_has_claimed_nothing():
    slots, registry = admission(limit=1, wait=0.05, max_waiting=1)
    slots.acquire()  # another request's
    assert not slots.saturated(), "room to wait: not shed at once"
    proxy, keys = ledger_proxy(slots), Keys(known=False)
    with pytest.raises(Saturated):
        AdmittedKeys(keys, proxy).begin("member:1", "key-1", "print")
    assert keys.begun == [] and isinstance(proxy.shed, Saturated) and not proxy.reserved
    assert sample(registry, "kopnet_gateway_shed_total") == 1


def test_a_replay_gives_its_reserved_slot_back_at_once():
    slots, _ = admission(limit=1, wait=0)
    proxy = ledger_proxy(slots)
    replay = AdmittedKeys(Keys(known=True), proxy).begin("member:1", "key-1", "print")
    assert replay == Replay(201, {"id": "done"}) and slots.in_flight == 0 and not proxy.reserved
