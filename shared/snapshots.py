"""Snapshots of aggregate state: caches, versioned per class, stored only when faithful.

* Versioned: a snapshot records its class's `snapshot_version`; a snapshot of another version
  is ignored on load (the stream is replayed from its events), so bumping the version when the
  state's shape changes (a field added) never hands out a state that lacks it.
* Faithful: state is stored as JSON text (FerretDB v1 refuses nested arrays in documents) and
  the cache holds pickled state, which keeps int keys and tuples that JSON does not. A state is
  saved only if it comes back from JSON equal to itself; otherwise no snapshot is kept and the
  stream is replayed, which is always right.
* Never fatal: the command is stored before its snapshot is taken; a snapshot that cannot be
  encoded or saved is logged and skipped (Application._save).
"""
from __future__ import annotations

import json
from typing import Any


class NotFaithful(ValueError):
    """A state that JSON would change (tuples, int keys, sets): not snapshotted."""


def encode(state: dict[str, Any]) -> str:
    """The state as JSON text, or NotFaithful when decoding would not give it back."""
    try:
        text = json.dumps(state, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise NotFaithful(f"state is not JSON: {error}") from error
    if json.loads(text) != state:
        raise NotFaithful("state does not survive a JSON round trip (tuples or non-string keys)")
    return text


def decode(text: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(text)
    return state

