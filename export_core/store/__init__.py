"""Where exports live: metadata + files, expiry and cleanup, behind one small interface.

Embedded default: SQLite (WAL) metadata + files under the data dir (`sqlite.py`). PostgreSQL/Redis
metadata or object storage for files replace it by configuration (`open_store`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

import polars as pl

from ..model import ExportOptions, QualityReport, WrittenArchive, WrittenFile
from ..settings import Settings

ExportState = Literal["processing", "completed", "failed"]
FileSelector = Literal["main", "zip"] | int  # "main": the file, or the ZIP of a multi-file export


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
    """A stored file ready to stream: path on disk, download name, media type and size."""

    path: Path
    file_name: str
    media_type: str
    size: int


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


def open_store(settings: Settings) -> ExportStore:
    """The store the settings select (the embedded SQLite store by default)."""
    raise NotImplementedError
