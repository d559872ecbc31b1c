"""Every failure becomes one JSON error body; this module is the one exception → HTTP table.

Body: `{"error": {"code", "message", "fields"}}` (http-api.md, Conventions). A code's status
comes from `STATUS`; a DomainError with any other code is a business rule (422).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import eventlet
from kombu.exceptions import OperationalError
from marshmallow import ValidationError
from nameko.exceptions import UnknownService
from pymongo.errors import PyMongoError

from shared.aggregate import DomainError
from shared.eventstore import ConcurrencyError, StoreUnavailable

from .admission import Saturated

log = logging.getLogger(__name__)

STATUS = {
    "validation_error": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "payload_too_large": 413,
    "internal": 500,
    "unavailable": 503,
}
BUSINESS_RULE = 422


class ApiError(Exception):
    """An answer other than success. `retryable` ones are never stored as an idempotent result."""

    def __init__(self, code: str, message: str, fields: dict[str, Any] | None = None,
                 retryable: bool = False):
        super().__init__(code, message, fields or {})
        self.code, self.message, self.fields, self.retryable = code, message, fields or {}, retryable

    @property
    def status(self) -> int:
        return STATUS.get(self.code, BUSINESS_RULE)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}


class DependencyUnavailable(Exception):
    """A service the gateway calls did not answer in time; the request expired unprocessed."""


def _unavailable(error: BaseException) -> ApiError:
    return ApiError("unavailable", f"a service is not answering; nothing was changed, try again later "
                    f"({error})", retryable=True)


def _saturated(error: Saturated) -> ApiError:
    return ApiError("unavailable", f"{error.service} is saturated (too many requests in flight); nothing "
                    f"was changed, try again in {error.retry_after} s", retryable=True)


_TABLE: list[tuple[type[BaseException] | tuple[type[BaseException], ...],
                   Callable[[Any], ApiError]]] = [
    (ApiError, lambda e: e),
    (Saturated, _saturated),  # shed by admission control before anything was sent (admission.py)
    # "unavailable" from a service (it refused work that reached it after the deadline) is a 503
    # like any other: retryable, so never stored as the answer to an Idempotency-Key.
    (DomainError, lambda e: ApiError(e.code, e.message, e.fields, retryable=e.code == "unavailable")),
    (ValidationError, lambda e: ApiError(
        "validation_error", "the request is not valid; see fields",
        e.messages if isinstance(e.messages, dict) else {"_schema": e.messages})),
    (ConcurrencyError, lambda e: ApiError(
        "conflict", f"a concurrent change got there first; read again and retry ({e})", retryable=True)),
    ((StoreUnavailable, DependencyUnavailable, UnknownService, OperationalError, PyMongoError, OSError,
      eventlet.Timeout), _unavailable),
]


def to_api_error(error: BaseException, correlation_id: str = "") -> ApiError:
    """The answer for `error`; anything unexpected is logged (with the correlation id) as internal."""
    for kinds, convert in _TABLE:
        if isinstance(error, kinds):
            return convert(error)
    log.error("unexpected error (correlation id %s)", correlation_id, exc_info=error)
    return ApiError("internal", f"an unexpected error occurred; quote request id {correlation_id} "
                    "when reporting it", retryable=True)
