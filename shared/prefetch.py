"""Read ahead: iterate a slow source in a background thread while the caller works.

The relay reads the store (FerretDB decodes documents on its own core) while it frames
and sends the previous batch to RabbitMQ, instead of doing one after the other.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(source: Iterable[T], depth: int = 2000) -> Iterator[T]:
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, re-raised there
            buffer.put(error)

    reader = threading.Thread(target=read, daemon=True, name="kopnet-prefetch")
    reader.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
