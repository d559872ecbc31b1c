"""Idempotency-Key records in the gateway's own database (collection `idempotency_keys`).

One document per (principal, key), created by a plain insert under a unique `_id` BEFORE the
request runs: the store's unique index picks exactly one winner among concurrent duplicates,
across gateway replicas. The winner stores the response afterwards (`idempotency_responses`,
keyed by the record and its claim); others get the stored response (same request) or 409 (a
different request, or the first still running). A claim whose gateway died mid-request is
taken over after `lease_seconds`; the service still stores the command once, because its
command id is derived from the key.

Claims and responses that arrive while others are being stored go to the store together, one
unordered insert per collection (the kernel's GroupCommit): each keeps its own outcome, its
duplicate key included, and under load the store answers one request for several commands.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.envelope import derived_id, new_id
from shared.group_commit import GroupCommit
from shared.stream_index import insert_missing

from .errors import ApiError

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Claim:
    record_id: str
    token: str

    @property
    def command_id(self) -> str:
        """The command id the service sees for every attempt with this key."""
        return derived_id("gateway.command", self.record_id)


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any


def record_id(principal: str, key: str) -> str:
    return derived_id("gateway.idempotency", f"{principal}\n{key}")


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError("validation_error", "Idempotency-Key must be 1 to 255 printable characters (a UUID)",
                       {"Idempotency-Key": ["not a valid key"]})
    return key


class IdempotencyStore:
    def __init__(self, database: Database, lease_seconds: float = 30.0):
        self.records = database["idempotency_keys"]
        # Responses are inserted beside their claim, never updated into it: on FerretDB v1 an
        # insert or a lookup by _id takes constant time and an update scans the collection.
        self.responses = database["idempotency_responses"]
        self.lease_seconds = lease_seconds
        self._claims: GroupCommit[None] = GroupCommit(_inserts(self.records))
        self._answers: GroupCommit[None] = GroupCommit(_inserts(self.responses))

    def begin(self, principal: str, key: str, request_print: str) -> Claim | Replay:
        """Claims the key for this request, or answers what the first request with it got."""
        ident = record_id(principal, check_key(key))
        for _attempt in range(3):
            claim = Claim(ident, new_id())
            try:
                self._claims.submit({"_id": ident, "principal": principal, "key": key,
                                     "fingerprint": request_print, "claim": claim.token,
                                     "started": time.time(), "status": None, "body": None})
                return claim
            except DuplicateKeyError:
                record = self.records.find_one({"_id": ident})
            if record is None:
                continue  # abandoned a moment ago: claim it again
            if record["fingerprint"] != request_print:
                raise ApiError("conflict", "this Idempotency-Key was already used for a different request "
                               "(another method, path or body); use a new key for a new request")
            answered = record if record["status"] is not None else self.responses.find_one(
                {"_id": _response_id(ident, record["claim"])})
            if answered is not None:
                return Replay(answered["status"], json.loads(answered["body"]))
            if time.time() - record["started"] < self.lease_seconds:
                raise ApiError("conflict", "a request with this Idempotency-Key is still in progress; "
                               "retry in a moment to get its result", retryable=True)
            self.records.delete_one({"_id": ident, "claim": record["claim"]})  # its gateway died
        raise ApiError("conflict", "this Idempotency-Key is contended; retry in a moment", retryable=True)

    def finish(self, claim: Claim, status: int, body: Any) -> None:
        """Stores the first response. If that fails, the client still gets it; a retry after the
        lease runs the command again under the same command id, which the service stores once."""
        try:
            self._answers.submit({"_id": _response_id(claim.record_id, claim.token), "status": status,
                                  "body": json.dumps(body), "done": time.time()})
        except PyMongoError as error:
            log.warning("could not store the response for idempotency record %s: %s", claim.record_id, error)

    def abandon(self, claim: Claim) -> None:
        """Frees the key after an answer that must not be replayed (the service was unavailable)."""
        try:
            self.records.delete_one({"_id": claim.record_id, "claim": claim.token})
        except PyMongoError as error:
            log.warning("could not free idempotency record %s (it frees itself after %ss): %s",
                        claim.record_id, self.lease_seconds, error)


def _inserts(collection: Collection):
    """Stores a group's documents in one unordered request: one outcome each, None when stored,
    DuplicateKeyError when its `_id` was taken (any other failure is every document's)."""
    def insert(documents: list[dict[str, Any]]) -> list[DuplicateKeyError | None]:
        taken = {id(document) for document in insert_missing(collection, documents)}
        return [DuplicateKeyError(f"{collection.name}: {document['_id']} exists", 11000)
                if id(document) in taken else None for document in documents]
    return insert


def _response_id(record: str, token: str) -> str:
    """A claim's response: a claim taken over after its lease never answers for the new one."""
    return f"{record}:{token}"
