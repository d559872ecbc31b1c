"""The gateway's IdempotencyStore on the real store: one winner, replays, lease takeover."""

import eventlet
import pytest

from services.gateway.errors import ApiError
from services.gateway.idempotency import Claim, IdempotencyStore, Replay
from tests.conftest import wait_for


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
