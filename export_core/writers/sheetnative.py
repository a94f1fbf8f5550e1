"""The rows of sheetxml rendered by the C extension export_core/_sheetrows.c, where it applies.

`render_xml` (polars string expressions) costs ~0.19 s CPU for the 41 MB of a 50,000-row
`complete` export, plus the churn of polars' string buffers and a copy into bytes when the
rows are written out. The C renderer reads the block's columns through the Arrow C stream
interface, writes every file's rows into one bytes object without the GIL, and hands each
file a zero-copy memoryview of it. It produces exactly the bytes of the polars path, which
stays the reference and the fallback: `render` answers None (the caller renders with polars)
whenever the block needs anything the C code does not reproduce (see its header comment:
escapes other than & < >, which it writes as entities; over-long text; NaN/inf; dates before
1900; floats outside [2^-10, 2^53) or halfway between two shortest spellings; unknown dtypes)
or when the extension is not built."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from xlsxwriter.utility import xl_col_to_name

from ..catalog import Column
from ..model import EXCEL_MAX_ROWS, raw_column
from . import sheetxml
from .sheetxml import CellStyles, RenderedRows

try:  # built by `make` (Makefile: export_core/_sheetrows.c); without it, polars renders alone
    from .. import _sheetrows
except ImportError:  # pragma: no cover - exercised where the extension is not built
    _sheetrows = None  # type: ignore[assignment]

KIND_INT, KIND_FLOAT, KIND_DATE, KIND_DATETIME, KIND_TEXT = range(5)


def available() -> bool:
    """Whether the C extension is built (and imports)."""
    return _sheetrows is not None


def _kind(dtype: pl.DataType) -> int | None:
    if dtype == pl.String:
        return KIND_TEXT
    if dtype in (pl.Int64, pl.Int32):
        return KIND_INT
    if dtype == pl.Float64:
        return KIND_FLOAT
    if dtype == pl.Date:
        return KIND_DATE
    if dtype == pl.Datetime("us", None):
        return KIND_DATETIME
    return None


def _kinds(frame: pl.DataFrame, columns: Sequence[Column]) -> list[int] | None:
    """The C renderer's kind of each of `columns` in `frame`, or None where it cannot render
    them (not built, no columns, a column missing or of a dtype it does not read)."""
    if _sheetrows is None or not columns:
        return None
    schema = frame.schema
    kinds = []
    for column in columns:
        dtype = schema.get(column.field)
        kind = None if dtype is None else _kind(dtype)
        if kind is None:
            return None
        kinds.append(kind)
    return kinds


def takes(frame: pl.DataFrame, columns: Sequence[Column]) -> bool:
    """Whether the C renderer is built and renders the dtypes of `columns` in `frame` (it may
    still decline a block for its values: `render` then answers None)."""
    return _kinds(frame, columns) is not None


def _style(column: Column, kind: int, styles: CellStyles) -> int:
    if kind == KIND_FLOAT:
        return styles.money if column.kind == "money" else 0
    return {KIND_DATE: styles.date, KIND_DATETIME: styles.datetime}.get(kind, 0)


def stream(series: pl.Series) -> object:
    """The series' Arrow C stream capsule. Renamed first: polars cannot export a name with a
    NUL in it (the raw-text columns' names), and aborts the process trying."""
    return series.alias("v").__arrow_c_stream__()


def column_streams(frame: pl.DataFrame, field: str, kind: int) -> tuple[object, object | None]:
    """The Arrow streams of a column of `kind`: its values, and for a typed column the raw
    text kept where a value did not parse (None where the frame has no such column)."""
    raw = raw_column(field)
    has_raw = kind != KIND_TEXT and frame.schema.get(raw) == pl.String
    return stream(frame.get_column(field)), stream(frame.get_column(raw)) if has_raw else None


def render(
    frame: pl.DataFrame,
    columns: Sequence[Column],
    files: Sequence[tuple[int, int]],
    styles: CellStyles,
) -> list[RenderedRows] | None:
    """The rows of consecutive files of `frame`, each given as (rows, 0-based sheet row of its
    first row): per file, its rows' XML (a memoryview of one bytes object for all of them)
    and its last sheet row with a cell, as `sheetxml.render_rows` gives them; None where the
    polars path has to render the block (see the module docstring)."""
    kinds = _kinds(frame, columns)
    if kinds is None or sum(n for n, _ in files) != frame.height:
        return None
    specs: list[tuple[int, object, object | None, str, int]] = []
    for index, (column, kind) in enumerate(zip(columns, kinds, strict=True)):
        values, raw_text = column_streams(frame, column.field, kind)
        specs.append(
            (
                kind,
                values,
                raw_text,
                xl_col_to_name(index),
                _style(column, kind, styles),
            )
        )
    got = _sheetrows.render(specs, [(n, first + 1) for n, first in files])
    if got is None:
        return None
    data, pieces = got
    whole = memoryview(data)
    rendered, begin = [], 0
    for end, last in pieces:
        rendered.append(RenderedRows(whole[begin:end], last - 1))
        begin = end
    return rendered


def render_rows(
    frame: pl.DataFrame, columns: Sequence[Column], first_row: int, styles: CellStyles
) -> RenderedRows:
    """`sheetxml.render_rows`, by the C renderer where it applies (same bytes)."""
    if frame.height > 0 and first_row + frame.height <= EXCEL_MAX_ROWS:
        native = render(frame, columns, [(frame.height, first_row)], styles)
        if native is not None:
            return native[0]
    return sheetxml.render_rows(frame, columns, first_row, styles)
