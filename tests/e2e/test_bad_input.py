"""Bad input the other e2e tests do not send: each gets the documented error, never a 500.

(test_gateway_requests.py covers malformed JSON, form and text bodies, NaN, no body and the
1 MiB limit; test_gateway_access.py missing, garbage, expired and wrong-key tokens.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
import requests

from services.gateway.auth import ISSUER

from .conftest import assert_error


def post(stack, world, data: bytes | str, content_type: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {world.admin}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return requests.post(f"{stack.base}/cooperatives", data=data, headers=headers, timeout=30)


@pytest.mark.parametrize("body, content_type", [
    ("[" * 100_000 + "]" * 100_000, "application/json"),  # nesting deeper than any parser recurses
    ('{"a":' * 50_000 + "1" + "}" * 50_000, "application/json"),
    (b'{"name": "\xff\xfe"}', "application/json"),  # not UTF-8
    ('{"name": "x"}', None),  # a body without a content type
    ('{"name": "x"}', "application/xml"),
    ('{"name": 1' + "0" * 5000 + "}", "application/json"),  # an integer past Python's digit limit
    ('"just a string"', "application/json"),
    ("null", "application/json"),
])
def test_odd_bodies_are_400(stack, world, body, content_type):
    assert_error(post(stack, world, body, content_type), 400, "validation_error")


def test_a_body_of_exactly_1_mib_is_read_and_one_byte_more_is_413(stack, world):
    padding = 1024 * 1024 - len('{"name": ""}')
    fits = post(stack, world, '{"name": "' + "x" * padding + '"}', "application/json")
    assert_error(fits, 400, "validation_error")  # read and validated, not refused for its size
    over = post(stack, world, '{"name": "' + "x" * (padding + 1) + '"}', "application/json")
    assert_error(over, 413, "payload_too_large")


def _token(secret: str, algorithm: str = "HS256", **changes) -> str:
    now = datetime.now(UTC)
    claims = {"role": "network_admin", "iss": ISSUER, "iat": now, "exp": now + timedelta(hours=1), **changes}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm=algorithm)


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
@pytest.mark.parametrize("case", ["alg none", "HS512 with the right key", "no exp", "another issuer",
                                  "unknown role", "empty bearer", "not yet valid"])
def test_more_tokens_that_are_not_valid_are_401(stack, world, case):
    if case == "alg none":
        token = _token("", algorithm="none")
    elif case == "HS512 with the right key":
        token = _token(stack.secret, algorithm="HS512")
    elif case == "no exp":
        token = _token(stack.secret, exp=None)
    elif case == "another issuer":
        token = _token(stack.secret, iss="someone-else")
    elif case == "unknown role":
        token = _token(stack.secret, role="superuser")
    elif case == "not yet valid":
        token = _token(stack.secret, nbf=datetime.now(UTC) + timedelta(hours=1))
    else:
        token = ""
    for method, path in [("GET", "/cooperatives"), ("POST", "/cooperatives")]:
        answer = stack.call(method, path, headers={"Authorization": f"Bearer {token}"}, json={})
        assert_error(answer, 401, "unauthenticated")
