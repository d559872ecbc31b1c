"""The service's database connection, and what kind of store answers (FerretDB or MongoDB)."""
from __future__ import annotations

import mongoengine.connection
from pymongo.database import Database

_registered: set[str] = set()


def connect(uri: str, database: str, timeout_ms: int = 5000) -> Database:
    """The service's database through mongoengine's connection registry (one client per
    URI and database, shared by the store and the read models); fails fast with
    StoreUnavailable when nobody answers."""
    alias = f"kopnet:{database}:{uri}:{timeout_ms}"
    if alias not in _registered:
        mongoengine.connection.register_connection(
            alias,
            db=database,
            host=uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms * 6, 30000),
            retryWrites=False,  # FerretDB has no sessions; commands are idempotent by command_id
            tz_aware=True,
            uuidRepresentation="standard",
        )
        _registered.add(alias)
    return mongoengine.connection.get_db(alias)


def is_ferretdb(database: Database) -> bool:
    return "ferretdbVersion" in database.client.admin.command("buildInfo")
