"""What a projection is, and where readers find its documents (the current generation).

A projection's collections are named `<collection>__g<generation>`; a rebuild fills the next
generation and then switches `projection_generations` to it, so readers move at once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pymongo.collection import Collection
from pymongo.database import Database

from .envelope import Envelope

if TYPE_CHECKING:
    from .view import View

META = "projection_generations"


class Projection:
    name: ClassVar[str]
    #: Event types this projection applies, e.g. {"membership.MemberAdmitted"}.
    handles: ClassVar[frozenset[str]] = frozenset()
    #: Logical collection names it owns.
    collections: ClassVar[tuple[str, ...]] = ()

    def handle(self, event: Envelope, view: View) -> None:
        raise NotImplementedError


def generation(database: Database, projection: str) -> int:
    document = database[META].find_one({"_id": projection})
    return document["generation"] if document else 1


def read_model(database: Database, projection: str, collection: str) -> Collection:
    """The collection readers should query now (the current generation)."""
    return database[f"{collection}__g{generation(database, projection)}"]
