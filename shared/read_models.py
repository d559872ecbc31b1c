"""What a projection is, and where readers find its documents (the current generation).

A projection's collections are named `<collection>__g<generation>`; a rebuild fills the next
generation and then switches `projection_generations` to it, so readers move at once.

The query side reads through mongoengine Documents (`ReadModel` subclasses declared beside the
projection that writes them: typed fields, indexes in `meta`), while the projection keeps its
raw, fenced writes (view.py) on the same collections. `documents()` binds a Document to one
database and the current generation by constructing its QuerySet on that pymongo collection.
Not mongoengine's `switch_db`/`switch_collection`/`QuerySet.using`: those change the class
itself for the length of a `with` block, so under nameko's concurrent workers one worker's query
could run against another's database or generation (and in 0.29 `using` first opens the class's
default connection, which kopnet never registers). The database handed in is already the one
mongoengine registered for it (store_connection.connect: one alias per URI and database).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from mongoengine import Document, StringField
from mongoengine.queryset import QuerySet
from pymongo.collection import Collection
from pymongo.database import Database

from .envelope import Envelope

if TYPE_CHECKING:
    from .view import View

META = "projection_generations"


class ReadModel(Document):
    """A read model's documents as the query side sees them. A subclass names its logical
    collection (`meta["collection"]`, e.g. "contracts") and declares the fields queries use
    and the indexes they want; `strict: False` because the projection may store more.

    Read-only: query it through `documents()`. `Doc.objects`, `save()`, `sum`/`average` and
    `map_reduce` use the class's default connection, which kopnet never registers, so they
    fail (ConnectionFailure) rather than read or write the wrong database."""

    meta: ClassVar[dict[str, Any]] = {"abstract": True, "strict": False}
    id = StringField(primary_key=True)  # the document's `_id`


class Projection:
    name: ClassVar[str]
    #: Event types this projection applies, e.g. {"membership.MemberAdmitted"}.
    handles: ClassVar[frozenset[str]] = frozenset()
    #: Logical collection names it owns.
    collections: ClassVar[tuple[str, ...]] = ()
    #: The ReadModel declarations of (some of) those collections: their indexes are created on
    #: every generation the runner or a rebuild writes (create_indexes).
    documents: ClassVar[tuple[type[ReadModel], ...]] = ()

    def handle(self, event: Envelope, view: View) -> None:
        raise NotImplementedError


def generation(database: Database, projection: str) -> int:
    document = database[META].find_one({"_id": projection})
    return document["generation"] if document else 1


def read_model(database: Database, projection: str, collection: str) -> Collection:
    """The collection readers should query now (the current generation)."""
    return database[f"{collection}__g{generation(database, projection)}"]


def documents(database: Database, document: type[ReadModel], projection: str) -> QuerySet:
    """A QuerySet of `document` on `database`'s current generation of its collection, e.g.
    `documents(db, ContractEntry, CONTRACTS).filter(status="active").as_pymongo()`. The
    generation is read here (one lookup by `_id`), so a QuerySet follows a rebuild's switch
    from its next call on; build one per query."""
    collection = read_model(database, projection, document._get_collection_name())
    queryset_class = document._meta.get("queryset_class") or QuerySet
    return queryset_class(document, collection)


def create_indexes(database: Database, gen: int, projection: Projection) -> None:
    """Creates the indexes the projection's ReadModels declare on generation `gen` (what
    mongoengine's `ensure_indexes` does for a class's own collection). Existing ones are left
    as they are. FerretDB v1 records them but still scans."""
    for document in projection.documents:
        collection = database[f"{document._get_collection_name()}__g{gen}"]
        for declared in document._meta["index_specs"]:
            spec = dict(declared)
            fields = spec.pop("fields")
            spec.pop("cls", None)  # mongoengine's own option, not the server's
            collection.create_index(fields, **spec)
