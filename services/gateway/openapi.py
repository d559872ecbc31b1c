"""The OpenAPI 3 document of /api/v1, generated from the route table and its schemas."""
from __future__ import annotations

import functools
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from . import schemas
from .access import describe
from .routes import PREFIX, ROUTES, Route

OPENAPI_PATH = f"{PREFIX}/openapi.json"
_ERRORS = {
    400: "Invalid request (`validation_error`; `fields` says what is wrong)",
    401: "Missing, invalid or expired token (`unauthenticated`)",
    403: "The token's role may not do this here (`forbidden`)",
    404: "No such resource (`not_found`)",
    409: "A duplicate, a concurrent change, or an Idempotency-Key reused for another request (`conflict`)",
    413: "The body is larger than 1 MiB (`payload_too_large`)",
    422: "A business rule said no (its own code)",
    500: "Unexpected failure (`internal`), without details; quote the X-Request-Id",
    503: "A service is not answering, or is saturated (then with Retry-After); nothing was changed "
         "(`unavailable`)",
}
_REQUEST_ID = {"in": "header", "name": "X-Request-Id", "required": False,
               "schema": {"type": "string"},
               "description": "Correlation id: a UUID is kept, any other value is replaced by a new one; "
                              "answered in the X-Request-Id response header"}
_IDEMPOTENCY_KEY = {"in": "header", "name": "Idempotency-Key", "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": "A UUID; repeating it with the same body returns the first response and "
                                   "changes nothing; with another body it is answered 409"}


BODY_METHODS = ("POST", "PATCH")  # requests with a JSON body (commands)


def _operation(route: Route) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [{"in": "path", "name": name, "required": True,
                                         "schema": {"type": "string"}} for name in route.path_names]
    if route.query:
        parameters.append({"in": "query", "schema": route.query})
    parameters.append(_REQUEST_ID)
    codes = [400, 401, 403, 500, 503]
    if route.path_names:
        codes.append(404)
    if route.method == "POST":
        parameters.append(_IDEMPOTENCY_KEY)
    if route.method in BODY_METHODS:
        codes += [409, 413, 422]
    elif route.method == "DELETE":
        codes += [409, 422]
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "description": f"Who: {describe(route.allow)}.",
        "tags": list(route.tags),
        "parameters": parameters,
        "security": [{"bearerAuth": []}],
        "responses": {
            str(route.status): {"description": "OK" if route.status == 200 else "Created",
                                "content": {"application/json": {"schema": route.response}}},
            **{str(code): {"$ref": f"#/components/responses/{code}"} for code in sorted(codes)},
        },
    }
    if route.body:
        required = any(field.required for field in route.body().fields.values())
        operation["requestBody"] = {"required": required,
                                    "content": {"application/json": {"schema": route.body}}}
    return operation


@functools.cache
def document() -> dict[str, Any]:
    spec = APISpec(title="kopnet API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "The public HTTP API of the kopnet cooperative network. "
                                        "Errors: {\"error\": {code, message, fields}}."})
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("Error", schema=schemas.Error)
    for code, description in _ERRORS.items():
        response: dict[str, Any] = {"description": description,
                                    "content": {"application/json": {"schema": "Error"}}}
        if code == 503:
            response["headers"] = {"Retry-After": {
                "description": "Seconds to wait before trying again (when the service is saturated)",
                "schema": {"type": "integer"}}}
        spec.components.response(str(code), response)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES.values():
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = _operation(route)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document_response = {"description": "OpenAPI 3 document",
                         "content": {"application/json": {"schema": {"type": "object"}}}}
    spec.path(path=OPENAPI_PATH, operations={"get": {
        "operationId": "openapi", "summary": "This document (no token needed)", "tags": ["meta"],
        "security": [], "responses": {"200": document_response}}})
    return spec.to_dict()
