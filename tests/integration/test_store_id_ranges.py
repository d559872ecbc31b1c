"""Reading the commits after a position by an `_id` range (stream_index.commits_from).

On FerretDB v1 the range is served by patch 0005 (deploy/ferretdb/patches), which compares the
bounds with the indexed JSON text of `_id`; the first test holds it to MongoDB's answer for
strings whose JSON text orders differently from the strings (escaped characters, non-ASCII,
prefixes), so the pushdown can never lose a document a reader asked for.
"""
from __future__ import annotations

import itertools

from bson import ObjectId

from shared.eventstore import EventStore, NewEvent
from shared.stream_index import position_key

AWKWARD = ["0", "00", "00000000000000000001 ", '00000000000000000001"', "0000000000000000001&",
           "00000000000000000001\u2028", "0000000000000000001\x01", "1", "9", "9&", '9"', "9\x01", "9]", "9\\",
           "9\u2028", "99999999999999999999", "99999999999999999999&", "999999999999999999999", "0&", "1&x",
           "5<", "5\\", "", " ", "!", "a", "é", "0é", "Account\x1fs1\x1f1", "~complete",
           "00000000000000000015&", "0000000000000000001&x", "0000000000000000001\u2028", "000000000000000000199"]
BOUNDS = ["0", "00000000000000000001", "00000000000000000002", "00000000000000000010", "00000000000000000015",
          "00000000000000000019", "0000000000000000001", "1", "5", "9", "99999999999999999999", "9&", "a", "~", "é", ""]
COMPARE = {"$gt": lambda s, b: s > b, "$gte": lambda s, b: s >= b,
           "$lt": lambda s, b: s < b, "$lte": lambda s, b: s <= b}


def test_an_id_range_of_strings_finds_exactly_the_strings_mongodb_would(database):
    strings = [position_key(n) for n in range(1, 40)] + AWKWARD
    collection = database["ranges"]
    collection.insert_many([{"_id": s} for s in strings] +
                           [{"_id": 7}, {"_id": 7.5}, {"_id": ObjectId()}, {"_id": {"a": "1"}}])
    wrong = []
    for low_op, high_op in itertools.product(["$gt", "$gte", None], ["$lt", "$lte", None]):
        for low, high in itertools.product(BOUNDS, BOUNDS):
            query = {op: bound for op, bound in ((low_op, low), (high_op, high)) if op}
            if not query:
                continue
            expected = {s for s in strings if all(COMPARE[op](s.encode(), bound.encode())
                                                  for op, bound in query.items())}
            found = {document["_id"] for document in collection.find({"_id": query})}
            if found != expected:
                wrong.append((query, sorted(expected ^ found)))
    assert wrong == [], f"{len(wrong)} ranges answered wrongly, e.g. {wrong[:3]}"


def opened() -> NewEvent:
    return NewEvent("bank.AccountOpened", {"cooperative_id": "coop-1", "owner": "siti"})


def deposited(amount: int) -> NewEvent:
    return NewEvent("bank.Deposited", {"amount": amount})


def test_reads_after_a_position_inside_a_commit_and_at_its_end(store):
    store.append("Account", "a1", 0, [opened(), deposited(1), deposited(2)])  # positions 1-3
    store.append("Account", "a2", 0, [opened()])                             # 4
    store.append("Account", "a1", 3, [deposited(3), deposited(4)])           # 5-6
    assert [e.position for e in store.read_all(after=2)] == [3, 4, 5, 6], "the rest of a commit begun before"
    assert [e.position for e in store.iterate_all(after=5)] == [6]
    assert [e.position for e in store.read_all(after=3, at_commit_end=True)] == [4, 5, 6]
    assert [e.position for e in store.iterate_all(after=4, at_commit_end=True)] == [5, 6]
    assert store.read_all(after=6, at_commit_end=True) == [] and list(store.iterate_all(after=6)) == []
    assert all(e.stream_type == "Account" for e in store.read_all()), "index entries are never read as commits"


def test_the_head_is_the_end_of_the_last_commit_whatever_the_commits_sizes(store, database):
    assert store.head() == 0
    ends = []
    for n, size in enumerate([1, 3, 1, 1, 2, 5, 1, 1, 1, 4, 1, 2, 1, 1, 1, 1, 7]):
        commit = store.append("Account", f"a{n}", 0, [opened(), *[deposited(1)] * (size - 1)])
        ends.append(commit.last_position)
        assert store.head() == commit.last_position
    assert EventStore(database, store.registry)._known_head() == ends[-1], "a new writer starts after the head"


def test_reading_all_after_a_position_crosses_chunks_and_commits_that_straddle_them(store):
    """store_scan.chunks_from reads aligned ranges of CHUNK (1000) positions, two at a time: the
    commits (7 events each, and one of 1000, the longest) straddle chunk boundaries."""
    ends = []
    for n in range(300):
        size = 1000 if n == 100 else 7
        ends.append(store.append("Account", f"a{n}", 0, [opened(), *[deposited(1)] * (size - 1)]).last_position)
    head = ends[-1]
    assert head > 3000 and store.head() == head
    for after in (0, 1, 998, 999, 1000, 1001, 1500, 1999, 2001, head - 1, head):
        assert [e.position for e in store.iterate_all(after=after)] == list(range(after + 1, head + 1)), after
    for after in (0, ends[0], ends[99], ends[100], ends[142], ends[250], head):  # commit ends: read from the next start
        assert [e.position for e in store.iterate_all(after=after, at_commit_end=True)] == \
            list(range(after + 1, head + 1)), after
