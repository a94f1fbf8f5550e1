"""The embedded store: export metadata in SQLite (WAL), files under settings.exports_dir/<id>/.

Safe under several gunicorn workers: every read goes to the shared SQLite file, every write is a
short BEGIN IMMEDIATE transaction, and the concurrency limit counts "processing" rows whose lease
(heartbeat) is fresh, whichever process owns them. Files are written into `<id>.partial` and
renamed to `<id>` when complete, so a half-written file is never served."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from .. import service
from ..errors import Busy, ExportError, NotFound, NotReady, StorageError
from ..model import ExportOptions
from ..settings import Settings
from . import CANCELLED, ExportRecord, FileSelector, OpenedFile, StoredResponse
from .db import (
    Database,
    archive_json,
    current_owner,
    files_json,
    owner_is_dead,
    quality_json,
    row_to_record,
)
from .files import MEDIA_TYPES, FileArea, LocalFiles, choose_file, remove_scratch
from .idempotency import IdempotencyKeys
from .leases import Leases
from .probes import probe_sqlite

if TYPE_CHECKING:
    from .db import AnyDatabase
    from .pg import Row

LEASE_SECONDS = 60.0  # a "processing" row without a heartbeat for this long is dead
PROGRESS_MIN_INTERVAL = 0.25  # seconds between progress writes to the row
ORPHAN_GRACE_SECONDS = 60.0
INTERRUPTED = "Export interrupted: the server process writing it stopped; retry the export"
NOT_FOUND = "Export not found or expired"
WRITE_FAILED = "Could not write export files"


def _short_reason(exc: BaseException) -> str:
    if isinstance(exc, ExportError):
        return exc.message
    if isinstance(exc, OSError):  # no server paths in a status a client reads
        detail = exc.strerror or (str(exc.args[0]) if exc.args else type(exc).__name__)
        return f"{WRITE_FAILED}: {detail}"
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return text[:200]


class SQLiteStore:
    """ExportStore on SQLite + a data directory (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        db: AnyDatabase | None = None,
        files: FileArea | None = None,
    ) -> None:
        self.settings = settings
        self.exports_dir = settings.exports_dir
        self.db: AnyDatabase = db if db is not None else Database(settings.db_path)
        self.files = files if files is not None else LocalFiles(self.exports_dir)
        self.clock = clock  # wall clock for created/expires; tests may move it forward
        self.lease_seconds = LEASE_SECONDS
        self.keys = IdempotencyKeys(
            self.db,
            ttl_seconds=settings.retention_hours * 3600,
            stale_after_seconds=2 * 300 + LEASE_SECONDS,
        )
        self.leases = Leases(self.db)
        self._recovered_pid: int | None = None

    # ---------------------------------------------------------------- lifecycle of one export

    def begin(
        self,
        options: ExportOptions,
        record_count: int,
        *,
        strategy: str = "single_file",
        export_id: str | None = None,
    ) -> ExportRecord:
        """Take a concurrency slot (or raise Busy) and record a "processing" export, under
        `export_id` when the caller chose it (NotFound if that id is taken or was cancelled)."""
        self._ready()
        export_id = export_id or str(uuid.uuid4())
        now, limit = time.time(), self.settings.max_concurrent_exports
        created = self.clock()
        with self.db.write() as conn:
            taken = conn.execute(
                "SELECT error FROM exports WHERE export_id = ?", (export_id,)
            ).fetchall()
            if taken:  # cancelled before it began (see cancel), or an id already in use
                message = CANCELLED if taken[0]["error"] == CANCELLED else NOT_FOUND
                raise NotFound(message, details={"export_id": export_id})
            # The limit protects this machine's memory: with a store shared by several
            # machines it counts this host's running exports ("host:pid:start" owners).
            (active,) = conn.execute(
                "SELECT COUNT(*) FROM exports WHERE state = 'processing' AND heartbeat_at > ?"
                " AND owner LIKE ?",
                (now - self.lease_seconds, f"{socket.gethostname()}:%"),
            ).fetchall()[0]
            if active >= limit:
                raise Busy(
                    f"Too many exports are running ({limit} at once); retry in a few seconds",
                    retry_after=5,
                    details={"max_concurrent_exports": limit},
                )
            conn.execute(
                "INSERT INTO exports (export_id, export_type, template, format, state, progress,"
                " record_count, strategy, created_at, expires_at, owner, heartbeat_at)"
                " VALUES (?, ?, ?, ?, 'processing', 0, ?, ?, ?, ?, ?, ?)",
                (
                    export_id,
                    options.export_type,
                    options.template,
                    options.format,
                    record_count,
                    strategy,
                    created,
                    created + self.settings.retention_hours * 3600,
                    current_owner(),
                    now,
                ),
            )
        self.leases.track(export_id)
        return self._fetch(export_id)

    def finish(
        self,
        export_id: str,
        frame: pl.DataFrame,
        options: ExportOptions,
        *,
        progress: Callable[[int, int], None] | None = None,
        consume: bool = False,
    ) -> ExportRecord:
        """Write the export begun by `begin`; mark it completed, or failed and re-raise.
        With `consume`, `frame` is emptied once mapped (service.write_export)."""
        partial = self.files.scratch / f"{export_id}.partial"
        try:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            result = service.write_export(
                frame,
                options,
                partial,
                progress=self._progress_writer(export_id, progress),
                max_records=self.settings.max_records,
                consume=consume,
            )
            self.files.publish(export_id, partial)
        except BaseException as exc:
            self._mark_failed(export_id, _short_reason(exc))
            shutil.rmtree(partial, ignore_errors=True)
            if isinstance(exc, OSError):  # the store's own mkdir / rename
                raise StorageError(_short_reason(exc)) from exc
            raise
        finally:
            self.leases.untrack(export_id)
        with self.db.write() as conn:
            cur = conn.execute(
                "UPDATE exports SET state = 'completed', progress = 100, strategy = ?,"
                " record_count = ?, files = ?, archive = ?, quality = ?, owner = NULL"
                " WHERE export_id = ? AND state = 'processing'",
                (
                    result.plan.strategy,
                    result.record_count,
                    files_json(result.files),
                    archive_json(result.archive),
                    quality_json(result.quality),
                    export_id,
                ),
            )
        if cur.rowcount == 0:  # deleted (or declared dead) while we were writing
            self.files.remove(export_id)
            raise NotFound(NOT_FOUND, details={"export_id": export_id})
        return self._fetch(export_id)

    def run_export(
        self,
        frame: pl.DataFrame,
        options: ExportOptions,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ExportRecord:
        """Write the export synchronously (counts against the concurrency limit) and record it."""
        record = self.begin(options, frame.height)
        return self.finish(record.export_id, frame, options, progress=progress)

    def _progress_writer(
        self, export_id: str, downstream: Callable[[int, int], None] | None
    ) -> Callable[[int, int], None]:
        last = {"pct": 0, "at": 0.0}

        def report(done: int, total: int) -> None:
            pct = min(99, done * 100 // max(total, 1))  # 100 only once the row is completed
            now = time.monotonic()
            if pct != last["pct"] and (now - last["at"] >= PROGRESS_MIN_INTERVAL or done >= total):
                last.update(pct=pct, at=now)
                with self.db.write() as conn:
                    conn.execute(
                        "UPDATE exports SET progress = ?, heartbeat_at = ? WHERE export_id = ?",
                        (pct, time.time(), export_id),
                    )
            if downstream is not None:
                downstream(done, total)

        return report

    def _mark_failed(self, export_id: str, message: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE exports SET state = 'failed', error = ?, owner = NULL"
                " WHERE export_id = ? AND state = 'processing'",
                (message, export_id),
            )

    # ---------------------------------------------------------------- reading

    def _fetch(self, export_id: str) -> ExportRecord:
        row = self.db.read_one("SELECT * FROM exports WHERE export_id = ?", (export_id,))
        if row is None:
            raise NotFound(NOT_FOUND, details={"export_id": export_id})
        return row_to_record(row)

    def get(self, export_id: str) -> ExportRecord:
        """The export, or NotFound("Export not found or expired") (also once it expired, even
        before cleanup has removed it)."""
        self._ready()
        row = self.db.read_one("SELECT * FROM exports WHERE export_id = ?", (export_id,))
        if row is None or row["expires_at"] <= self.clock():
            raise NotFound(NOT_FOUND, details={"export_id": export_id})
        if row["state"] == "processing" and self._owner_gone(row):
            self.recover_interrupted()
            return self._fetch(export_id)
        return row_to_record(row)

    def _owner_gone(self, row: sqlite3.Row | Row) -> bool:
        """The processing row's lease ran out, or its owner is a dead process on this host
        (a SIGKILLed worker is noticed at the next read, from any worker, not a lease later)."""
        if row["export_id"] in self.leases.mine():
            return False
        stale = row["heartbeat_at"] < time.time() - self.lease_seconds
        return stale or owner_is_dead(row["owner"])

    def list(self, *, limit: int = 50, offset: int = 0) -> tuple[list[ExportRecord], int]:
        """Recent exports, newest first, and the total count (expired ones excluded)."""
        self._ready()
        now = self.clock()
        (total,) = self.db.read_all("SELECT COUNT(*) FROM exports WHERE expires_at > ?", (now,))[0]
        rows = self.db.read_all(
            "SELECT * FROM exports WHERE expires_at > ? ORDER BY created_at DESC, export_id"
            " LIMIT ? OFFSET ?",
            (now, limit, offset),
        )
        return [row_to_record(r) for r in rows], int(total)

    def open_file(self, export_id: str, which: FileSelector) -> OpenedFile:
        """A file of a completed export (NotFound / BatchNotFound / NotReady)."""
        record = self.get(export_id)
        if record.state == "processing":
            raise NotReady("Export is still processing", details={"progress": record.progress})
        if record.state == "failed":
            raise NotFound(f"Export failed and has no files: {record.error}")
        name = choose_file(record, which)
        # Defence in depth (LocalFiles): ids are checked UUIDs and names come from our own
        # records, but a file outside the exports dir (a crafted row, a symlink) is never served.
        media_type = MEDIA_TYPES.get(Path(name).suffix.lower(), "application/zip")
        return self.files.open(export_id, name, media_type)

    # ---------------------------------------------------------------- removal

    def delete(self, export_id: str) -> None:
        """Remove the export and its files, or NotFound."""
        self.get(export_id)
        with self.db.write() as conn:
            conn.execute("DELETE FROM exports WHERE export_id = ?", (export_id,))
        self._remove_dirs(export_id)

    def cancel(self, export_id: str) -> bool:
        """See ExportStore.cancel. In one write transaction with begin's: a processing or
        failed export is deleted; an id not begun yet gets an already expired "failed" row
        (invisible to get and list, removed by cleanup) that makes begin refuse it."""
        self._ready()
        with self.db.write() as conn:
            rows = conn.execute(
                "SELECT state FROM exports WHERE export_id = ?", (export_id,)
            ).fetchall()
            if rows and rows[0]["state"] == "completed":
                return False
            if rows:
                conn.execute("DELETE FROM exports WHERE export_id = ?", (export_id,))
            else:
                now = self.clock()
                conn.execute(
                    "INSERT INTO exports (export_id, export_type, template, format, state,"
                    " record_count, strategy, created_at, expires_at, error)"
                    " VALUES (?, '', '', '', 'failed', 0, 'single_file', ?, ?, ?)",
                    (export_id, now, now, CANCELLED),
                )
        self.leases.untrack(export_id)
        self._remove_dirs(export_id)
        return True

    def _remove_dirs(self, export_id: str) -> None:
        self.files.remove(export_id)

    def cleanup(self) -> int:
        """Remove expired exports (rows and files), expired idempotency keys, interrupted
        exports' leftovers and orphaned directories; returns how many exports were removed."""
        self._ready()
        self.recover_interrupted()
        expired = [
            r["export_id"]
            for r in self.db.read_all(
                "SELECT export_id FROM exports WHERE expires_at <= ? AND state != 'processing'",
                (self.clock(),),
            )
        ]
        removed = 0
        for export_id in expired:
            with self.db.write() as conn:  # counted only by whoever deletes the row
                cur = conn.execute(
                    "DELETE FROM exports WHERE export_id = ? AND state != 'processing'",
                    (export_id,),
                )
            if cur.rowcount:
                removed += 1
                self._remove_dirs(export_id)
        self.keys.purge_expired()
        self._remove_orphans()
        return removed

    def _remove_orphans(self) -> None:
        known = {r[0] for r in self.db.read_all("SELECT export_id FROM exports")}
        self.files.remove_orphans(known, time.time() - ORPHAN_GRACE_SECONDS)

    def recover_interrupted(self) -> int:
        """Mark "processing" exports whose owner died (or whose lease expired) as failed and
        remove their partial files; returns how many."""
        stale_before = time.time() - self.lease_seconds
        mine = self.leases.mine()
        rows = self.db.read_all(
            "SELECT export_id, owner, heartbeat_at FROM exports WHERE state = 'processing'"
        )
        dead = [
            r["export_id"]
            for r in rows
            if r["export_id"] not in mine
            and (r["heartbeat_at"] < stale_before or owner_is_dead(r["owner"]))
        ]
        for export_id in dead:
            self._mark_failed(export_id, INTERRUPTED)
            remove_scratch(self.files.scratch, export_id)
        return len(dead)

    # ---------------------------------------------------------------- idempotency

    def claim_idempotency_key(self, key: str, request_hash: str) -> StoredResponse | None:
        """See ExportStore.claim_idempotency_key."""
        self._ready()
        self.recover_interrupted()  # a key whose export died with its worker is free again
        return self.keys.claim(key, request_hash)

    def remember_response(self, key: str, response: StoredResponse) -> None:
        """See ExportStore.remember_response."""
        self.keys.remember(key, response)

    def release_idempotency_key(self, key: str) -> None:
        """See ExportStore.release_idempotency_key."""
        self.keys.release(key)

    # ---------------------------------------------------------------- readiness probes

    def probe_metadata(self) -> None:
        """See ExportStore.probe_metadata (probes.probe_sqlite: a connection of its own)."""
        try:
            probe_sqlite(self.db)  # type: ignore[arg-type]  # PostgresStore overrides this
        except Exception as exc:  # sqlite3 errors: a missing, replaced or corrupted file
            raise StorageError(f"Export metadata: {type(exc).__name__}: {exc}"[:300]) from exc

    def probe_files(self) -> None:
        """See ExportStore.probe_files (the file area's own probe: local dir or bucket)."""
        self.files.probe()

    # ---------------------------------------------------------------- per-process plumbing

    def _ready(self) -> None:
        """On first use in this process: recover exports a dead process left "processing"."""
        if self._recovered_pid != os.getpid():
            self._recovered_pid = os.getpid()
            self.recover_interrupted()

    def export_dir(self, export_id: str) -> Path:
        """Where a completed export's files live."""
        return self.exports_dir / export_id
