"""Where exports live: metadata + files, expiry and cleanup, behind one small interface.

Embedded default: SQLite (WAL) metadata + files under the data dir (`sqlite.py`). PostgreSQL/Redis
metadata or object storage for files replace it by configuration (`open_store`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import polars as pl

from ..model import ExportOptions, QualityReport, WrittenArchive, WrittenFile
from ..settings import Settings

ExportState = Literal["processing", "completed", "failed"]
FileSelector = Literal["main", "zip"] | int  # "main": the file, or the ZIP of a multi-file export


# The message of the NotFound that `begin` raises for an id the user cancelled before it began.
CANCELLED = "Export cancelled"


@dataclass(frozen=True)
class ExportRecord:
    """One export as the store knows it."""

    export_id: str
    export_type: str
    template: str
    format: str
    state: ExportState
    progress: int  # 0-100
    record_count: int
    strategy: str  # "single_file" | "multi_file"
    files: tuple[WrittenFile, ...]
    archive: WrittenArchive | None
    quality: QualityReport | None
    created_at: datetime
    expires_at: datetime
    error: str | None = None


@dataclass(frozen=True)
class OpenedFile:
    """A stored file ready to stream: path on disk, download name, media type and size.
    From object storage, `path` is the object key and the body comes from `chunks` (already
    opened, streamed in blocks) or, with presigned downloads, from `redirect_url`."""

    path: Path
    file_name: str
    media_type: str
    size: int
    chunks: Iterator[bytes] | None = None
    redirect_url: str | None = None


class ExportStore(Protocol):
    """What the doors need from a store."""

    def run_export(
        self,
        frame: pl.DataFrame,
        options: ExportOptions,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ExportRecord:
        """Write the export synchronously (counts against the concurrency limit) and record it."""
        ...

    def get(self, export_id: str) -> ExportRecord:
        """The export, or NotFound("Export not found or expired")."""
        ...

    def list(self, *, limit: int = 50, offset: int = 0) -> tuple[list[ExportRecord], int]:
        """Recent exports, newest first, and the total count."""
        ...

    def delete(self, export_id: str) -> None:
        """Remove the export and its files, or NotFound."""
        ...

    def open_file(self, export_id: str, which: FileSelector) -> OpenedFile:
        """A file of a completed export (NotFound / BatchNotFound / NotReady)."""
        ...

    def cleanup(self) -> int:
        """Remove expired exports now; returns how many were removed."""
        ...

    # --- additions: the two halves of run_export, so a door can answer before writing ---

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
        ...

    def cancel(self, export_id: str) -> bool:
        """The user stopped this export: remove it and its files unless it completed (False
        then). One not begun yet can no longer begin under that id."""
        ...

    def finish(
        self,
        export_id: str,
        frame: pl.DataFrame,
        options: ExportOptions,
        *,
        progress: Callable[[int, int], None] | None = None,
        consume: bool = False,
    ) -> ExportRecord:
        """Write the export begun by `begin` and mark it completed (or failed, re-raising).
        With `consume`, `frame` is emptied once mapped (service.write_export)."""
        ...

    # --- additions: Idempotency-Key bookkeeping ---

    def claim_idempotency_key(self, key: str, request_hash: str) -> StoredResponse | None:
        """None when the key is new (now claimed by this request); the remembered response
        when the same request already finished; IdempotencyConflict / IdempotencyInProgress."""
        ...

    def remember_response(self, key: str, response: StoredResponse) -> None:
        """Store the outcome of a claimed key so that retries get the same answer."""
        ...

    def release_idempotency_key(self, key: str) -> None:
        """Forget a claimed key (the request failed in a way a retry may fix)."""
        ...

    # --- additions: readiness probes (/health?detail=1); each raises on failure ---

    def probe_metadata(self) -> None:
        """Read from and write to the metadata store (a write that leaves nothing behind)."""
        ...

    def probe_files(self) -> None:
        """Write a small probe file where export files go, read it back, delete it."""
        ...


@dataclass(frozen=True)
class StoredResponse:
    """A response remembered for an Idempotency-Key: status code, JSON body, export id."""

    status_code: int
    body: bytes
    export_id: str | None = None


STORES = ("sqlite", "postgres")


def _kind(settings: Settings, kind: str | None) -> str:
    import os

    if kind is None:
        kind = settings.store or os.environ.get("YBB_STORE", "")
    kind = kind.strip() or "sqlite"
    if kind not in STORES:
        known = ", ".join(STORES)
        raise ValueError(f"YBB_STORE={kind!r} is not a known store; use one of: {known}")
    return kind


def open_store(settings: Settings, kind: str | None = None) -> ExportStore:
    """The store the settings select (the embedded SQLite store by default). `kind` defaults
    to settings.store / YBB_STORE; an unknown value (or YBB_FILES=s3 with the single-machine
    SQLite store) raises ValueError at start-up. PostgreSQL migrates its schema here."""
    if _kind(settings, kind) == "postgres":
        from .postgres import PostgresStore

        return PostgresStore(settings)
    if settings.files != "local":
        raise ValueError("YBB_FILES=s3 needs YBB_STORE=postgres (SQLite is one machine's store)")
    from .sqlite import SQLiteStore

    return SQLiteStore(settings)


def metadata_database(settings: Settings, kind: str | None = None) -> Any:
    """The selected store's database (`Database` or `PgDatabase`: read_all/read_one/write),
    for shared state outside the exports table such as the UI sign-in failure limit."""
    if _kind(settings, kind) == "postgres":
        from .pg import PgDatabase

        return PgDatabase(settings.database_url)
    from .db import Database

    return Database(settings.db_path)
