"""Writers, one module per format, registered by format name ("excel", "csv").

A writer is anything with `format`, `extension`, `media_type` and `write(...)` — each format
module satisfies the protocol itself. Adding a format is adding a module and one entry below.

A writer may also offer `prepare(mapped, bounds) -> MappedFrame`: the service then hands it
consecutive small batches ([start, stop) each, ~5,000 rows in all) and writes each batch from
a slice of what it returned, so that vectorised work is done once per group instead of once
per file (xlsx measures each file's column widths there, and renders row XML only where
polars has to; csv renders its files).

And `render(mapped, start, stop, options) -> bytes`: the file's bytes in memory. For a ZIP
export the service then writes those bytes to the batch file and hands the same bytes to the
ZIP being built alongside (both have it; xlsx packages small files from a skeleton)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..errors import UnknownFormat
from ..model import ExportOptions, MappedFrame
from . import csv as _csv
from . import xlsx as _xlsx


class Writer(Protocol):
    """Writes rows [start, stop) of a mapped frame to one file."""

    format: str  # request name: "excel" / "csv"
    extension: str  # "xlsx" / "csv"
    media_type: str

    def write(
        self, mapped: MappedFrame, start: int, stop: int, path: Path, options: ExportOptions
    ) -> None: ...


WRITERS: dict[str, Writer] = {_xlsx.format: _xlsx, _csv.format: _csv}


def get_writer(fmt: str) -> Writer:
    """The writer registered for `fmt`, or UnknownFormat."""
    try:
        return WRITERS[fmt]
    except KeyError:
        allowed = ", ".join(WRITERS)
        raise UnknownFormat(
            f"Unsupported format '{fmt}'. Use one of: {allowed}",
            details={"format": fmt, "allowed": list(WRITERS)},
        ) from None
