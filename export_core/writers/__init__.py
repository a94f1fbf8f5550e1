"""Writers, one module per format, registered by format name ("excel", "csv")."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..model import ExportOptions, MappedFrame


class Writer(Protocol):
    """Writes rows [start, stop) of a mapped frame to one file."""

    format: str  # request name: "excel" / "csv"
    extension: str  # "xlsx" / "csv"
    media_type: str

    def write(
        self, mapped: MappedFrame, start: int, stop: int, path: Path, options: ExportOptions
    ) -> None: ...


WRITERS: dict[str, Writer] = {}


def get_writer(fmt: str) -> Writer:
    """The writer registered for `fmt`, or UnknownFormat."""
    raise NotImplementedError
