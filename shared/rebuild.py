"""Rebuilding a read model from the event history into a fresh generation, then switching to it.

Live processing and rebuild run the same `handle` code over the same events; readers switch to
the new generation at once (one write to `projection_generations`), and the live runner notices
it within GENERATIONS_TTL and continues from the rebuild's checkpoint.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .checkpoints import Checkpoints
from .envelope import Envelope
from .eventstore import EventStore
from .read_models import META, Projection, create_indexes, generation
from .store_scan import IN_FLIGHT
from .view import View, apply_events


def rebuild(store: EventStore, projection: Projection,
            progress: Callable[[int, int], None] | None = None) -> int:
    """Rebuilds `projection` from position 0 into a new generation, then switches to it.

    Runs beside a live runner: the runner notices the new generation on its next batch
    and continues from the rebuild's checkpoint. Returns the number of events read.
    """
    database = store.database
    old = generation(database, projection.name)
    new = old + 1
    for collection in projection.collections:
        database[f"{collection}__g{new}"].drop()
    view = View(lambda collection, doc_id: None)
    total = store.head()
    seen = 0
    last_position = 0
    page: list[Envelope] = []
    for event in store.iterate_all():
        page.append(event)
        if len(page) >= 5000:
            apply_events(projection, page, view)
            seen, last_position, page = seen + len(page), page[-1].position, []
            if progress:
                progress(seen, max(total, seen))
    if page:
        apply_events(projection, page, view)
        seen, last_position = seen + len(page), page[-1].position
    by_collection: dict[str, list[dict[str, Any]]] = {}
    for collection, document in view.documents():
        by_collection.setdefault(collection, []).append(document)
    # IN_FLIGHT inserts at a time: the store decodes and encodes one while SQLite writes another
    # (one after another, the writes were half of a rebuild's time, the store on one core)
    with ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="kopnet-rebuild") as pool:
        inserts = [pool.submit(database[f"{collection}__g{new}"].insert_many,
                               documents[start:start + 1000], ordered=False)
                   for collection, documents in by_collection.items()
                   for start in range(0, len(documents), 1000)]
        for insert in inserts:
            insert.result()  # raises what an insert raised: the new generation is not switched to
    create_indexes(database, new, projection)  # before readers switch to it
    Checkpoints(database).save(f"projection:{projection.name}:g{new}", last_position)
    database[META].replace_one({"_id": projection.name}, {"_id": projection.name, "generation": new},
                                upsert=True)
    for collection in projection.collections:
        database[f"{collection}__g{old}"].drop()
    if progress:
        progress(seen, max(total, seen))
    return seen
