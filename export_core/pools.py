"""A thread pool per process that survives gunicorn's and Celery's forks."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor


class ForkSafePool:
    """A process's thread pool, created on first use. A forked child (a gunicorn or Celery
    worker) gets its own: the parent's pool object would survive the fork without its
    threads, and work handed to it would never run."""

    def __init__(self, threads: int, name: str) -> None:
        self.threads = threads
        self.name = name
        self._pool: tuple[int, ThreadPoolExecutor] | None = None  # (its process, the pool)
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether this process (or the one it was forked from) has created the pool."""
        return self._pool is not None

    def executor(self) -> ThreadPoolExecutor:
        if self._pool is not None and self._pool[0] != os.getpid():
            self._pool, self._lock = None, threading.Lock()  # the parent's lock may be held
        with self._lock:
            if self._pool is None:
                pool = ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
                self._pool = (os.getpid(), pool)
            return self._pool[1]
