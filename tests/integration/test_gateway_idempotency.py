"""The gateway's IdempotencyStore on the real store: one winner, replays, lease takeover."""

import eventlet
import pytest
from pymongo import MongoClient, monitoring

from services.gateway.errors import ApiError
from services.gateway.idempotency import Claim, IdempotencyStore, Replay
from tests.conftest import MONGODB_URI, wait_for


@pytest.fixture
def keys(database) -> IdempotencyStore:
    return IdempotencyStore(database, lease_seconds=0.5)


def test_one_claim_wins_among_concurrent_duplicates(keys):
    def begin(_n):
        try:
            return keys.begin("coop_admin|A||", "key-1", "print")
        except ApiError as error:
            return error

    outcomes = list(eventlet.GreenPool(8).imap(begin, range(8)))
    claims = [o for o in outcomes if isinstance(o, Claim)]
    assert len(claims) == 1
    assert all(
        isinstance(o, ApiError) and o.code == "conflict" and "in progress" in o.message
        for o in outcomes
        if not isinstance(o, Claim)
    )


class _Inserts(monitoring.CommandListener):
    """Counts the insert requests the store gets, per collection."""

    def __init__(self):
        self.requests: dict[str, int] = {}

    def started(self, event):
        if event.command_name == "insert":
            name = event.command["insert"]
            self.requests[name] = self.requests.get(name, 0) + 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def test_concurrent_claims_and_answers_share_store_requests_and_keep_their_own_outcomes(database_name):
    inserts = _Inserts()
    client = MongoClient(MONGODB_URI, event_listeners=[inserts], retryWrites=False)
    try:
        keys = IdempotencyStore(client[database_name])
        requests = [(f"key-{n}", "print") for n in range(12)] + [("key-5", "another print")] * 2

        def run(request):
            key, request_print = request
            try:
                claim = keys.begin("p", key, request_print)
            except ApiError as error:
                return error.code
            if isinstance(claim, Claim):
                keys.finish(claim, 201, {"key": key})
            return claim

        outcomes = list(eventlet.GreenPool(len(requests)).imap(run, requests))
        # each key claimed once (a duplicate in the same store request refused, never stored twice)
        claims = [outcome for outcome in outcomes[:12] if isinstance(outcome, Claim)]
        assert len({claim.record_id for claim in claims}) == 12
        assert outcomes[12:] == ["conflict", "conflict"]
        assert inserts.requests["idempotency_keys"] < 12 and inserts.requests["idempotency_responses"] < 12
        for n in range(12):
            assert keys.begin("p", f"key-{n}", "print") == Replay(201, {"key": f"key-{n}"})
    finally:
        client.close()


def test_a_finished_claim_is_replayed_and_another_request_is_refused(keys):
    claim = keys.begin("p", "key-2", "print")
    keys.finish(claim, 201, {"id": "m1", "name": "Siti", "nested": {"$odd.key": 1}})
    assert keys.begin("p", "key-2", "print") == Replay(
        201, {"id": "m1", "name": "Siti", "nested": {"$odd.key": 1}}
    )
    with pytest.raises(ApiError) as refused:
        keys.begin("p", "key-2", "another print")
    assert refused.value.code == "conflict" and "different request" in refused.value.message
    assert isinstance(keys.begin("another principal", "key-2", "print"), Claim)


def test_an_abandoned_claim_frees_the_key_with_the_same_command_id(keys):
    first = keys.begin("p", "key-3", "print")
    keys.abandon(first)
    second = keys.begin("p", "key-3", "print")
    assert isinstance(second, Claim) and second.command_id == first.command_id and second.token != first.token


def test_a_claim_whose_gateway_died_is_taken_over_after_the_lease(keys):
    dead = keys.begin("p", "key-4", "print")
    with pytest.raises(ApiError):
        keys.begin("p", "key-4", "print")
    taken = wait_for(lambda: _claimed(keys, "p", "key-4", "print"), timeout=5, what="the lease to run out")
    assert isinstance(taken, Claim) and taken.command_id == dead.command_id
    keys.finish(dead, 500, {"late": True})  # the dead claim's late answer no longer counts
    keys.finish(taken, 201, {"id": "x"})
    assert keys.begin("p", "key-4", "print") == Replay(201, {"id": "x"})


def _claimed(keys: IdempotencyStore, principal: str, key: str, request_print: str) -> Claim | Replay | None:
    """begin(), or None while the key is still held (its 409 says to retry in a moment)."""
    try:
        return keys.begin(principal, key, request_print)
    except ApiError as error:
        if not error.retryable:
            raise
        return None
