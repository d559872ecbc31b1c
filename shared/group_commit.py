"""Group commit: appends of one process that arrive while another is being stored wait for it,
then go to the store together in one request (one insert_many; on FerretDB one SQLite
transaction). A store round trip costs about the same for one commit as for sixteen, so under
concurrent commands the store does a fraction of the work per commit, while a lone command
pays nothing extra (it finds no one to wait for).

Whoever holds the turn stores everything queued (at most `limit` documents per round) and
hands each waiter its own result or error; a waiter whose document was stored by an earlier
turn takes its result and leaves. Works with threads and with eventlet's green threads
(monkey-patched locks), as the services run.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

R = TypeVar("R")

#: One outcome per document: the result, or the exception its writer is to raise.
StoreBatch = Callable[[list[dict[str, Any]]], list[Any]]


class _Request:
    """One writer's documents: they go to the store in one round, in their order."""

    __slots__ = ("documents", "done", "outcomes")

    def __init__(self, documents: list[dict[str, Any]]):
        self.documents = documents
        self.done = False
        self.outcomes: list[Any] = []


class GroupCommit(Generic[R]):
    def __init__(self, store_batch: StoreBatch, limit: int = 64):
        self._store_batch = store_batch
        self._limit = limit
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()
        self.rounds = 0  # store requests made (rounds ÷ documents shows how well appends group)

    def submit(self, document: dict[str, Any]) -> R:
        """Stores `document` (with whatever else is queued); its result, or raises its error."""
        [outcome] = self.submit_all([document])
        if isinstance(outcome, BaseException):
            raise outcome
        result: R = outcome
        return result

    def submit_all(self, documents: list[dict[str, Any]]) -> list[Any]:
        """Stores `documents` in one round, in their order (with whatever else is queued); one
        outcome per document, the result or the exception its writer would raise. One round, so
        the store's rule for a batch (eventstore: a stream's later commits are not sent once one
        is refused) covers all of them."""
        request = _Request(documents)
        with self._queue_lock:
            self._queue.append(request)
        with self._turn:
            while not request.done:
                with self._queue_lock:
                    batch = self._next_round()
                self._store(batch)
        return request.outcomes

    def _next_round(self) -> list[_Request]:
        """The queued requests of the next round: at least one, then as many whole requests as
        keep it within `limit` documents."""
        count, taken = 0, 0
        for request in self._queue:
            if taken and count + len(request.documents) > self._limit:
                break
            count, taken = count + len(request.documents), taken + 1
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    def _store(self, batch: list[_Request]) -> None:
        self.rounds += 1
        documents = [document for request in batch for document in request.documents]
        try:
            outcomes = self._store_batch(documents)
        except Exception as error:  # noqa: BLE001 - every writer of the batch raises it
            outcomes = [error] * len(documents)
        except BaseException:
            # This writer is being stopped (a killed green thread): the others store their
            # documents in a later turn; one already stored is then found by its command id.
            with self._queue_lock:
                self._queue[:0] = [r for r in batch if not r.done]
            raise
        start = 0
        for request in batch:
            end = start + len(request.documents)
            request.outcomes, request.done = list(outcomes[start:end]), True
            start = end
