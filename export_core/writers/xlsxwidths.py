"""Column widths of the Excel writer: the header or the longest display text of a column, plus
room for the autofilter button, between MIN_COLUMN_WIDTH and MAX_COLUMN_WIDTH.

Measured per file. The xlsx `prepare` step measures every file of a group in one grouped
query (`file_widths`) and the prepared rows carry the result, so that a file written from
them is not measured again (one polars query per group instead of one per file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from ..catalog import Column
from ..cells import format_money
from ..model import MappedFrame, file_index, raw_column
from .sheetxml import ROW_NUMBER

MAX_COLUMN_WIDTH = 50
MIN_COLUMN_WIDTH = 8
WIDTH_PADDING = 2  # room for the autofilter button beside the header text
FIXED_WIDTHS = {"date": 10, "datetime": 19}
WIDTHS_COLUMN = "\x00widths"  # prepared rows: their file's widths
FILE_ROWS_COLUMN = "\x00file_rows"  # prepared rows: their file's row count
_FILE = "\x00file"


def _longest(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String).str.len_chars().max().alias(name + "\x00len")


def _width_exprs(column: Column, columns: Sequence[str]) -> list[pl.Expr]:
    """The aggregations `_data_width` needs for one column."""
    name = column.field
    if column.kind in FIXED_WIDTHS:
        exprs = [pl.col(name).is_not_null().any().alias(name + "\x00any")]
    elif column.kind == "money":
        exprs = [
            pl.col(name).min().alias(name + "\x00min"),
            pl.col(name).max().alias(name + "\x00max"),
        ]
    else:
        exprs = [_longest(name)]
    raw_name = raw_column(name)
    return [*exprs, _longest(raw_name)] if raw_name in columns else exprs


def _data_width(column: Column, got: dict[str, Any]) -> int:
    """Widest display text of one column, from the aggregations of `_width_exprs`."""
    name = column.field
    if column.kind in FIXED_WIDTHS:
        width = FIXED_WIDTHS[column.kind] if got[name + "\x00any"] else 0
    elif column.kind == "money":
        extremes = [
            v for v in (got[name + "\x00min"], got[name + "\x00max"]) if isinstance(v, int | float)
        ]
        width = max((len(format_money(v)) for v in extremes), default=0)
    else:
        width = int(got[name + "\x00len"] or 0)
    return max(width, int(got.get(raw_column(name) + "\x00len") or 0))


def _widths(columns: Sequence[Column], got: dict[str, Any]) -> list[int]:
    widths = []
    for column in columns:
        text = max(len(column.header), _data_width(column, got))
        widths.append(min(max(text + WIDTH_PADDING, MIN_COLUMN_WIDTH), MAX_COLUMN_WIDTH))
    return widths


def column_widths(mapped: MappedFrame, start: int, stop: int) -> list[int]:
    """Widths in characters for rows [start, stop): header or longest value, plus padding,
    between MIN_COLUMN_WIDTH and MAX_COLUMN_WIDTH. Measured in one vectorised pass, unless
    the rows are exactly one file of a prepared group, which carries them (`file_widths`)."""
    frame = mapped.frame.slice(start, max(0, stop - start))
    carried = _carried(frame)
    if carried is not None:
        return carried
    columns = mapped.template.columns
    exprs = [e for column in columns for e in _width_exprs(column, frame.columns)]
    return _widths(columns, frame.select(exprs).row(0, named=True))


def file_widths(
    frame: pl.DataFrame, columns: Sequence[Column], sizes: Sequence[int]
) -> pl.DataFrame:
    """For consecutive files of `sizes` rows (all of `frame`'s rows, each size > 0): every
    row's file widths (WIDTHS_COLUMN, what `column_widths` gives for that file) and file row
    count (FILE_ROWS_COLUMN), measured for all files in one grouped query."""
    index = file_index(sizes)
    exprs = [e for column in columns for e in _width_exprs(column, frame.columns)]
    got = (
        frame.with_columns(index.alias(_FILE))
        .group_by(_FILE, maintain_order=True)
        .agg(exprs)
        .rows(named=True)
    )
    widths = pl.Series(WIDTHS_COLUMN, [_widths(columns, g) for g in got], pl.List(pl.Int32))
    rows = pl.Series(FILE_ROWS_COLUMN, list(sizes), pl.Int32)
    return pl.DataFrame([widths.gather(index), rows.gather(index)])


def _carried(frame: pl.DataFrame) -> list[int] | None:
    """The widths `file_widths` measured, when `frame` is exactly one prepared file."""
    if WIDTHS_COLUMN not in frame.columns or frame.height == 0:
        return None
    numbers, sizes = frame.get_column(ROW_NUMBER), frame.get_column(FILE_ROWS_COLUMN)
    whole = numbers[0] == 2 and sizes[0] == sizes[-1] == frame.height  # from its first row
    return list(frame.get_column(WIDTHS_COLUMN)[0]) if whole else None
