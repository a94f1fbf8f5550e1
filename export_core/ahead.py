"""An iterator advanced on a thread of its own, one item ahead of its consumer.

The CLI's one-pass export reads and maps a batch of the input (polars' reader and expressions,
GIL released) while the batch before it is rendered and written: the two halves of the work
then share the machine's cores instead of taking turns on one. The API's multi-file exports
prepare their next group of batch files the same way (service._prepared_ahead). At most two
items are alive at a time, the one the consumer holds and the one being made: the thread
starts on the next item only once the consumer has taken the last one.

The items arrive in order, then the iterator's end; an exception raised by the source is
raised in the consumer where the item it failed to make would have come (the items before it
having been handed over first). `close()` (or leaving the `with` block) stops the thread after
the item it is making, closes the source there and waits for it: nothing is left running."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2


class Ahead(Generic[T]):
    """Iterate `source` on a thread named `name`, one item ahead of the consumer."""

    def __init__(self, source: Iterator[T], name: str) -> None:
        self._source = source
        self._slot: queue.SimpleQueue[tuple[int, object]] = queue.SimpleQueue()
        self._taken = threading.Semaphore(0)  # released once per item taken, and by close()
        self._stop = threading.Event()
        self._finished = False  # the consumer has seen the end or the error
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._source:
                self._slot.put((_ITEM, item))
                del item  # the consumer's from now on
                self._taken.acquire()
                if self._stop.is_set():
                    return
            self._slot.put((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            self._slot.put((_ERROR, exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Ahead[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        kind, value = self._slot.get()
        if kind == _ITEM:
            self._taken.release()
            return value  # type: ignore[return-value]
        self._finished = True
        self._thread.join()
        if kind == _ERROR:
            assert isinstance(value, BaseException)
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop the thread after the item it is making and wait for it (idempotent)."""
        self._stop.set()
        self._taken.release()
        self._thread.join()
        self._finished = True
        while not self._slot.empty():  # an item made after the consumer stopped taking them
            self._slot.get_nowait()

    def __enter__(self) -> Ahead[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
