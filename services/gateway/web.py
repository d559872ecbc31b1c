"""HTTP plumbing: JSON in, JSON out, and nameko's `@http` made to answer in the API's error
format everywhere (unknown paths, wrong methods, anything that escapes a handler).
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wrappers import Request, Response

from .errors import ApiError, to_api_error

MAX_BODY_BYTES = 1024 * 1024
REQUEST_ID = "X-Request-Id"


def correlation_id(request: Request) -> str:
    """The caller's X-Request-Id when it is a UUID, else a new one."""
    given = request.headers.get(REQUEST_ID, "")
    try:
        return str(uuid.UUID(given))
    except ValueError:
        return str(uuid.uuid4())


def json_response(status: int, payload: Any, request_id: str,
                  headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, mimetype="application/json",
                    headers={REQUEST_ID: request_id, **(headers or {})})


def error_response(error: BaseException, request_id: str) -> Response:
    api_error = to_api_error(error, request_id)
    return json_response(api_error.status, api_error.body(), request_id)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json(request: Request, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """The request's JSON body (None when empty). 413 past `max_bytes`, 400 when not JSON."""
    if (request.content_length or 0) > max_bytes:
        raise ApiError("payload_too_large", f"the body may be at most {max_bytes} bytes")
    chunked = request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "")
    stream = request.environ["wsgi.input"] if chunked else request.stream
    raw = stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ApiError("payload_too_large", f"the body may be at most {max_bytes} bytes")
    if not raw.strip():
        return None
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError("validation_error", "send the body as JSON with Content-Type: application/json",
                       {"Content-Type": [f"must be application/json, not {mimetype or 'missing'}"]})
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError("validation_error", f"the body is not valid JSON ({error})",
                       {"_body": ["not valid JSON"]}) from None
    except RecursionError:  # e.g. [[[[...]]]] deeper than the parser recurses: not a 500
        raise ApiError("validation_error", "the body's JSON is nested too deeply",
                       {"_body": ["nested too deeply"]}) from None


class _JsonWsgiApp(WsgiApp):
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ, shallow=True)
        request_id = correlation_id(request)
        try:
            adapter = self.url_map.bind_to_environ(environ)
            provider, values = adapter.match()
            request.path_values = values  # type: ignore[attr-defined]  # as nameko's WsgiApp does
            response = provider.handle_request(request)
        except MethodNotAllowed as error:
            allowed = ", ".join(error.valid_methods or [])
            response = json_response(405, ApiError("method_not_allowed", f"use {allowed}").body(),
                                     request_id, {"Allow": allowed})
        except HTTPException:
            response = error_response(ApiError("not_found", f"no such resource: {request.path}"), request_id)
        except Exception as error:  # noqa: BLE001 - last line of defence: JSON, never a trace
            response = error_response(error, request_id)
        return response(environ, start_response)


class JsonWebServer(WebServer):
    def get_wsgi_app(self) -> WsgiApp:
        return _JsonWsgiApp(self)


class JsonHttpRequestHandler(HttpRequestHandler):
    """nameko's `@http`, whose failures (outside our handlers) answer in the error format."""

    server = JsonWebServer()

    def response_from_exception(self, exc: Exception) -> Response:
        return error_response(exc, str(uuid.uuid4()))


api = JsonHttpRequestHandler.decorator
