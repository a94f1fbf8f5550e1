"""The shared store for several machines: export metadata in PostgreSQL, files in a local data
dir (YBB_FILES=local, one machine) or S3-compatible object storage (YBB_FILES=s3).

It is the embedded store's logic (sqlite.py) over another database and file area: the SQL is
written once in the subset both databases speak, PgDatabase serialises write transactions as
SQLite's BEGIN IMMEDIATE does, and leases, idempotency keys, cancel's fence and the sign-in
limit therefore keep their semantics across machines. What differs:

- dead workers: an owner on another host is never probed; its export is declared failed once
  its lease (heartbeat) is LEASE_SECONDS old, by whichever machine reads it next;
- cleanup: one machine at a time, under a PostgreSQL advisory lock (not a lock file);
- the schema is migrated by versioned migrations (migrations.py) when the store is opened."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import StorageError
from ..settings import Settings
from .files import FileArea, LocalFiles
from .migrations import migrate
from .pg import PgDatabase
from .sqlite import SQLiteStore

CLEANUP_LOCK = 0x59424202  # pg_try_advisory_lock key of a cleanup round


def file_area(settings: Settings) -> FileArea:
    """The configured place for export files."""
    if settings.files == "s3":
        from .s3files import S3Files

        return S3Files(settings)
    return LocalFiles(settings.exports_dir)


class PostgresStore(SQLiteStore):
    """ExportStore on PostgreSQL + local files or object storage (see the module docstring)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        db = PgDatabase(settings.database_url)
        migrate(settings.database_url)  # at start-up, so a broken DATABASE_URL stops it here
        super().__init__(settings, clock=clock, db=db, files=file_area(settings))
        self.pg = db

    def probe_metadata(self) -> None:
        """See ExportStore.probe_metadata: a query through the pool."""
        try:
            self.db.read_all("SELECT COUNT(*) FROM exports WHERE export_id = ?", ("probe",))
        except Exception as exc:  # psycopg / pool errors
            raise StorageError(f"Export metadata: {type(exc).__name__}: {exc}"[:300]) from exc

    @contextmanager
    def cleanup_lock(self) -> Iterator[bool]:
        """Whether this process may clean now, across every machine (see maintenance)."""
        with self.pg.try_lock(CLEANUP_LOCK) as free:
            yield free
