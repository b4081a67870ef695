"""Fetch the next page while the current one is being ingested.

The peer's server, the network and our JSON parsing then overlap with signature
checks and SQLite writes. Pages still reach the caller one by one and in order,
so cursors are saved exactly as without prefetching.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(source: Iterator[T], depth: int = 1) -> Iterator[T]:
    slots: queue.Queue = queue.Queue(maxsize=depth)
    abandoned = threading.Event()

    def put(entry) -> bool:
        while not abandoned.is_set():
            try:
                slots.put(entry, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((_DONE, exc))

    thread = threading.Thread(target=produce, name="qalqan-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        abandoned.set()
