"""A small in-process limit on failed sign-ins, per client IP and per user name."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 10_000  # memory bound: the oldest keys are forgotten first


class FailureLimiter:
    """Refuse further attempts for a key after `max_failures` within `window_seconds`.

    Per worker process (gunicorn runs several), so the effective limit is that many times
    higher; it is there to slow guessing down, scrypt's cost does the rest."""

    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again (0 when it may try now)."""
        now = self._clock()
        with self._lock:
            times = self._recent(key, now)
            if len(times) < self.max_failures:
                return 0.0
            return max(0.0, self.window - (now - times[0]))

    def record(self, key: str) -> None:
        """Count one failure for `key`."""
        now = self._clock()
        with self._lock:
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times
            while len(self._failures) > MAX_KEYS:
                self._failures.pop(next(iter(self._failures)))

    def clear(self, key: str) -> None:
        """Forget `key`'s failures (after a successful sign-in)."""
        with self._lock:
            self._failures.pop(key, None)
