"""SQLite plumbing for the embedded store: one connection per thread and process, the schema,
process identity (for leases) and row <-> record conversion.

Connections are opened lazily and keyed by process id, so a connection opened before a fork
(gunicorn workers) is never used by the child."""

from __future__ import annotations

import fcntl
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import orjson
import psutil  # type: ignore[import-untyped]

from ..model import QualityReport, WrittenArchive, WrittenFile
from . import ExportRecord, ExportState

if TYPE_CHECKING:
    from .pg import Connection as PgConnection
    from .pg import PgDatabase, Row

    AnyDatabase: TypeAlias = "Database | PgDatabase"  # either backend: read_all / read_one / write
    AnyConnection: TypeAlias = "sqlite3.Connection | PgConnection"

BUSY_TIMEOUT_S = 10.0


class StoreClosed(RuntimeError):
    """This process closed its connections to the store's database for good (shutdown, or a
    test's database dropped): background threads (heartbeat, cleanup) end quietly on it."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS exports (
    export_id     TEXT PRIMARY KEY,
    export_type   TEXT NOT NULL,
    template      TEXT NOT NULL,
    format        TEXT NOT NULL,
    state         TEXT NOT NULL,
    progress      INTEGER NOT NULL DEFAULT 0,
    record_count  INTEGER NOT NULL,
    strategy      TEXT NOT NULL,
    files         TEXT NOT NULL DEFAULT '[]',
    archive       TEXT,
    quality       TEXT,
    created_at    REAL NOT NULL,
    expires_at    REAL NOT NULL,
    owner         TEXT,
    heartbeat_at  REAL,
    error         TEXT
);
CREATE INDEX IF NOT EXISTS exports_by_created ON exports (created_at DESC);
CREATE INDEX IF NOT EXISTS exports_by_state ON exports (state, heartbeat_at);
CREATE TABLE IF NOT EXISTS idempotency (
    key           TEXT PRIMARY KEY,
    request_hash  TEXT NOT NULL,
    state         TEXT NOT NULL,
    status_code   INTEGER,
    response      BLOB,
    export_id     TEXT,
    owner         TEXT NOT NULL,
    created_at    REAL NOT NULL,
    expires_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sign_in_failures (
    key           TEXT NOT NULL,
    at            REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_in_failures_by_key ON sign_in_failures (key, at);
"""


@cache
def _owner_for(pid: int) -> str:
    started = psutil.Process(pid).create_time()
    return f"{socket.gethostname()}:{pid}:{started:.3f}"


def current_owner() -> str:
    """This process as "host:pid:start_time" (the start time guards against pid reuse)."""
    return _owner_for(os.getpid())


def owner_is_dead(owner: str | None) -> bool:
    """True when `owner` names a process on this host that no longer runs. Owners on other
    hosts are never declared dead here: their leases expire instead."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return False
    try:
        proc = psutil.Process(int(pid_text))
        # A SIGKILLed worker stays a zombie until gunicorn's arbiter reaps it: already dead.
        return f"{proc.create_time():.3f}" != started or proc.status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return True


class Database:
    """Lazily opened, per-thread, per-process SQLite connections to one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._schema_pid: int | None = None
        self._schema_lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use in this process)."""
        pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != pid:
            conn = self._open()
            self._local.conn, self._local.pid = conn, pid
        return cast(sqlite3.Connection, conn)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so that read-then-write
        # sequences (slot counting) are serialised across processes.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        with self._schema_lock:
            if self._schema_pid != os.getpid():
                self._initialise(conn)
                self._schema_pid = os.getpid()
        return conn

    def _initialise(self, conn: sqlite3.Connection) -> None:
        # Switching to WAL needs an exclusive lock that SQLite does not wait for through the
        # busy handler ("database is locked" at once when two connections open a new file
        # together), so the switch and the schema are done under a lock file, once per process.
        with open(self.path.with_name(self.path.name + ".init.lock"), "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                if conn.execute("PRAGMA journal_mode").fetchall()[0][0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL").fetchall()
                conn.executescript(SCHEMA)
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def read_all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Run a query to completion. Never leave a SELECT half-read (e.g. by fetchone): an
        unfinished statement keeps an old WAL snapshot open, and the connection's next BEGIN
        IMMEDIATE then fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT) as soon
        as another connection has committed."""
        return list(self.connection().execute(sql, args).fetchall())

    def read_one(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        """The first row of a fully-run query, or None."""
        rows = self.read_all(sql, args)
        return rows[0] if rows else None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken with BEGIN IMMEDIATE (waits up to the busy timeout)."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def to_datetime(epoch: float) -> datetime:
    """Stored epoch seconds -> an aware UTC datetime."""
    return datetime.fromtimestamp(epoch, tz=UTC)


def dumps(value: Any) -> str:
    """Compact JSON text for a JSON column."""
    return orjson.dumps(value).decode()


def files_json(files: tuple[WrittenFile, ...]) -> str:
    """The files column."""
    return dumps([asdict(f) for f in files])


def archive_json(archive: WrittenArchive | None) -> str | None:
    """The archive column."""
    return None if archive is None else dumps(asdict(archive))


def quality_json(quality: QualityReport | None) -> str | None:
    """The quality column."""
    return None if quality is None else dumps(quality.as_dict())


def _quality(text: str | None) -> QualityReport | None:
    if not text:
        return None
    raw = orjson.loads(text)
    raw["extra_fields"] = tuple(raw.get("extra_fields", ()))
    return QualityReport(**raw)


def row_to_record(row: sqlite3.Row | Row) -> ExportRecord:
    """A stored row -> ExportRecord."""
    archive = orjson.loads(row["archive"]) if row["archive"] else None
    return ExportRecord(
        export_id=row["export_id"],
        export_type=row["export_type"],
        template=row["template"],
        format=row["format"],
        state=cast(ExportState, row["state"]),
        progress=int(row["progress"]),
        record_count=int(row["record_count"]),
        strategy=row["strategy"],
        files=tuple(WrittenFile(**f) for f in orjson.loads(row["files"])),
        archive=WrittenArchive(**archive) if archive else None,
        quality=_quality(row["quality"]),
        created_at=to_datetime(row["created_at"]),
        expires_at=to_datetime(row["expires_at"]),
        error=row["error"],
    )
