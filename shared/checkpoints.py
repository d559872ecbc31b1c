"""Where a single-active reader of the store (the relay, a projection) has got to."""
from __future__ import annotations

from pymongo.database import Database


class Checkpoints:
    def __init__(self, database: Database):
        self.collection = database["checkpoints"]

    def load(self, name: str) -> int:
        document = self.collection.find_one({"_id": name})
        return document["position"] if document else 0

    def save(self, name: str, position: int) -> None:
        # One writer per name (it holds the broker lock), so a plain replace is safe.
        self.collection.replace_one({"_id": name}, {"_id": name, "position": position}, upsert=True)
