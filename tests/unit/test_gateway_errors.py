"""The one exception → HTTP table: every failure has a status, a code and the error body."""

import eventlet
import pytest
from kombu.exceptions import OperationalError
from marshmallow import ValidationError
from nameko.exceptions import RemoteError, UnknownService
from pymongo.errors import ServerSelectionTimeoutError

from services.gateway.errors import ApiError, DependencyUnavailable, to_api_error
from shared.aggregate import DomainError
from shared.eventstore import ConcurrencyError, StoreUnavailable


@pytest.mark.parametrize(
    "error, status, code",
    [
        (DomainError("validation_error", "bad", {"nik": ["16 digits"]}), 400, "validation_error"),
        (DomainError("not_found", "no such member"), 404, "not_found"),
        (DomainError("conflict", "NIK already registered"), 409, "conflict"),
        (DomainError("quorum_not_reached", "too few attendees"), 422, "quorum_not_reached"),
        (DomainError("fiscal_year_closed", "closed"), 422, "fiscal_year_closed"),
        (ValidationError({"limit": ["Must be between 1 and 200."]}), 400, "validation_error"),
        (ConcurrencyError("moved on"), 409, "conflict"),
        (StoreUnavailable("store down"), 503, "unavailable"),
        (DependencyUnavailable("membership did not answer"), 503, "unavailable"),
        (UnknownService("membership"), 503, "unavailable"),
        (OperationalError("broker down"), 503, "unavailable"),
        (ServerSelectionTimeoutError("no store"), 503, "unavailable"),
        (ConnectionRefusedError("refused"), 503, "unavailable"),
        (eventlet.Timeout(None, False), 503, "unavailable"),
        (ApiError("unauthenticated", "no token"), 401, "unauthenticated"),
        (ApiError("forbidden", "not yours"), 403, "forbidden"),
        (ApiError("payload_too_large", "too big"), 413, "payload_too_large"),
        (RemoteError("KeyError", "'x'"), 500, "internal"),
        (KeyError("surprise"), 500, "internal"),
    ],
)
def test_each_failure_maps_to_its_status_and_code(error, status, code):
    answer = to_api_error(error, "req-1")
    assert (answer.status, answer.code) == (status, code)
    body = answer.body()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert isinstance(body["error"]["fields"], dict) and body["error"]["message"]


def test_domain_fields_and_validation_messages_are_kept():
    assert to_api_error(DomainError("validation_error", "bad", {"nik": ["x"]})).fields == {"nik": ["x"]}
    assert to_api_error(ValidationError({"limit": ["y"]})).fields == {"limit": ["y"]}
    assert to_api_error(ValidationError("whole body")).fields == {"_schema": ["whole body"]}


def test_an_unexpected_error_is_logged_with_the_request_id_and_answers_no_trace(caplog):
    answer = to_api_error(ZeroDivisionError("secret detail"), "req-42")
    assert "secret detail" not in answer.message and "Traceback" not in answer.message
    assert "req-42" in answer.message
    assert any("req-42" in record.getMessage() and record.exc_info for record in caplog.records)


def test_only_transient_failures_are_retryable():
    assert to_api_error(StoreUnavailable("x")).retryable
    assert to_api_error(ConcurrencyError("x")).retryable
    # a service refusing work that reached it after the gateway's deadline: 503, retry runs it
    late = to_api_error(DomainError("unavailable", "the request reached the service after its deadline"))
    assert (late.status, late.retryable) == (503, True)
    assert not to_api_error(DomainError("conflict", "duplicate NIK")).retryable
    assert not to_api_error(DomainError("not_found", "x")).retryable


def test_failures_outside_a_handler_also_answer_in_the_error_format():
    import json

    from services.gateway.web import JsonHttpRequestHandler

    response = JsonHttpRequestHandler("GET", "/x").response_from_exception(TypeError("bad signature"))
    assert response.status_code == 500 and response.mimetype == "application/json"
    assert json.loads(response.get_data())["error"]["code"] == "internal"
