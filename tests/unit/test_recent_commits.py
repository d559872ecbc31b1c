from shared.envelope import Envelope, new_id, utc_now
from shared.eventstore import Commit
from shared.recent import RecentCommits


def commit(first: int, size: int = 1) -> Commit:
    events = [Envelope(new_id(), "bank.Deposited", 1, "Account", "a", 1, first + i, utc_now(), None, "c", None,
                       {"amount": 1}) for i in range(size)]
    return Commit("cmd", "Account", "a", 1, size, first, first + size - 1, events)


def test_hands_out_only_an_unbroken_chain_after_the_position():
    recent = RecentCommits()
    for c in (commit(4, 2), commit(1), commit(2, 2), commit(8)):  # listeners may fire out of order
        recent.add(c)
    assert [e.position for e in recent.take_after(0)] == [1, 2, 3, 4, 5]
    assert recent.take_after(5) == [], "6 was appended by another process: read the store"
    recent.add(commit(6, 2))
    assert [e.position for e in recent.take_after(5)] == [6, 7, 8]


def test_forgets_what_the_follower_has_passed_and_stays_bounded():
    recent = RecentCommits(limit=3)
    for first in (1, 2, 3):
        recent.add(commit(first))
    assert [e.position for e in recent.take_after(2)] == [3]  # 1 and 2 are behind the follower
    assert recent.take_after(0) == [], "what was passed is forgotten"
    recent = RecentCommits(limit=3)
    for first in (1, 2, 3, 4):  # the fourth empties the buffer first
        recent.add(commit(first))
    assert [e.position for e in recent.take_after(3)] == [4]
    assert recent.take_after(0) == []


def test_waits_for_an_append_on_its_way_to_its_listeners():
    """The follower found commit 1 in the store before the appender's listener delivered it."""
    import threading

    recent = RecentCommits()
    on_its_way = threading.Event()
    on_its_way.set()

    def deliver() -> None:
        recent.add(commit(1))
        on_its_way.clear()

    threading.Timer(0.02, deliver).start()
    assert [e.position for e in recent.wait_after(0, on_its_way.is_set, timeout=5)] == [1]


def test_does_not_wait_when_no_append_is_on_its_way():
    import time

    recent = RecentCommits()
    started = time.monotonic()
    assert recent.wait_after(0, lambda: False, timeout=5) == []
    assert time.monotonic() - started < 1, "returned at once"
    started = time.monotonic()
    assert recent.wait_after(0, lambda: True, timeout=0.05) == [], "gives up after the timeout"
