"""shared/logs.py: JSON log lines with the correlation id, level from KOPNET_LOG_LEVEL; readable
lines on a terminal (or KOPNET_LOG_FORMAT); the access log of a real wsgi server at DEBUG; the
correlation id follows a nameko worker (KernelProvider), including across an RPC call."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import eventlet
import eventlet.wsgi
import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from shared.config import load_config
from shared.kernel import ServiceDefinition
from shared.logs import ACCESS_LOGGER, CORRELATION_ID, CorrelationFilter, configure_logging, correlation_scope
from shared.providers import KernelProvider
from tests.support.bankservice.schemas import registry

log = logging.getLogger("kopnet.test.logs")


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_level_from_environment_and_correlation_id(restore_root_logging):
    out = io.StringIO()
    configure_logging("membership", {"KOPNET_LOG_LEVEL": "warning"}, out)
    log.info("not at WARNING")
    with correlation_scope("corr-1"):
        log.warning("admitted %s", "m-1", extra={"member_id": "m-1"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    first, second = lines(out)
    assert first["level"] == "WARNING" and first["service"] == "membership"
    assert first["message"] == "admitted m-1" and first["logger"] == "kopnet.test.logs"
    assert first["correlation_id"] == "corr-1" and first["member_id"] == "m-1"
    assert first["ts"].endswith("Z")
    assert "correlation_id" not in second and "ValueError: boom" in second["exc_info"]
    assert CORRELATION_ID.get() is None


def test_debug_level_text_format_and_a_wrong_level(restore_root_logging):
    out = io.StringIO()
    configure_logging("ledger", {"KOPNET_LOG_LEVEL": "DEBUG", "KOPNET_LOG_FORMAT": "text"}, out)
    with correlation_scope("c-9"):
        log.debug("posted")
    assert " DEBUG   ledger kopnet.test.logs: posted [c-9]" in out.getvalue()
    out = io.StringIO()
    configure_logging("ledger", {"KOPNET_LOG_LEVEL": "LOUD"}, out)
    log.debug("hidden")
    (warning,) = lines(out)
    assert logging.getLogger().level == logging.INFO and "LOUD" in warning["message"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_readable_lines_and_anything_else_json_unless_the_environment_says(
        restore_root_logging):
    cases = [(Terminal, {}, "text"), (io.StringIO, {}, "json"),
             (Terminal, {"KOPNET_LOG_FORMAT": "json"}, "json"),
             (io.StringIO, {"KOPNET_LOG_FORMAT": "TEXT"}, "text")]
    for kind, environ, expected in cases:
        out = kind()
        configure_logging("gateway", environ, out)
        log.info("ready on %s", "127.0.0.1:8000")
        line = out.getvalue().rstrip("\n")
        if expected == "json":
            assert json.loads(line)["message"] == "ready on 127.0.0.1:8000", (kind, environ)
        else:
            assert line.endswith(" INFO    gateway kopnet.test.logs: ready on 127.0.0.1:8000"), line
            assert "[" not in line  # no correlation id in hand: none shown (not "[None]")


def serve_one_request(environ: dict[str, str]) -> str:
    """A real eventlet wsgi server with the logger nameko's web server gives it; one request."""
    out = io.StringIO()
    configure_logging("gateway", {"KOPNET_LOG_FORMAT": "text", **environ}, out)
    listener = eventlet.listen(("127.0.0.1", 0))

    def app(environ, start_response):
        logging.getLogger("services.gateway.web").info("handled %s", environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = eventlet.spawn(eventlet.wsgi.server, listener, app, log=logging.getLogger(ACCESS_LOGGER))
    try:
        answer = requests.get(f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1/cooperatives", timeout=10)
        assert answer.text == "ok"
    finally:
        server.kill()
        listener.close()
    return out.getvalue()


def test_the_access_log_of_every_request_is_at_debug(restore_root_logging):
    at_info = serve_one_request({})
    assert "handled /api/v1/cooperatives" in at_info
    assert "GET /api/v1/cooperatives" not in at_info  # the request line is only written at DEBUG
    at_debug = serve_one_request({"KOPNET_LOG_LEVEL": "DEBUG"})
    (access,) = [line for line in at_debug.splitlines() if f" {ACCESS_LOGGER}: 127.0.0.1 - - [" in line]
    assert " DEBUG   gateway " in access and '"GET /api/v1/cooperatives HTTP/1.1" 200 ' in access


class Worker:
    """The two attributes of nameko's WorkerContext the provider reads (hashable, like it)."""

    def __init__(self, data: dict, call_id: str):
        self.data, self.call_id = data, call_id


def test_kernel_provider_sets_the_correlation_id_for_its_worker():
    provider = KernelProvider(ServiceDefinition("bank", registry))
    worker = Worker(data={"correlation_id": "from-gateway"}, call_id="bank.open.1")
    provider.worker_setup(worker)
    assert CORRELATION_ID.get() == "from-gateway"
    provider.worker_teardown(worker)
    assert CORRELATION_ID.get() is None
    worker = Worker(data={}, call_id="bank.open.2")
    provider.worker_setup(worker)
    assert CORRELATION_ID.get() == "bank.open.2"  # no id from the caller: the call id
    provider.worker_teardown(worker)


class LoggingService:
    name = "logbank"
    kernel = KernelProvider(ServiceDefinition("logbank", registry), run_loops=False)

    @rpc
    def hello(self, who):
        eventlet.sleep(0.05)  # two calls overlap: each worker keeps its own id
        log.info("hello %s", who)
        return who


def test_correlation_id_crosses_nameko_rpc_into_the_worker_log(amqp_uri, database_name, monkeypatch):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.addFilter(CorrelationFilter())
    handler.emit = records.append  # type: ignore[method-assign]
    log.addHandler(handler)
    monkeypatch.setattr(log, "level", logging.INFO)
    monkeypatch.setenv("KOPNET_BANK_DATABASE", database_name)
    monkeypatch.setenv("KOPNET_BANK_METRICS_PORT", "0")
    config = {**load_config("tests/support/bankservice/config.yml"), "AMQP_URI": amqp_uri}
    container = ServiceContainer(LoggingService, config)
    container.start()
    try:
        def call(who: str, correlation_id: str) -> None:
            with ClusterRpcProxy(config, context_data={"correlation_id": correlation_id}) as cluster:
                cluster.logbank.hello(who)

        calls = [eventlet.spawn(call, "siti", "corr-siti"), eventlet.spawn(call, "budi", "corr-budi")]
        for thread in calls:
            thread.wait()
    finally:
        container.stop()
        log.removeHandler(handler)
    assert {(r.getMessage(), r.correlation_id) for r in records} == {  # type: ignore[attr-defined]
        ("hello siti", "corr-siti"), ("hello budi", "corr-budi")}
