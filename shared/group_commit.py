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
    __slots__ = ("document", "done", "outcome")

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.done = False
        self.outcome: Any = None


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
        request = _Request(document)
        with self._queue_lock:
            self._queue.append(request)
        with self._turn:
            while not request.done:
                with self._queue_lock:
                    batch, self._queue = self._queue[:self._limit], self._queue[self._limit:]
                self._store(batch)
        if isinstance(request.outcome, BaseException):
            raise request.outcome
        result: R = request.outcome
        return result

    def _store(self, batch: list[_Request]) -> None:
        self.rounds += 1
        try:
            outcomes = self._store_batch([r.document for r in batch])
        except Exception as error:  # noqa: BLE001 - every writer of the batch raises it
            outcomes = [error] * len(batch)
        except BaseException:
            # This writer is being stopped (a killed green thread): the others store their
            # documents in a later turn; one already stored is then found by its command id.
            with self._queue_lock:
                self._queue[:0] = [r for r in batch if not r.done]
            raise
        for request, outcome in zip(batch, outcomes, strict=True):
            request.outcome, request.done = outcome, True
