"""Structured logs: one JSON object per line on stderr, with the service, the level, the logger,
the message and the correlation id of the work in hand; the level comes from KOPNET_LOG_LEVEL.

    {"ts": "2026-01-05T10:00:00.123Z", "level": "INFO", "service": "membership",
     "logger": "services.membership.application", "message": "...", "correlation_id": "..."}

The correlation id lives in a context variable: `KernelProvider.worker_setup` sets it for each
nameko worker (from the worker context's `correlation_id`, which nameko carries across RPC calls
in its context data, else the worker's call id); other code can use `correlation_scope`.
Extra fields given as `log.info("...", extra={"event_id": ...})` become keys of the object.
`KOPNET_LOG_FORMAT=text` gives one readable line per record instead (for a terminal).
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import IO, Any

CORRELATION_ID: ContextVar[str | None] = ContextVar("kopnet_correlation_id", default=None)

# attributes every LogRecord has; anything else on a record came from `extra=`
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime",
                                                                               "correlation_id"}


# A NIK's shape: exactly 16 digits. Personal data (UU PDP) never reaches a log line: nameko logs
# RPC arguments and replies at DEBUG (a member's answer holds the NIK), pymongo its commands (a
# stored MemberApplied holds it), so every record of the process handler and of those libraries'
# loggers has such runs masked (NikRedaction).
NIK_LIKE = re.compile(r"(?<!\d)\d{16}(?!\d)")
NIK_MASK = "<nik>"
FRAMEWORK_LOGGERS = ("nameko.rpc", "nameko.containers", "nameko.messaging", "nameko.events",
                     "nameko.extensions", "nameko.runners", "nameko.standalone.rpc", "nameko.web.handlers",
                     "nameko.web.server", "pymongo.command")


class NikRedaction(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if NIK_LIKE.search(text):
            record.msg, record.args = NIK_LIKE.sub(NIK_MASK, text), ()
        if record.exc_text and NIK_LIKE.search(record.exc_text):
            record.exc_text = NIK_LIKE.sub(NIK_MASK, record.exc_text)
        return True


def redact_niks_in_framework_logs() -> None:
    """Masks NIK-shaped numbers in what nameko's loggers record, whoever handles the records."""
    for name in FRAMEWORK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, NikRedaction) for f in logger.filters):
            logger.addFilter(NikRedaction())


def set_correlation_id(value: str | None) -> Token:
    return CORRELATION_ID.set(value)


def reset_correlation_id(token: Token) -> None:
    CORRELATION_ID.reset(token)


@contextmanager
def correlation_scope(value: str | None) -> Iterator[None]:
    token = set_correlation_id(value)
    try:
        yield
    finally:
        reset_correlation_id(token)


class CorrelationFilter(logging.Filter):
    """Stamps each record with the current correlation id (unless `extra=` gave one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = CORRELATION_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        entry: dict[str, Any] = {"ts": stamp.replace("+00:00", "Z"), "level": record.levelname,
                                 "service": self.service, "logger": record.name,
                                 "message": record.getMessage()}
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id is not None:
            entry["correlation_id"] = correlation_id
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(service: str, environ: Mapping[str, str] | None = None,
                      stream: IO[str] | None = None) -> logging.Handler:
    """Sends every log record of this process to `stream` (stderr) as JSON, at the level
    KOPNET_LOG_LEVEL names (DEBUG, INFO, WARNING, ERROR; default INFO). Replaces the root
    logger's handlers: a service process has one log format."""
    environ = os.environ if environ is None else environ
    wanted = environ.get("KOPNET_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    level = logging.getLevelName(wanted)
    handler = logging.StreamHandler(stream or sys.stderr)
    if environ.get("KOPNET_LOG_FORMAT", "json").strip().lower() == "text":
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s [%(correlation_id)s]"))
    else:
        handler.setFormatter(JsonFormatter(service))
    handler.addFilter(CorrelationFilter())
    handler.addFilter(NikRedaction())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else logging.INFO)
    if not isinstance(level, int):
        logging.getLogger(__name__).warning("KOPNET_LOG_LEVEL=%r is not a log level; using INFO", wanted)
    return handler
