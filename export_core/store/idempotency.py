"""Idempotency-Key bookkeeping in the store's database (SQLite or PostgreSQL, the same SQL).

A key row is claimed ("processing") by the first request, then holds that request's response
("done") until it expires with the export. A claim whose owner process died, or that is older
than the longest an export may run, is taken over so a crashed worker cannot block a key; so is
a remembered answer whose export has failed since (async job failure, dead worker)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..errors import IdempotencyConflict, IdempotencyInProgress
from . import StoredResponse
from .db import current_owner, owner_is_dead

if TYPE_CHECKING:
    from .db import AnyConnection, AnyDatabase


def _export_failed(conn: AnyConnection, export_id: str | None) -> bool:
    """True when the remembered answer names an export that has since failed (an async export
    whose job failed, or whose worker died): the key is released so a retry runs again."""
    if export_id is None:
        return False
    rows = conn.execute("SELECT state FROM exports WHERE export_id = ?", (export_id,)).fetchall()
    return bool(rows) and rows[0]["state"] == "failed"


class IdempotencyKeys:
    """Claim / remember / release Idempotency-Keys."""

    def __init__(self, db: AnyDatabase, *, ttl_seconds: float, stale_after_seconds: float) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds
        self.stale_after_seconds = stale_after_seconds

    def claim(self, key: str, request_hash: str) -> StoredResponse | None:
        """See ExportStore.claim_idempotency_key."""
        now = time.time()
        with self.db.write() as conn:
            rows = conn.execute("SELECT * FROM idempotency WHERE key = ?", (key,)).fetchall()
            row = rows[0] if rows else None
            if row is not None and row["expires_at"] > now:
                if row["request_hash"] != request_hash:
                    raise IdempotencyConflict(
                        "Idempotency-Key was already used with a different request body; "
                        "use a new key for a new request",
                        details={"idempotency_key": key},
                    )
                if row["state"] == "done" and not _export_failed(conn, row["export_id"]):
                    return StoredResponse(row["status_code"], row["response"], row["export_id"])
                stale = now - row["created_at"] > self.stale_after_seconds
                if row["state"] != "done" and not stale and not owner_is_dead(row["owner"]):
                    raise IdempotencyInProgress(
                        "A request with this Idempotency-Key is still being processed; "
                        "retry in a few seconds",
                        details={"idempotency_key": key},
                    )
            conn.execute("DELETE FROM idempotency WHERE key = ?", (key,))  # both backends' SQL
            conn.execute(
                "INSERT INTO idempotency (key, request_hash, state, owner, created_at,"
                " expires_at) VALUES (?, ?, 'processing', ?, ?, ?)",
                (key, request_hash, current_owner(), now, now + self.ttl_seconds),
            )
        return None

    def remember(self, key: str, response: StoredResponse) -> None:
        """See ExportStore.remember_response."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE idempotency SET state = 'done', status_code = ?, response = ?,"
                " export_id = ? WHERE key = ?",
                (response.status_code, response.body, response.export_id, key),
            )

    def release(self, key: str) -> None:
        """See ExportStore.release_idempotency_key."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM idempotency WHERE key = ? AND state = 'processing'", (key,))

    def purge_expired(self) -> int:
        """Delete expired keys; returns how many."""
        with self.db.write() as conn:
            cur = conn.execute("DELETE FROM idempotency WHERE expires_at <= ?", (time.time(),))
            return cur.rowcount
