"""Frame + Template -> MappedFrame (typed columns, translated statuses) + QualityReport.
See export_core.model for the mapped frame contract."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import polars as pl

from .catalog import Catalog, Template
from .model import CellValue, MappedFrame


def map_frame(
    frame: pl.DataFrame, template: Template, catalog: Catalog | None = None
) -> MappedFrame:
    """Map a reader's frame onto `template` and report on its quality."""
    raise NotImplementedError


def iter_cells(
    mapped: MappedFrame, start: int = 0, stop: int | None = None
) -> Iterator[tuple[CellValue, ...]]:
    """Rows [start, stop) as tuples of cell values in template order: typed value, else the raw
    text kept for an unparseable value, else None (empty cell)."""
    raise NotImplementedError


def display_rows(mapped: MappedFrame, offset: int = 0, limit: int = 100) -> list[dict[str, str]]:
    """Rows as the user will see them (dates yyyy-mm-dd, money 1,500.00), keyed by header."""
    raise NotImplementedError


def detect_export_type(columns: Iterable[str], catalog: Catalog | None = None) -> str | None:
    """The data type whose fields best match `columns`, or None when nothing matches."""
    raise NotImplementedError
