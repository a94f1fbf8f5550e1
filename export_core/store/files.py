"""Which stored file a download selector means, the media type of each file kind, and where
completed exports' files live (`FileArea`: a local directory here, object storage in s3files)."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from pathlib import Path
from typing import Protocol

from ..errors import BatchNotFound, NotFound, StorageError
from . import ExportRecord, FileSelector, OpenedFile

MEDIA_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv; charset=utf-8",
    ".zip": "application/zip",
}


def choose_file(record: ExportRecord, which: FileSelector) -> str:
    """The file name `which` selects in a completed export: "main" is the single file or the
    ZIP of a multi-file export, "zip" the ZIP, an int the batch file with that number."""
    if isinstance(which, int):
        for written in record.files:
            if written.batch_number == which:
                return written.file_name
        raise BatchNotFound(
            f"Batch file {which} not found or expired",
            details={"batch_number": which, "total_files": len(record.files)},
        )
    if which == "zip" or (which == "main" and record.archive is not None):
        if record.archive is None:
            raise NotFound(
                "This export is a single file and has no ZIP archive; "
                f"download it from /api/ybb/export/{record.export_id}/download",
                details={"export_id": record.export_id},
            )
        return record.archive.zip_file_name
    if not record.files:
        raise NotFound("Export not found or expired", details={"export_id": record.export_id})
    return record.files[0].file_name


class FileArea(Protocol):
    """Where a store keeps the files of completed exports (local dir or object storage)."""

    scratch: Path  # local dir where `<id>.partial` dirs are written before `publish`

    def publish(self, export_id: str, partial: Path) -> None:
        """Make the complete files in `partial` the export's files (all at once, or raise)."""
        ...

    def open(self, export_id: str, name: str, media_type: str) -> OpenedFile:
        """A published file, ready to stream (NotFound when it is gone)."""
        ...

    def remove(self, export_id: str) -> None:
        """Remove the export's files and any partial ones (missing is fine)."""
        ...

    def remove_orphans(self, known: set[str], older_than: float) -> None:
        """Remove files of exports not in `known` that were last written before `older_than`."""
        ...

    def probe(self) -> None:
        """Write, read back and delete a small probe file; raise StorageError on failure."""
        ...


def remove_scratch(scratch: Path, export_id: str) -> None:
    """Remove `<export_id>.partial` under `scratch` (missing is fine)."""
    shutil.rmtree(scratch / f"{export_id}.partial", ignore_errors=True)


def local_orphans(directory: Path, known: set[str], older_than: float) -> None:
    """Remove entries of `directory` named after no known export and older than `older_than`."""
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        export_id = entry.name.removesuffix(".partial")
        if export_id not in known and entry.stat().st_mtime < older_than:
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()


PROBE_BYTES = b"ybb storage probe\n"


class LocalFiles:
    """FileArea on a local directory: `<dir>/<id>/` published by renaming `<id>.partial`."""

    def __init__(self, directory: Path) -> None:
        self.scratch = directory
        self.directory = directory

    def publish(self, export_id: str, partial: Path) -> None:
        """Rename the partial dir into place (atomic on one filesystem)."""
        os.rename(partial, self.directory / export_id)

    def open(self, export_id: str, name: str, media_type: str) -> OpenedFile:
        """The file on disk, never one outside the directory (a crafted row, a symlink)."""
        path = self.directory / export_id / name
        gone = NotFound("Export not found or expired", details={"export_id": export_id})
        if not path.resolve().is_relative_to(self.directory.resolve()):
            raise gone
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise gone from None
        except OSError as exc:
            raise StorageError(f"Cannot read the export file: {exc.strerror}") from exc
        return OpenedFile(path, name, media_type, size)

    def remove(self, export_id: str) -> None:
        """Removing unlinks the files; a download that already opened one keeps streaming it."""
        shutil.rmtree(self.directory / export_id, ignore_errors=True)
        remove_scratch(self.scratch, export_id)

    def remove_orphans(self, known: set[str], older_than: float) -> None:
        """See FileArea.remove_orphans."""
        local_orphans(self.directory, known, older_than)

    def probe(self) -> None:
        """See FileArea.probe."""
        path = self.directory / f".probe-{os.getpid()}-{threading.get_ident()}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path.write_bytes(PROBE_BYTES)
            if path.read_bytes() != PROBE_BYTES:
                raise StorageError(f"Export files: probe read back differently in {self.directory}")
        except OSError as exc:
            raise StorageError(f"Export files: {self.directory}: {exc.strerror or exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
