"""The exports this process is writing, and the heartbeat that keeps their leases fresh.

A "processing" row counts against the concurrency limit only while its heartbeat is recent,
so an export whose process died stops holding a slot once its lease runs out."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

from .db import StoreClosed

if TYPE_CHECKING:
    from .db import AnyDatabase

HEARTBEAT_SECONDS = 15.0
log = logging.getLogger("ybb.store")


class Leases:
    """Tracks this process's running exports; a daemon thread refreshes their heartbeats."""

    def __init__(self, db: AnyDatabase, interval: float = HEARTBEAT_SECONDS) -> None:
        self.db = db
        self.interval = interval
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def mine(self) -> set[str]:
        """The export ids this process is writing now."""
        with self._lock:
            if self._pid != os.getpid():
                return set()  # a forked child owns none of its parent's exports
            return set(self._active)

    def track(self, export_id: str) -> None:
        """Start keeping `export_id`'s lease fresh (starts the thread in this process)."""
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._active.clear()
                threading.Thread(target=self._beat, name="ybb-heartbeat", daemon=True).start()
            self._active.add(export_id)

    def untrack(self, export_id: str) -> None:
        """Stop refreshing `export_id` (it completed or failed)."""
        with self._lock:
            self._active.discard(export_id)

    def _beat(self) -> None:
        while True:
            time.sleep(self.interval)
            ids = list(self.mine())
            if not ids:
                continue
            marks = ",".join("?" * len(ids))
            try:
                with self.db.write() as conn:
                    conn.execute(
                        f"UPDATE exports SET heartbeat_at = ? WHERE export_id IN ({marks})",
                        (time.time(), *ids),
                    )
            except StoreClosed:
                return
            except Exception:  # a database blip must not end the heartbeats for good
                log.exception("event=heartbeat_failed exports=%d", len(ids))
