"""Which stored file a download selector means, and the media type of each file kind."""

from __future__ import annotations

from ..errors import BatchNotFound, NotFound
from . import ExportRecord, FileSelector

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
