"""Read models as mongoengine Documents (issue 10): a QuerySet from `documents()` reads the
database it is given and the projection's current generation, and the indexes a ReadModel
declares exist on every generation the runner or a rebuild writes."""
from __future__ import annotations

import uuid

import pytest
from mongoengine.connection import ConnectionFailure

from services.financing.application import Financing
from services.financing.domain import Partner
from services.financing.projections import (
    CONTRACTS,
    PARTNERS,
    ContractEntry,
    ContractIndex,
    PartnerDirectory,
    PartnerEntry,
)
from services.financing.schemas import registry
from shared.application import Application
from shared.eventstore import EventStore
from shared.projection import ProjectionRunner, documents, generation, read_model, rebuild
from shared.store_connection import connect
from tests.conftest import MONGODB_URI

KIND = "bank_syariah"


@pytest.fixture
def other_database():
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield connect(MONGODB_URI, name)
    connect(MONGODB_URI, name).client.drop_database(name)


def _register(store: EventStore, partner_id: str, name: str) -> None:
    Application(store, registry).execute(Partner, partner_id, lambda p: p.register(name, KIND))


def test_a_document_query_reads_its_own_database_and_follows_a_rebuild(database, other_database):
    stores = {db.name: EventStore(db, registry) for db in (database, other_database)}
    _register(stores[database.name], "p-a", "Bank A")
    _register(stores[other_database.name], "p-b", "Bank B")
    assert list(documents(database, PartnerEntry, PARTNERS).as_pymongo()) == []  # nothing projected yet

    rebuild(stores[database.name], PartnerDirectory())  # fills generation 2, then switches to it

    assert generation(database, PARTNERS) == 2 and generation(other_database, PARTNERS) == 1
    found = list(documents(database, PartnerEntry, PARTNERS).as_pymongo())
    assert [(doc["_id"], doc["name"]) for doc in found] == [("p-a", "Bank A")]
    assert found == list(read_model(database, PARTNERS, "partners").find())  # the same raw documents
    assert list(documents(other_database, PartnerEntry, PARTNERS).as_pymongo()) == []  # its own, unbuilt

    rebuild(stores[other_database.name], PartnerDirectory())
    assert Financing(Application(stores[other_database.name], registry), other_database).list_partners() == {
        "items": [{"id": "p-b", "name": "Bank B", "kind": KIND}], "next": None}
    assert documents(database, PartnerEntry, PARTNERS).filter(pk="p-b").as_pymongo().first() is None


def _declared(collection) -> set[tuple[tuple[str, int], ...]]:
    return {tuple(index["key"]) for index in collection.index_information().values()}


def test_declared_indexes_exist_on_the_runner_s_and_the_rebuild_s_generation(database, amqp_uri, service_name):
    wanted = {tuple(spec["fields"]) for spec in ContractEntry._meta["index_specs"]}
    assert (("cooperative_id", 1), ("status", 1)) in wanted
    store = EventStore(database, registry)
    runner = ProjectionRunner(store, [ContractIndex()], amqp_uri, service_name)
    runner.catch_up_once()  # a generation first seen: its indexes are created before any write
    assert wanted <= _declared(read_model(database, CONTRACTS, "contracts"))

    rebuild(store, ContractIndex())
    assert generation(database, CONTRACTS) == 2
    assert wanted <= _declared(read_model(database, CONTRACTS, "contracts"))


def test_the_class_s_own_connection_is_never_used():
    """kopnet registers no default connection: a query that bypasses documents() fails loudly
    instead of reading some other database."""
    with pytest.raises(ConnectionFailure):
        PartnerEntry.objects.count()
