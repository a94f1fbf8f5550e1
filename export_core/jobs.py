"""Background runner for async exports, behind one small interface.

Embedded default: a thread pool inside the web worker, created lazily in each process (so a
pool is never inherited across fork). A Celery/RQ runner can replace it by implementing
`JobRunner`."""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

log = logging.getLogger("ybb.jobs")


class JobRunner(Protocol):
    """Runs a job later; the job reports its own outcome (e.g. through the store)."""

    def submit(self, job: Callable[[], object], *, name: str) -> None:
        """Queue `job`; must not block on it."""
        ...


class ThreadJobRunner:
    """JobRunner on a per-process ThreadPoolExecutor."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None or self._pid != os.getpid():
                self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="ybb-job")
                self._pid = os.getpid()
            return self._executor

    def submit(self, job: Callable[[], object], *, name: str) -> None:
        """Queue `job`; an exception it raises is logged (the store already recorded it).
        The job runs in a copy of the caller's context, so it logs the caller's request id."""

        def done(future: Future[object]) -> None:
            exc = future.exception()
            if exc is not None:
                log.info("event=job_failed job=%s error=%s", name, type(exc).__name__)

        context = contextvars.copy_context()
        self._pool().submit(context.run, job).add_done_callback(done)

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting jobs and (optionally) wait for the running ones."""
        with self._lock:
            if self._executor is not None and self._pid == os.getpid():
                self._executor.shutdown(wait=wait)
            self._executor = None
