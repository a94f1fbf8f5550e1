"""Readiness probe of the embedded store's metadata (ExportStore.probe_metadata, used by
/health/ready; probe_files is the file area's own probe). Raises on failure, leaves nothing."""

from __future__ import annotations

import sqlite3

from .db import BUSY_TIMEOUT_S, Database

PROBE_KEY = "health-probe"  # never a real sign-in key (those are "user:" / "ip:" prefixed)


def probe_sqlite(db: Database) -> None:
    """A read of the exports table and a write transaction (insert and delete one row), on a
    connection of its own opened without creating the file: the workers' open connections
    keep seeing a file that was since deleted, replaced or corrupted (their pages are
    cached), a new connection does not."""
    db.connection()  # creates the file and schema on a fresh data dir
    uri = f"{db.path.resolve().as_uri()}?mode=rw"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute("SELECT COUNT(*) FROM exports").fetchall()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO sign_in_failures (key, at) VALUES (?, 0)", (PROBE_KEY,))
        conn.execute("DELETE FROM sign_in_failures WHERE key = ?", (PROBE_KEY,))
        conn.execute("COMMIT")
    finally:
        conn.close()
