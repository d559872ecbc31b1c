"""Membership down: 503 in the error format, and the request never runs later."""

from __future__ import annotations

import time
import uuid

from .conftest import RPC_TIMEOUT, assert_error, registration, unique_digits


def registration_numbers(stack, world) -> set[str]:
    numbers, body = set(), stack.call("GET", "/cooperatives", world.admin, params={"limit": 200}).json()
    while True:
        numbers |= {cooperative["registration_number"] for cooperative in body["items"]}
        if body["next"] is None:
            return numbers
        body = stack.call(
            "GET", "/cooperatives", world.admin, params={"limit": 200, "cursor": body["next"]}
        ).json()


def test_503_while_membership_is_down_and_the_command_does_not_happen_later(stack, world):
    commits = stack.database("membership")["commits"]
    stored_before = commits.count_documents({})
    body, key = registration(unique_digits(16)), {"Idempotency-Key": str(uuid.uuid4())}
    stack.stop("membership")
    try:
        started = time.monotonic()
        answer = stack.call("POST", "/cooperatives", world.admin, body, headers=key)
        waited = time.monotonic() - started
        error = assert_error(answer, 503, "unavailable")
        assert "nothing was changed" in error["message"]
        assert RPC_TIMEOUT - 0.1 <= waited < RPC_TIMEOUT + 1.5
        assert_error(stack.call("GET", f"/cooperatives/{world.a}", world.admin), 503, "unavailable")
    finally:
        stack.start("membership")
    time.sleep(1.0)  # had the request been left in the queue, the restarted service would run it now
    assert commits.count_documents({}) == stored_before
    assert body["registration_number"] not in registration_numbers(stack, world)
    # the key was not spent on the failure: the client's retry goes through, once
    retried = stack.call("POST", "/cooperatives", world.admin, body, headers=key)
    assert retried.status_code == 201, retried.text
    again = stack.call("POST", "/cooperatives", world.admin, body, headers=key)
    assert (again.status_code, again.json()) == (201, retried.json())
