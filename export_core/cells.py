"""Reading a MappedFrame back as cells: for writers (typed values) and previews (display text).

Both read the frame column-wise (`Series.to_list()` on a slice) and zip the columns into rows,
which is an order of magnitude faster than touching polars once per cell."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import polars as pl

from .catalog import Column
from .model import CellValue, MappedFrame, raw_column

BLOCK_ROWS = 8_192  # rows materialised as Python objects at a time; bounds memory on big frames


def _column_values(frame: pl.DataFrame, field: str) -> list[Any]:
    """One column's cells: typed value, else the raw text kept for it, else None."""
    series = frame.get_column(field)
    values = series.to_list()
    if series.dtype == pl.Float64 and not series.is_finite().fill_null(True).all():
        # NaN/inf cannot be an Excel number; keep them visible as text rather than lose them
        values = [v if v is None or math.isfinite(v) else str(v) for v in values]
    raw_name = raw_column(field)
    if raw_name in frame.columns:
        raw = frame.get_column(raw_name)
        if raw.null_count() < raw.len():
            values = [r if v is None else v for v, r in zip(values, raw.to_list(), strict=True)]
    return values


def _bounds(mapped: MappedFrame, start: int, stop: int | None) -> tuple[int, int]:
    height = mapped.height
    stop = height if stop is None else min(stop, height)
    start = max(0, min(start, stop))
    return start, stop


def iter_cells(
    mapped: MappedFrame, start: int = 0, stop: int | None = None
) -> Iterator[tuple[CellValue, ...]]:
    """Rows [start, stop) as tuples of cell values in template order: typed value, else the raw
    text kept for an unparseable value, else None (empty cell)."""
    start, stop = _bounds(mapped, start, stop)
    fields = mapped.template.fields
    for block_start in range(start, stop, BLOCK_ROWS):
        block = mapped.frame.slice(block_start, min(BLOCK_ROWS, stop - block_start))
        yield from zip(*(_column_values(block, f) for f in fields), strict=True)


def format_money(value: float) -> str:
    """Money as Excel's `#,##0.00` shows it: 1,500.00."""
    return f"{value:,.2f}"


def format_date(value: date) -> str:
    """A date as yyyy-mm-dd (zero-padded years too, unlike strftime on Linux)."""
    return value.isoformat()


def format_datetime(value: datetime) -> str:
    """A datetime as yyyy-mm-dd hh:mm:ss (Excel's format shows no fractions either)."""
    return value.isoformat(sep=" ", timespec="seconds")


def _display_formatter(column: Column) -> Callable[[CellValue], str]:
    """How one column's typed values are shown; raw text and None pass through as text."""

    def show(value: CellValue) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, datetime):
            return format_datetime(value)
        if isinstance(value, date):
            return format_date(value)
        if column.kind == "money" and isinstance(value, int | float):
            return format_money(value)
        return str(value)

    return show


def display_rows(mapped: MappedFrame, offset: int = 0, limit: int = 100) -> list[dict[str, str]]:
    """Rows as the user will see them (dates yyyy-mm-dd, money 1,500.00), keyed by header."""
    if limit <= 0:
        return []
    columns = mapped.template.columns
    headers = [c.header for c in columns]
    shows = [_display_formatter(c) for c in columns]
    return [
        {h: show(v) for h, show, v in zip(headers, shows, row, strict=True)}
        for row in iter_cells(mapped, offset, offset + limit)
    ]
