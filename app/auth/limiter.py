"""A limit on failed sign-ins, per client IP and per user name, shared by every worker.

The failures are rows in the store's database (table sign_in_failures: the embedded SQLite
file, or PostgreSQL shared by every machine with YBB_STORE=postgres), so the
limit holds however gunicorn spreads the attempts over its workers (kept in each worker's
memory, it was as many times higher as there were workers). It is there to slow guessing down;
scrypt's cost does the rest."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from export_core.store.db import Database


class FailureLimiter:
    """Refuse further attempts for a key after `max_failures` within `window_seconds`."""

    def __init__(
        self,
        db: Path | Any,  # a SQLite file, or the store's database (metadata_database)
        max_failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.time,  # wall clock: shared by processes
    ) -> None:
        self.db = Database(db) if isinstance(db, Path) else db
        self.max_failures = max_failures
        self.window = window_seconds
        self._clock = clock

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again (0 when it may try now)."""
        now = self._clock()
        times = [
            row["at"]
            for row in self.db.read_all(
                "SELECT at FROM sign_in_failures WHERE key = ? AND at > ? ORDER BY at",
                (key, now - self.window),
            )
        ]
        if len(times) < self.max_failures:
            return 0.0
        # Free again once enough of them have left the window to be under the limit.
        return max(0.0, self.window - (now - times[len(times) - self.max_failures]))

    def record(self, key: str) -> None:
        """Count one failure for `key` (and forget every failure older than the window)."""
        now = self._clock()
        with self.db.write() as conn:
            conn.execute("DELETE FROM sign_in_failures WHERE at <= ?", (now - self.window,))
            conn.execute("INSERT INTO sign_in_failures (key, at) VALUES (?, ?)", (key, now))

    def clear(self, key: str) -> None:
        """Forget `key`'s failures (after a successful sign-in)."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM sign_in_failures WHERE key = ?", (key,))
