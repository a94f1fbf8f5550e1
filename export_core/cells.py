"""Reading a MappedFrame back as cells: for writers (typed values) and previews (display text)."""

from __future__ import annotations

from collections.abc import Iterator

from .model import CellValue, MappedFrame


def iter_cells(
    mapped: MappedFrame, start: int = 0, stop: int | None = None
) -> Iterator[tuple[CellValue, ...]]:
    """Rows [start, stop) as tuples of cell values in template order: typed value, else the raw
    text kept for an unparseable value, else None (empty cell)."""
    raise NotImplementedError


def display_rows(mapped: MappedFrame, offset: int = 0, limit: int = 100) -> list[dict[str, str]]:
    """Rows as the user will see them (dates yyyy-mm-dd, money 1,500.00), keyed by header."""
    raise NotImplementedError
