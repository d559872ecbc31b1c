"""Structured logs: one JSON object per line on stderr, with the service, the level, the logger,
the message and the correlation id of the work in hand; the level comes from KOPNET_LOG_LEVEL.

    {"ts": "2026-01-05T10:00:00.123Z", "level": "INFO", "service": "membership",
     "logger": "services.membership.application", "message": "...", "correlation_id": "..."}

The correlation id lives in a context variable: `KernelProvider.worker_setup` sets it for each
nameko worker (from the worker context's `correlation_id`, which nameko carries across RPC calls
in its context data, else the worker's call id); other code can use `correlation_scope`.
Extra fields given as `log.info("...", extra={"event_id": ...})` become keys of the object.

The format follows KOPNET_LOG_FORMAT (`json` or `text`); unset, a terminal gets one readable line
per record (`make run`: a person reads it) and anything else (a file, a pipe, a container's log
collector) JSON lines. The wsgi server's access log (one line per HTTP request) is written at
DEBUG, so that at the default INFO level a terminal shows what happens, not every request.
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


class AccessLogAtDebug(logging.Filter):
    """Lowers eventlet's wsgi access lines (`ip - - [date] "GET / HTTP/1.1" 200 ...`, logged at
    INFO on the server's logger) to DEBUG, and drops them unless that logger is enabled for DEBUG.
    Only lines of that shape: the server's tracebacks and other messages keep their level."""

    ACCESS = re.compile(r'^\S+ - - \[[^\]]*\] "[^"]*" \d{3} ')

    def __init__(self, logger: logging.Logger):
        super().__init__()
        self.logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self.ACCESS.match(str(record.msg)):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return self.logger.isEnabledFor(logging.DEBUG)


#: the logger nameko's web server hands to eventlet's wsgi server (nameko.web.server)
ACCESS_LOGGER = "nameko.web.server"


class TextFormatter(logging.Formatter):
    """The standard formatter's line (time, level, service, logger, message, any traceback),
    ending with the correlation id in brackets when the work in hand has one."""

    def __init__(self, service: str):
        super().__init__(f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s", datefmt="%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        correlation_id = getattr(record, "correlation_id", None)
        return f"{line} [{correlation_id}]" if correlation_id else line


def chosen_format(environ: Mapping[str, str], stream: IO[str]) -> str:
    """KOPNET_LOG_FORMAT when it names one; else text for a terminal, JSON for the rest."""
    wanted = environ.get("KOPNET_LOG_FORMAT", "").strip().lower()
    if wanted in ("json", "text"):
        return wanted
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):  # a closed or unusual stream: the machine format
        return "json"


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
    """Sends every log record of this process to `stream` (stderr) in the format `chosen_format`
    picks, at the level KOPNET_LOG_LEVEL names (DEBUG, INFO, WARNING, ERROR; default INFO), with
    access lines at DEBUG. Replaces the root logger's handlers: a service process has one format."""
    environ = os.environ if environ is None else environ
    wanted = environ.get("KOPNET_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    level = logging.getLevelName(wanted)
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    text = chosen_format(environ, stream) == "text"
    handler.setFormatter(TextFormatter(service) if text else JsonFormatter(service))
    handler.addFilter(CorrelationFilter())
    access = logging.getLogger(ACCESS_LOGGER)
    for earlier in [f for f in access.filters if isinstance(f, AccessLogAtDebug)]:
        access.removeFilter(earlier)  # configured again (tests): one filter, not one per call
    access.addFilter(AccessLogAtDebug(access))
    handler.addFilter(NikRedaction())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else logging.INFO)
    if not isinstance(level, int):
        logging.getLogger(__name__).warning("KOPNET_LOG_LEVEL=%r is not a log level; using INFO", wanted)
    return handler
