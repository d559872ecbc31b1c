"""Idempotent retries, concurrent duplicates, correlation ids and malformed requests over HTTP."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import wait_for

from .conftest import application, assert_error, registration, unique_digits


def members_with_nik(stack, world, nik: str) -> list[dict]:
    listed = stack.call("GET", f"/cooperatives/{world.a}/members", world.board_a, params={"limit": 200})
    found, body = [], listed.json()
    while True:
        found += [member for member in body["items"] if member["nik"] == nik]
        if body["next"] is None:
            return found
        body = stack.call(
            "GET",
            f"/cooperatives/{world.a}/members",
            world.board_a,
            params={"limit": 200, "cursor": body["next"]},
        ).json()


def test_a_retry_with_the_same_key_gets_the_first_response_and_changes_nothing(stack, world):
    body, key = application(unique_digits(16)), {"Idempotency-Key": str(uuid.uuid4())}
    first = stack.call("POST", f"/cooperatives/{world.a}/members", world.board_a, body, headers=key)
    assert first.status_code == 201, first.text
    for _ in range(3):
        again = stack.call("POST", f"/cooperatives/{world.a}/members", world.board_a, body, headers=key)
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["Idempotent-Replayed"] == "true"
    wait_for(lambda: members_with_nik(stack, world, body["nik"]), what="the member in the list")
    assert len(members_with_nik(stack, world, body["nik"])) == 1
    # a command on the member, retried: one transition, the same answer
    admit, path = (
        {"Idempotency-Key": str(uuid.uuid4())},
        f"/cooperatives/{world.a}/members/{first.json()['id']}",
    )
    answers = [stack.call("POST", f"{path}/admit", world.board_a, headers=admit) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200] and answers[0].json() == answers[1].json()
    # without the key, the repeat is a new command: the member is already admitted
    assert_error(stack.call("POST", f"{path}/admit", world.board_a), 422, "illegal_transition")


def test_the_same_key_with_another_body_is_409(stack, world):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = registration(unique_digits(16))
    assert stack.call("POST", "/cooperatives", world.admin, body, headers=key).status_code == 201
    other = registration(unique_digits(16))
    answer = assert_error(
        stack.call("POST", "/cooperatives", world.admin, other, headers=key), 409, "conflict"
    )
    assert "different request" in answer["message"]
    assert stack.call("GET", "/cooperatives", world.admin, params={"limit": 200}).status_code == 200
    listed = stack.call("GET", "/cooperatives", world.admin, params={"limit": 200}).json()["items"]
    assert other["registration_number"] not in {c["registration_number"] for c in listed}


def test_a_refusal_is_replayed_with_the_same_key(stack, world):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    path = f"/cooperatives/{world.a}/members/{uuid.uuid4()}/admit"
    first = stack.call("POST", path, world.board_a, headers=key)
    again = stack.call("POST", path, world.board_a, headers=key)
    assert_error(first, 404, "not_found")
    assert (again.status_code, again.json()) == (404, first.json())


def test_concurrent_applications_with_one_nik_admit_exactly_one(stack, world):
    body = application(unique_digits(16))

    def apply(_n: int) -> int:
        with requests.Session() as session:
            return session.post(
                f"{stack.base}/cooperatives/{world.a}/members",
                json=body,
                timeout=30,
                headers={"Authorization": f"Bearer {world.board_a}"},
            ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(apply, range(8)))
    assert statuses == [201] + [409] * 7
    wait_for(lambda: members_with_nik(stack, world, body["nik"]), what="the member in the list")
    assert len(members_with_nik(stack, world, body["nik"])) == 1


def test_concurrent_retries_with_one_key_run_once(stack, world):
    body, key = application(unique_digits(16)), str(uuid.uuid4())

    def apply(_n: int) -> tuple[int, str]:
        with requests.Session() as session:
            answer = session.post(
                f"{stack.base}/cooperatives/{world.a}/members",
                json=body,
                timeout=30,
                headers={"Authorization": f"Bearer {world.board_a}", "Idempotency-Key": key},
            )
            return answer.status_code, answer.json().get("id") or answer.json()["error"]["message"]

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(apply, range(6)))
    created = {member for status, member in answers if status == 201}
    assert len(created) == 1 and all(status in (201, 409) for status, _ in answers)
    assert all("in progress" in text for status, text in answers if status == 409)
    wait_for(lambda: members_with_nik(stack, world, body["nik"]), what="the member in the list")
    assert len(members_with_nik(stack, world, body["nik"])) == 1


def test_the_request_id_goes_round_trip_and_into_the_stored_events(stack, world):
    request_id = str(uuid.uuid4())
    answer = stack.call(
        "POST",
        f"/cooperatives/{world.a}/members",
        world.board_a,
        application(unique_digits(16)),
        headers={"X-Request-Id": request_id},
    )
    assert answer.status_code == 201 and answer.headers["X-Request-Id"] == request_id
    commits = stack.database("membership")["commits"]
    stored = wait_for(lambda: commits.find_one({"correlation_id": request_id}), what="the commit")
    assert stored["cooperative_id"] == world.a
    for given in ["not-a-uuid", ""]:
        made = stack.call("GET", "/cooperatives", world.admin, headers={"X-Request-Id": given}).headers[
            "X-Request-Id"
        ]
        assert str(uuid.UUID(made)) == made
    error = stack.call("GET", "/cooperatives", headers={"X-Request-Id": request_id})
    assert error.status_code == 401 and error.headers["X-Request-Id"] == request_id


def test_malformed_json_and_other_content_types_are_400(stack, world):
    headers = {"Authorization": f"Bearer {world.admin}"}
    url = f"{stack.base}/cooperatives"
    for data, content_type in [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('{"name": NaN}', "application/json"),
        ('{"name": "x"}', "text/plain"),
        ("name=x", "application/x-www-form-urlencoded"),
    ]:
        answer = requests.post(url, data=data, headers={**headers, "Content-Type": content_type}, timeout=10)
        assert_error(answer, 400, "validation_error")
    assert_error(requests.post(url, headers=headers, timeout=10), 400, "validation_error")  # no body at all


def test_a_body_over_1_mib_is_413(stack, world):
    huge = '{"name": "' + "x" * (1024 * 1024 + 10) + '"}'
    answer = requests.post(
        f"{stack.base}/cooperatives",
        data=huge,
        timeout=30,
        headers={"Authorization": f"Bearer {world.admin}", "Content-Type": "application/json"},
    )
    assert_error(answer, 413, "payload_too_large")

    def chunks():
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    chunked = requests.post(
        f"{stack.base}/cooperatives",
        data=chunks(),
        timeout=30,
        headers={"Authorization": f"Bearer {world.admin}", "Content-Type": "application/json"},
    )
    assert_error(chunked, 413, "payload_too_large")
