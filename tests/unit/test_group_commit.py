"""Group commit (shared/group_commit.py) without a store: who stores what, and who gets which
outcome."""
from __future__ import annotations

import threading

import pytest

from shared.group_commit import GroupCommit
from tests.conftest import wait_for


class HeldFirstRound:
    """A store whose first round waits until released, so that writers queue behind it; it
    records each round's documents and answers `answer(n)` for document n."""

    def __init__(self, answer):
        self.answer, self.rounds = answer, []
        self.inside, self.release = threading.Event(), threading.Event()

    def __call__(self, docs):
        self.rounds.append([d["n"] for d in docs])
        if len(self.rounds) == 1:
            self.inside.set()
            self.release.wait(5)
        return [self.answer(d["n"]) for d in docs]


def test_a_lone_writer_stores_its_document_in_a_round_of_its_own():
    rounds: list[list[int]] = []
    group: GroupCommit[int] = GroupCommit(lambda docs: rounds.append([d["n"] for d in docs]) or
                                          [d["n"] * 10 for d in docs])
    assert group.submit({"n": 1}) == 10 and group.submit({"n": 2}) == 20
    assert rounds == [[1], [2]]


def test_writers_that_arrive_during_a_round_go_together_in_the_next_and_each_gets_its_own_outcome():
    store = HeldFirstRound(lambda n: ValueError(f"bad {n}") if n == 3 else n * 10)
    group: GroupCommit[int] = GroupCommit(store)
    results: dict[int, object] = {}

    def write(n: int) -> None:
        try:
            results[n] = group.submit({"n": n})
        except ValueError as error:
            results[n] = str(error)

    first = threading.Thread(target=write, args=(0,))
    first.start()
    assert store.inside.wait(5)
    others = [threading.Thread(target=write, args=(n,)) for n in range(1, 6)]
    for thread in others:
        thread.start()
    wait_for(lambda: len(group._queue) == 5, what="all five queued behind the first round")
    store.release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert store.rounds == [[0], [1, 2, 3, 4, 5]]
    assert results == {0: 0, 1: 10, 2: 20, 3: "bad 3", 4: 40, 5: 50}


def test_a_round_that_fails_as_a_whole_fails_each_of_its_writers_and_the_next_round_goes_on():
    calls = []

    def store(docs):
        calls.append(len(docs))
        if len(calls) == 1:
            raise ConnectionError("store down")
        return [d["n"] for d in docs]

    group: GroupCommit[int] = GroupCommit(store)
    with pytest.raises(ConnectionError):
        group.submit({"n": 1})
    assert group.submit({"n": 2}) == 2


def test_at_most_limit_documents_go_in_one_round_and_the_rest_in_the_rounds_after():
    store = HeldFirstRound(lambda n: n)
    group: GroupCommit[int] = GroupCommit(store, limit=2)
    threads = [threading.Thread(target=group.submit, args=({"n": 0},))]
    threads[0].start()
    assert store.inside.wait(5)
    for n in range(1, 6):
        threads.append(threading.Thread(target=group.submit, args=({"n": n},)))
        threads[-1].start()
        wait_for(lambda n=n: len(group._queue) == n, what=f"writer {n} queued")  # queued in this order
    store.release.set()
    for thread in threads:
        thread.join(5)
    rounds = store.rounds
    assert sorted(len(r) for r in rounds) == [1, 1, 2, 2] and sorted(sum(rounds, [])) == list(range(6))
    assert rounds[1:] == [[1, 2], [3, 4], [5]]


def test_a_writers_documents_go_in_one_round_and_each_gets_its_own_outcome():
    store = HeldFirstRound(lambda n: ValueError(f"bad {n}") if n == 12 else n * 10)
    group: GroupCommit[int] = GroupCommit(store, limit=4)
    results: dict[str, object] = {}
    first = threading.Thread(target=lambda: results.update(lone=group.submit({"n": 1})))
    first.start()
    assert store.inside.wait(5)
    writers = [threading.Thread(target=lambda: results.update(a=group.submit_all([{"n": 11}, {"n": 12}, {"n": 13}]))),
               threading.Thread(target=lambda: results.update(b=group.submit_all([{"n": 21}, {"n": 22}])))]
    for queued, writer in enumerate(writers, start=1):  # one after the other: the queue's order is theirs
        writer.start()
        wait_for(lambda queued=queued: len(group._queue) == queued, what=f"{queued} writers queued")
    store.release.set()
    for thread in (first, *writers):
        thread.join(5)
    # a round takes whole writers: 3 documents, then 2 (5 would pass the limit of 4)
    assert store.rounds == [[1], [11, 12, 13], [21, 22]]
    assert results["lone"] == 10 and results["b"] == [210, 220]
    a = results["a"]
    assert isinstance(a, list) and a[0] == 110 and isinstance(a[1], ValueError) and a[2] == 130
