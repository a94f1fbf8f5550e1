"""Periodic cleanup that runs in one process at a time.

Every worker may start the scheduler (lazily, on its first request); each round takes a
non-blocking lock (a lock file in the data dir, or the shared store's own lock across machines),
so when several workers wake together only one of them cleans and the others skip that round."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from . import ExportStore
from .db import StoreClosed

log = logging.getLogger("ybb.store")


@contextmanager
def file_lock(lock_path: Path) -> Iterator[bool]:
    """A non-blocking flock on `lock_path`: yields False when another process holds it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def cleanup_if_free(store: ExportStore, lock_path: Path) -> int | None:
    """Run store.cleanup() unless another process is cleaning now (then None). A store shared
    by several machines brings its own lock (`cleanup_lock`: PostgreSQL's advisory lock);
    the embedded one uses a lock file in the data dir, which all its workers share."""
    lock: Callable[[], AbstractContextManager[bool]] | None = getattr(store, "cleanup_lock", None)
    with lock() if lock is not None else file_lock(lock_path) as free:
        return store.cleanup() if free else None


class CleanupScheduler:
    """A daemon thread per process calling `cleanup_if_free` every `interval` seconds."""

    def __init__(
        self,
        store: ExportStore,
        lock_path: Path,
        interval: float,
        observe: Callable[[int | None, bool], None] | None = None,
    ) -> None:
        """`observe(removed, failed)` hears of every round (metrics): removed is None when
        another process was cleaning."""
        self.store = store
        self.observe = observe
        self.lock_path = lock_path
        self.interval = interval
        self._pid: int | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the thread in this process if it is not running yet (safe after fork)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._loop, name="ybb-cleanup", daemon=True).start()

    def _loop(self) -> None:
        while True:
            removed, failed = None, False
            try:
                removed = cleanup_if_free(self.store, self.lock_path)
                if removed:
                    log.info("event=cleanup removed=%d pid=%d", removed, os.getpid())
            except StoreClosed:
                return
            except Exception:  # a failed round must not kill the thread; the next one retries
                failed = True
                log.exception("event=cleanup_failed pid=%d", os.getpid())
            if self.observe is not None:
                self.observe(removed, failed)
            time.sleep(self.interval)
