"""Checkpoints: stored at most every `interval` per name, the rest on flush."""
from __future__ import annotations

from shared.checkpoints import PROJECTIONS, Checkpoints


def stored(database, name: str) -> int | None:
    document = database["checkpoints"].find_one({"_id": name})
    return document["position"] if document else None


def test_positions_within_the_interval_are_kept_back_until_flushed(database):
    checkpoints = Checkpoints(database, interval=3600)
    checkpoints.advance("relay", 1)
    assert stored(database, "relay") == 1, "the first one is stored at once"
    checkpoints.advance("relay", 5)
    checkpoints.advance("relay", 9)
    assert stored(database, "relay") == 1
    assert checkpoints.load("relay") == 9, "this process knows where it got to"
    assert Checkpoints(database).load("relay") == 1, "another process reads what is stored"
    assert checkpoints.due_in(0.5) == 0.5
    checkpoints.flush(due_only=True)
    assert stored(database, "relay") == 1
    checkpoints.flush()
    assert stored(database, "relay") == 9


def test_a_kept_back_position_is_stored_once_due(database):
    checkpoints = Checkpoints(database, interval=0.0)
    checkpoints.advance("relay", 1)
    checkpoints.advance("relay", 2)
    assert stored(database, "relay") == 2
    assert checkpoints.due_in(0.5) == 0.5, "nothing kept back"


def test_names_noted_without_a_flush_are_stored_together_on_the_next_flush(database):
    checkpoints = Checkpoints(database, interval=0.0)
    checkpoints.advance("projection:a:g1", 4, flush=False)
    checkpoints.advance("projection:b:g1", 7, flush=False)
    assert (stored(database, "projection:a:g1"), stored(database, "projection:b:g1")) == (None, None)
    assert checkpoints.load("projection:b:g1") == 7
    checkpoints.flush(due_only=True)
    assert (stored(database, "projection:a:g1"), stored(database, "projection:b:g1")) == (4, 7)


def test_a_groups_positions_go_in_one_statement_and_are_found_beside_a_names_own(database, monkeypatch):
    checkpoints = Checkpoints(database, interval=0.0, group=PROJECTIONS)
    sent: list[tuple[str, int]] = []  # (command, statements) as the store received them
    collection = checkpoints.collection
    monkeypatch.setattr(collection, "update_one", lambda *a, **k: (
        sent.append(("update", 1)), type(collection).update_one(collection, *a, **k))[1])
    monkeypatch.setattr(collection, "bulk_write", lambda requests, **k: (
        sent.append(("bulk", len(requests))), type(collection).bulk_write(collection, requests, **k))[1])
    checkpoints.advance("projection:a:g1", 4, flush=False)
    checkpoints.advance("projection:b:g1", 7, flush=False)
    checkpoints.flush()
    assert sent == [("update", 1)], "two projections' positions, one statement"
    assert (stored(database, "projection:a:g1"), stored(database, "projection:b:g1")) == (None, None)
    reader = Checkpoints(database, group=PROJECTIONS)  # another process
    assert (reader.load("projection:a:g1"), reader.load("projection:b:g1")) == (4, 7)
    # a rebuild stores its new generation's position on its own; the group's readers find it
    Checkpoints(database).save("projection:a:g2", 30)
    assert reader.load("projection:a:g2") == 30
    checkpoints.advance("projection:a:g2", 31)
    assert reader.load("projection:a:g2") == 31, "and the higher of the two once the runner moves on"
    assert Checkpoints(database).load("projection:a:g1") == 0, "outside the group only own documents count"
