"""The request pipeline with fakes for the membership service and the idempotency store."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from services.gateway.application import Gateway
from services.gateway.auth import Principal, sign
from services.gateway.errors import ApiError, DependencyUnavailable
from services.gateway.idempotency import Claim, Replay, check_key, record_id
from services.membership.domain import DEFAULT_BYLAWS
from shared.aggregate import DomainError

SECRET = "unit-test-secret-that-is-32-bytes-or-more"
ADMIN = Principal("network_admin")
BOARD_A = Principal("coop_admin", cooperative_id="A")
COOPERATIVE = {
    "id": "A",
    "name": "KSP Mekar",
    "registration_number": "3204010001",
    "kind": "ksp",
    "regency": "kabupaten-bandung",
    "is_pesantren": False,
    "founded_on": "2001-05-01",
    "bylaws": {"pokok_amount": 100000, "wajib_amount": 20000, "quorum_percent": 51},
    "status": "active",
    "registered_at": "2024-01-01T00:00:00.000Z",
    "internal": "hidden",
    "health": {"active": False, "rat_compliant": False, "reporting_online": False, "healthy": False},
}
REGISTER = {
    "name": "KSP Mekar",
    "registration_number": "3204010001",
    "kind": "ksp",
    "regency": "kabupaten-bandung",
    "is_pesantren": False,
    "founded_on": "2001-05-01",
}
APPLY = {"name": "Siti", "nik": "3204014508900003", "phone": "081234567890", "joined_on": "2024-02-01"}


class FakeMembership:
    """Answers like the membership RPC; `fail` makes the next calls raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.fail: BaseException | None = None

    def __getattr__(self, name: str):
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            if self.fail is not None:
                raise self.fail
            if name.startswith("list_"):
                return {"items": [COOPERATIVE], "next": None}
            if name == "apply_member":
                return {"id": "m1", "cooperative_id": args[0], **args[1], "status": "applied"}
            return COOPERATIVE

        return call


class FakeKeys:
    """The IdempotencyStore port, in memory, with the same answers."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def begin(self, principal: str, key: str, request_print: str) -> Claim | Replay:
        ident = record_id(principal, check_key(key))
        record = self.records.get(ident)
        if record is None:
            self.records[ident] = {"print": request_print, "status": None, "token": "t"}
            return Claim(ident, "t")
        if record["print"] != request_print:
            raise ApiError("conflict", "Idempotency-Key was already used for a different request")
        if record["status"] is None:
            raise ApiError("conflict", "still in progress", retryable=True)
        return Replay(record["status"], record["body"])

    def finish(self, claim: Claim, status: int, body: Any) -> None:
        self.records[claim.record_id].update(status=status, body=body)

    def abandon(self, claim: Claim) -> None:
        del self.records[claim.record_id]


@pytest.fixture
def membership() -> FakeMembership:
    return FakeMembership()


@pytest.fixture
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def send(membership, keys):
    gateway = Gateway(SECRET, keys, max_body_bytes=1024)

    def send(
        route: str,
        principal: Principal | None = ADMIN,
        body: Any = None,
        method: str | None = None,
        query: dict | None = None,
        headers: dict | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
        **path: str,
    ):
        headers = dict(headers or {})
        if principal is not None:
            headers["Authorization"] = f"Bearer {sign(principal, SECRET)}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        from services.gateway.routes import ROUTES

        builder = EnvironBuilder(
            method=method or ROUTES[route].method,
            path="/api/v1/x",
            query_string=query,
            headers=headers,
            data=data,
            content_type=content_type if data else None,
        )
        response = gateway.handle(builder.get_request(), route, membership, **path)
        return response.status_code, json.loads(response.get_data()), response.headers

    return send


def error_code(answer) -> str:
    return answer[1]["error"]["code"]


# -- success shapes ---------------------------------------------------------------------------
def test_create_answers_201_with_the_resource_through_the_response_schema(send, membership):
    status, body, headers = send("register_cooperative", body=REGISTER)
    assert status == 201 and body["id"] == "A" and "internal" not in body
    assert headers["Content-Type"] == "application/json"
    name, (data, context), _ = membership.calls[0]
    assert (name, data) == ("register_cooperative", {**REGISTER, "bylaws": DEFAULT_BYLAWS})  # defaults shown
    assert set(context) == {"command_id", "correlation_id", "actor"}
    assert context["actor"] == {"role": "network_admin", "subject": "network_admin"}  # the audit trail's who


def test_dates_reach_the_service_as_plain_text(send, membership):
    send("apply_member", BOARD_A, APPLY, cooperative_id="A")
    assert membership.calls[0][1][1]["joined_on"] == "2024-02-01"


def test_a_command_answers_200_and_passes_the_optional_date(send, membership):
    status, _, _ = send("admit_member", BOARD_A, {"date": "2024-03-01"}, cooperative_id="A", member_id="m1")
    assert status == 200
    assert membership.calls[0][0] == "change_member_status"
    assert membership.calls[0][1][:3] == ("A", "m1", "admit") and membership.calls[0][2] == {
        "on": "2024-03-01", "reason": None
    }


def test_a_command_without_body_is_fine(send, membership):
    assert send("dissolve_cooperative", cooperative_id="A")[0] == 200


# -- lists -----------------------------------------------------------------------------------
def test_lists_default_to_50_and_pass_filters(send, membership):
    status, body, _ = send("list_cooperatives", query={"regency": "kota-bogor", "healthy": "true"})
    assert status == 200 and body == {"items": [json.loads(json.dumps(body["items"][0]))], "next": None}
    assert membership.calls[0][1] == ({"regency": "kota-bogor", "healthy": True}, 50, None)


def test_a_cooperatives_principals_list_only_their_own(send, membership):
    send("list_cooperatives", BOARD_A, query={"kind": "ksp", "limit": "5", "cursor": "abc"})
    assert membership.calls[0][1] == ({"kind": "ksp", "ids": ["A"]}, 5, "abc")


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"cursor": ""},
        {"cursor": "x" * 501},
        {"healthy": "maybe"},
        {"kind": "bank"},
        {"status": "sleeping"},
        {"colour": "red"},
    ],
)
def test_bad_paging_and_filters_are_400_with_fields(send, membership, query):
    status, body, _ = send("list_cooperatives", query=query)
    assert (status, body["error"]["code"]) == (400, "validation_error")
    assert set(body["error"]["fields"]) == set(query)
    assert membership.calls == []


@pytest.mark.parametrize("limit", ["1", "200"])
def test_limit_bounds_are_inclusive(send, membership, limit):
    assert (
        send("list_members", BOARD_A, query={"limit": limit, "status": "admitted"}, cooperative_id="A")[0]
        == 200
    )
    assert membership.calls[0][1] == ("A", int(limit), None) and membership.calls[0][2] == {
        "status": "admitted"
    }


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, field",
    [
        ({"nik": "12345"}, "nik"),
        ({"nik": 3204011234567890}, "nik"),
        ({"phone": "call me"}, "phone"),
        ({"joined_on": "01/02/2024"}, "joined_on"),
        ({"name": ""}, "name"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_bodies_are_400_with_the_field(send, membership, change, field):
    status, body, _ = send("apply_member", BOARD_A, {**APPLY, **change}, cooperative_id="A")
    assert (status, error_code((status, body))) == (400, "validation_error")
    assert field in body["error"]["fields"]
    assert membership.calls == []


def test_the_shu_allocation_must_sum_to_100_over_known_pools(send):
    meeting = {"fiscal_year": 2024, "held_on": "2025-03-01", "attendees": 3}
    assert (
        send(
            "record_annual_meeting",
            BOARD_A,
            {**meeting, "shu_allocation": {"reserve": 40, "social": 60}},
            cooperative_id="A",
        )[0]
        == 201
    )
    for allocation in [{"reserve": 40, "social": 50}, {"reserve": 50, "casino": 50}, {"reserve": 100.0}]:
        status, body, _ = send(
            "record_annual_meeting", BOARD_A, {**meeting, "shu_allocation": allocation}, cooperative_id="A"
        )
        assert status == 400 and "shu_allocation" in body["error"]["fields"]


def test_money_is_an_integer_not_a_boolean_float_or_text(send):
    for amount in [True, 1.5, "100", -1]:
        body = {**REGISTER, "bylaws": {"pokok_amount": amount}}
        assert send("register_cooperative", body=body)[0] == 400


@pytest.mark.parametrize(
    "raw, content_type",
    [
        (b"{not json", "application/json"),
        (b'{"a": NaN}', "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
        (json.dumps(REGISTER).encode(), "text/plain"),
        (b"name=x", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_json_or_another_content_type_is_400(send, membership, raw, content_type):
    status, body, _ = send("register_cooperative", raw=raw, content_type=content_type)
    assert (status, body["error"]["code"]) == (400, "validation_error")
    assert membership.calls == []


def test_a_body_over_the_limit_is_413(send, membership):
    status, body, _ = send("register_cooperative", raw=b'{"name": "' + b"x" * 2000 + b'"}')
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    assert membership.calls == []


# -- auth ------------------------------------------------------------------------------------
def test_no_token_is_401_before_anything_else(send, membership):
    status, body, _ = send("register_cooperative", principal=None, raw=b"{broken")
    assert (status, body["error"]["code"]) == (401, "unauthenticated")


def test_forbidden_comes_before_validation_and_changes_nothing(send, membership):
    status, body, _ = send("register_cooperative", BOARD_A, {"nonsense": True})
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, _, _ = send("get_cooperative", Principal("coop_admin", cooperative_id="B"), cooperative_id="A")
    assert status == 403 and membership.calls == []


# -- service errors --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "failure, status, code",
    [
        (DomainError("conflict", "NIK 3204011234567890 is already a member"), 409, "conflict"),
        (DomainError("not_found", "cooperative A does not exist"), 404, "not_found"),
        (DomainError("quorum_not_reached", "too few"), 422, "quorum_not_reached"),
        (DependencyUnavailable("membership did not answer"), 503, "unavailable"),
        (RuntimeError("bug with a secret"), 500, "internal"),
    ],
)
def test_service_failures_answer_in_the_error_format(send, membership, failure, status, code):
    membership.fail = failure
    answer = send("apply_member", BOARD_A, APPLY, cooperative_id="A")
    assert (answer[0], error_code(answer)) == (status, code)
    assert "secret" not in answer[1]["error"]["message"]


# -- correlation -----------------------------------------------------------------------------
def test_a_uuid_request_id_is_kept_and_passed_on(send, membership):
    request_id = str(uuid.uuid4())
    _, _, headers = send("register_cooperative", body=REGISTER, headers={"X-Request-Id": request_id})
    assert headers["X-Request-Id"] == request_id
    assert membership.calls[0][1][1]["correlation_id"] == request_id


def test_another_request_id_is_replaced_by_a_new_uuid_even_on_errors(send):
    _, _, headers = send("register_cooperative", principal=None, headers={"X-Request-Id": "not-a-uuid"})
    assert str(uuid.UUID(headers["X-Request-Id"])) == headers["X-Request-Id"]


# -- idempotency -----------------------------------------------------------------------------
def test_a_repeated_key_with_the_same_body_returns_the_first_response_without_calling_again(send, membership):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = send("apply_member", BOARD_A, APPLY, headers=key, cooperative_id="A")
    again = send("apply_member", BOARD_A, APPLY, headers=key, cooperative_id="A")
    assert first[:2] == again[:2] and again[0] == 201
    assert again[2]["Idempotent-Replayed"] == "true"
    assert len(membership.calls) == 1


def test_the_command_id_is_derived_from_principal_and_key(send, membership):
    key = str(uuid.uuid4())
    send("apply_member", BOARD_A, APPLY, headers={"Idempotency-Key": key}, cooperative_id="A")
    send(
        "apply_member",
        Principal("coop_admin", cooperative_id="A2"),
        APPLY,
        headers={"Idempotency-Key": key},
        cooperative_id="A2",
    )
    first, second = (call[1][2]["command_id"] for call in membership.calls)
    assert first == Claim(record_id(BOARD_A.key, key), "").command_id and first != second


def test_the_same_key_with_another_body_is_409(send, membership):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    send("apply_member", BOARD_A, APPLY, headers=key, cooperative_id="A")
    status, body, _ = send(
        "apply_member", BOARD_A, {**APPLY, "name": "Budi"}, headers=key, cooperative_id="A"
    )
    assert (status, body["error"]["code"]) == (409, "conflict")
    assert "different request" in body["error"]["message"]
    assert len(membership.calls) == 1


def test_refusals_are_replayed_too(send, membership):
    membership.fail = DomainError("conflict", "duplicate NIK")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert send("apply_member", BOARD_A, APPLY, headers=key, cooperative_id="A")[0] == 409
    membership.fail = None
    assert send("apply_member", BOARD_A, APPLY, headers=key, cooperative_id="A")[0] == 409
    assert len(membership.calls) == 1


def test_after_503_the_key_is_free_and_a_retry_runs_with_the_same_command_id(send, membership, keys):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    membership.fail = DependencyUnavailable("membership did not answer")
    assert send("apply_member", BOARD_A, APPLY, headers=key, cooperative_id="A")[0] == 503
    assert keys.records == {}
    membership.fail = None
    assert send("apply_member", BOARD_A, APPLY, headers=key, cooperative_id="A")[0] == 201
    assert membership.calls[0][1][2]["command_id"] == membership.calls[1][1][2]["command_id"]


def test_a_key_in_flight_is_409(send, membership, keys):
    key = str(uuid.uuid4())
    keys.begin(BOARD_A.key, key, "whatever")
    from services.gateway.idempotency import fingerprint

    keys.records[record_id(BOARD_A.key, key)]["print"] = fingerprint("POST", "/api/v1/x", APPLY)
    status, body, _ = send(
        "apply_member", BOARD_A, APPLY, headers={"Idempotency-Key": key}, cooperative_id="A"
    )
    assert (status, body["error"]["code"]) == (409, "conflict") and "in progress" in body["error"]["message"]
    assert membership.calls == []


def test_keys_are_per_principal(send, membership):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    send("apply_member", BOARD_A, APPLY, headers=key, cooperative_id="A")
    send("register_cooperative", ADMIN, REGISTER, headers=key)
    assert len(membership.calls) == 2


def test_an_unusable_key_is_400(send, membership):
    status, body, _ = send("register_cooperative", body=REGISTER, headers={"Idempotency-Key": "x" * 256})
    assert (status, body["error"]["code"]) == (400, "validation_error")
