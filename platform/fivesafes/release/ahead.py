"""Producing the next items on a thread while the caller works on the current one.

Used where both halves release the interpreter lock for most of their time (pyarrow and
the database driver work in C++), so two cores really work at once: reading a release
while it is transformed, preparing the next shuffled bucket while one is encoded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()
_POLL_SECONDS = 0.2


class ReadAhead(Generic[T]):
    """Iterate ``items`` on a thread, at most ``depth`` items ahead; :meth:`close` stops it.

    An exception raised by ``items`` is raised to the consumer when it gets that far."""

    def __init__(self, items: Iterator[T], depth: int, name: str) -> None:
        self._items = items
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._failure: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
        except BaseException as exc:  # re-raised in the consumer
            self._failure.append(exc)
        finally:
            close = getattr(self._items, "close", None)
            try:
                if close is not None:
                    close()  # a generator's own clean-up (its connection, say) runs here
            except BaseException as exc:  # the consumer must still hear the end
                self._failure.append(exc)
            self._put(_END)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _END:
                break
            yield item  # type: ignore[misc]
        if self._failure:
            raise self._failure[0]

    def close(self) -> None:
        """Stop producing and wait for the thread, so what it reads can then be closed."""
        self._stop.set()
        self._thread.join()
