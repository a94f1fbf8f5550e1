"""Readiness probes for the embedded store's two halves (ExportStore.probe_metadata and
probe_files, used by /health/ready). Each raises on failure and leaves nothing behind."""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

from ..errors import StorageError
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


def probe_directory(folder: Path) -> None:
    """Write a small probe file into `folder`, read it back, delete it (OSError, or
    StorageError when what comes back differs)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".probe-{uuid.uuid4().hex}"
    payload = os.urandom(64)
    try:
        path.write_bytes(payload)
        if path.read_bytes() != payload:
            raise StorageError("The probe file read back differs from what was written")
    finally:
        path.unlink(missing_ok=True)
