"""One request, start to finish: correlate, authenticate, read, claim the idempotency key,
authorize, validate, call the service, answer. Every failure leaves through `errors`.
"""
from __future__ import annotations

from typing import Any, Protocol

from werkzeug.wrappers import Request, Response

from shared.envelope import new_id
from shared.logs import correlation_scope

from .admission import Admission, Saturated
from .auth import Principal, authenticate
from .errors import ApiError, to_api_error
from .idempotency import Claim, Replay, check_key, fingerprint, record_id
from .openapi import BODY_METHODS, document
from .routes import ROUTES, Call, Route
from .routing import schema
from .schemas import plain
from .web import MAX_BODY_BYTES, correlation_id, json_response, read_json


class KeyStore(Protocol):
    def begin(self, principal: str, key: str, request_print: str) -> Claim | Replay: ...
    def finish(self, claim: Claim, status: int, body: Any) -> None: ...
    def abandon(self, claim: Claim) -> None: ...


class Gateway:
    def __init__(self, secret: str, keys: KeyStore, max_body_bytes: int = MAX_BODY_BYTES):
        self.secret = secret
        self.keys = keys
        self.max_body_bytes = max_body_bytes

    def handle(self, request: Request, route_name: str, rpc: Any, **path: str) -> Response:
        request_id = correlation_id(request)
        try:
            with correlation_scope(request_id):  # our log lines and the RPC calls below carry it
                return self._handle(request, request_id, route_name, rpc, path)
        finally:
            if reserves_slots(rpc):  # a slot reserved before the key's claim (AdmittedKeys)
                rpc.release()

    def _handle(self, request: Request, request_id: str, route_name: str, rpc: Any,
                path: dict[str, str]) -> Response:
        route = ROUTES[route_name]
        headers = {}
        try:
            principal = authenticate(request.headers.get("Authorization"), self.secret)
            body = read_json(request, self.max_body_bytes) if route.method in BODY_METHODS else None
            # The actor rides along so the services record who caused each event (the audit trail).
            context: dict[str, Any] = {"command_id": new_id(), "correlation_id": request_id,
                                       "actor": actor_of(principal)}
            key = request.headers.get("Idempotency-Key")
            if route.method != "POST" or key is None:
                status, payload = self.run(route, principal, path, request.args, body, context, rpc)
            else:
                request_print = fingerprint(route.method, request.path, body)
                outcome = AdmittedKeys(self.keys, rpc).begin(principal.key, key, request_print)
                if isinstance(outcome, Replay):
                    status, payload, headers = outcome.status, outcome.body, {"Idempotent-Replayed": "true"}
                else:
                    context["command_id"] = outcome.command_id
                    status, payload = self.run_once(outcome, route, principal, path, request.args, body,
                                                    context, rpc)
        except Exception as error:  # noqa: BLE001 - every failure answers in the error format
            api_error = to_api_error(error, request_id)
            status, payload = api_error.status, api_error.body()
            shed = getattr(rpc, "shed", None)  # admission control refused the call: say when to retry
            if isinstance(shed, Saturated) and status == 503:
                headers = {"Retry-After": str(shed.retry_after)}
        return json_response(status, payload, request_id, headers)

    @staticmethod
    def openapi(request: Request) -> Response:
        return json_response(200, document(), correlation_id(request))

    def run_once(self, claim: Claim, route: Route, principal: Principal, path: dict[str, str],
                 args: Any, body: Any, context: dict[str, Any], rpc: Any) -> tuple[int, Any]:
        """Runs a claimed request; stores its answer unless it is one worth retrying."""
        try:
            status, payload = self.run(route, principal, path, args, body, context, rpc)
        except Exception as error:  # noqa: BLE001 - decided below, re-raised as an ApiError
            api_error = to_api_error(error, context["correlation_id"])
            if api_error.retryable:
                self.keys.abandon(claim)
                raise api_error from None
            status, payload = api_error.status, api_error.body()
        kept = payload
        if route.secret_fields and isinstance(payload, dict):
            kept = {name: value for name, value in payload.items() if name not in route.secret_fields}
        self.keys.finish(claim, status, kept)
        return status, payload

    @staticmethod
    def run(route: Route, principal: Principal, path: dict[str, str], args: Any, body: Any,
            context: dict[str, Any], rpc: Any) -> tuple[int, Any]:
        if not route.allow(principal, path):
            raise ApiError("forbidden", f"a {principal.role} token may not do this here ({route.summary})")
        call = Call(principal, dict(path), plain(schema(route.query), dict(args.items())),
                    plain(schema(route.body), body), context)
        return route.status, schema(route.response).dump(route.run(rpc, call))


def actor_of(principal: Principal) -> dict[str, str]:
    """Who the token names: its role and subject (the member, partner or cooperative it is for)."""
    subject = principal.member_id or principal.partner_id or principal.cooperative_id or principal.role
    return {"role": principal.role, "subject": subject}


class AdmittedKeys:
    """Claims an Idempotency-Key only once the call has its slot, so a key never seen is shed before
    anything is stored (a claim freed after a shed was two writes on a store already behind); a
    known key goes on to its replay, which needs no slot, or its 409."""

    def __init__(self, keys: Any, rpc: Any):
        self.keys, self.rpc = keys, rpc

    def begin(self, principal: str, key: str, request_print: str) -> Claim | Replay:
        admission = getattr(self.rpc, "admission", None)
        if isinstance(admission, Admission) and admission.in_flight >= admission.limit:
            # No free slot: a known key goes on to its replay (or its 409), which needs none; a new
            # one is shed now when it would be anyway, else it waits for a slot below
            if self.keys.records.find_one({"_id": record_id(principal, check_key(key))}, {"_id": 1}):
                return self.keys.begin(principal, key, request_print)
            if admission.saturated():
                self.rpc.shed = admission.refuse()
                raise self.rpc.shed
        # A slot first, then the claim (the proxy's `reserve`; Gateway.handle releases it): a request
        # shed while it waits for one has claimed nothing, so there is no claim to free
        reserving = reserves_slots(self.rpc)
        if reserving:
            self.rpc.reserve()
        begun = self.keys.begin(principal, key, request_print)
        if isinstance(begun, Replay) and reserving:
            self.rpc.release()  # answered from the store: no call to make
        return begun


def reserves_slots(rpc: Any) -> bool:
    """Whether `rpc` is a proxy that can hold a slot for its worker (rpc.py). Asked of its class: a
    service proxy answers any other attribute with a remote method."""
    return callable(getattr(type(rpc), "reserve", None))
