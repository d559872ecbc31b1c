"""The service's entrypoints, the route table and the OpenAPI document describe the same API."""

import pytest
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services.gateway.openapi import OPENAPI_PATH, document
from services.gateway.routes import ROUTES
from services.gateway.service import GatewayService, service_class


def entrypoints() -> dict[str, tuple[str, str]]:
    found = {}
    for name in dir(GatewayService):
        for entrypoint in getattr(getattr(GatewayService, name), ENTRYPOINT_EXTENSIONS_ATTR, ()):
            found[name] = (entrypoint.method, entrypoint.url)
    return found


def test_every_route_has_its_entrypoint_and_no_entrypoint_is_undocumented():
    assert service_class is GatewayService
    served = entrypoints()
    assert served.pop("openapi") == ("GET", OPENAPI_PATH)
    # the dashboard page and its static files (not JSON, not in the API's table)
    assert served.pop("dashboard") == ("GET", "/dashboard/")
    assert served.pop("dashboard_asset") == ("GET", "/dashboard/<path:name>")
    assert served == {route.name: (route.method, route.url) for route in ROUTES.values()}


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_openapi_describes_every_route_fully(name):
    route, spec = ROUTES[name], document()
    operation = spec["paths"]["/api/v1" + route.path][route.method.lower()]
    assert operation["operationId"] == name and operation["security"] == [{"bearerAuth": []}]
    parameters = {(p["in"], p["name"]) for p in operation["parameters"]}
    assert {("path", n) for n in route.path_names} | {("header", "X-Request-Id")} <= parameters
    if route.query:
        assert {("query", n) for n in route.query().fields} <= parameters
    responses = operation["responses"]
    assert responses[str(route.status)]["content"]["application/json"]["schema"]["$ref"].endswith(
        route.response.__name__
    )
    for code in ["400", "401", "403", "500", "503"]:
        assert responses[code] == {"$ref": f"#/components/responses/{code}"}
    if route.method == "POST":
        assert ("header", "Idempotency-Key") in parameters
        assert {"409", "413", "422"} <= set(responses)
        assert "requestBody" in operation


def test_openapi_has_the_error_schema_and_the_bearer_scheme_and_needs_no_token_itself():
    spec = document()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    error = spec["components"]["schemas"]["ErrorDetail"]
    assert set(error["properties"]) == {"code", "message", "fields"}
    assert spec["components"]["responses"]["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert spec["paths"][OPENAPI_PATH]["get"]["security"] == []


def test_every_reference_in_the_document_resolves():
    spec = document()

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(spec):
        _, section, kind, name = ref.split("/")
        assert name in spec[section][kind], ref
