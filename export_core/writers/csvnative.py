"""CSV files rendered by the C extension export_core/_sheetrows.c (its `csv`), where it applies.

The polars path (csv.output_frame: neutralising text and building raw-text fallbacks per
group, then `write_csv` per file into a BytesIO and a copy out of it) cost ~70 ms of CPU for
the 50 files of a 50,000-row `complete` export. The C renderer reads the group's typed and
raw-text columns through the Arrow C stream interface (as the sheet rows' renderer) and writes
every file of the group, BOM and header included, into one bytes object without the GIL; each
file is a zero-copy memoryview of it (its first 3 bytes, the BOM, left out unless asked for).
It writes exactly the bytes of the polars path, which stays the reference and the fallback:
`render` answers None whenever a column needs what the C code does not reproduce (see its
comment in _sheetrows.c: floats other than money, integers in money, date or datetime columns,
dates outside the years 1 to 9999, money of 2^64 or more, time zones, unknown dtypes) or when
the extension is not built."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from ..catalog import Column
from ..model import ExportOptions
from .sheetnative import (
    KIND_DATE,
    KIND_DATETIME,
    KIND_FLOAT,
    KIND_INT,
    KIND_TEXT,
    available,
    column_streams,
)

try:  # built by `make` (export_core/_build.py); without it, polars writes alone
    from .. import _sheetrows
except ImportError:  # pragma: no cover - exercised where the extension is not built
    _sheetrows = None  # type: ignore[assignment]

__all__ = ["BOM", "PreparedCsv", "available", "header", "render"]

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class PreparedCsv:
    """One CSV file rendered ahead by the csv writer's `prepare`: how many frame rows it holds
    (the file's slice of the frame must be exactly these rows) and its bytes, BOM first."""

    height: int
    data: memoryview

    def content(self, options: ExportOptions) -> memoryview:
        """The file's bytes, with the BOM only if `options` ask for it."""
        return self.data if options.csv_bom else self.data[len(BOM) :]


def _kind(column: Column, dtype: pl.DataType) -> int | None:
    """The C renderer's kind for a column of `dtype`, or None (declined). Only dtypes whose
    text csv.output_frame writes alike whether or not the group holds raw text: an integer
    in a money column, say, is "5" without raw text in the group and "5.00" with."""
    if dtype == pl.String:
        return KIND_TEXT
    if dtype in (pl.Int64, pl.Int32) and column.kind not in ("money", "date", "datetime"):
        return KIND_INT
    if dtype == pl.Float64 and column.kind == "money":
        return KIND_FLOAT
    if dtype == pl.Date and column.kind == "date":
        return KIND_DATE
    if dtype == pl.Datetime("us", None) and column.kind == "datetime":
        return KIND_DATETIME
    return None


@functools.lru_cache(maxsize=64)
def header(headers: tuple[str, ...]) -> bytes:
    """The header line polars writes for `headers` (quoted where needed), without BOM."""
    buffer = io.BytesIO()
    pl.DataFrame(schema=dict.fromkeys(headers, pl.String)).write_csv(
        buffer,
        include_header=True,
        separator=",",
        line_terminator="\r\n",
        quote_char='"',
        quote_style="necessary",
    )
    return buffer.getvalue()


def render(
    frame: pl.DataFrame, columns: Sequence[Column], sizes: Sequence[int]
) -> list[PreparedCsv] | None:
    """The CSV files of consecutive rows of `frame` (`sizes`: rows per file, all of the frame),
    each with BOM and header; None where the polars path has to write them (see the module
    docstring)."""
    if _sheetrows is None or not columns or sum(sizes) != frame.height:
        return None
    schema = frame.schema
    specs: list[tuple[int, object, object | None]] = []
    for column in columns:
        dtype = schema.get(column.field)
        kind = None if dtype is None else _kind(column, dtype)
        if kind is None:
            return None
        specs.append((kind, *column_streams(frame, column.field, kind)))
    head = header(tuple(c.header for c in columns))
    got = _sheetrows.csv(specs, list(sizes), head)
    if got is None:
        return None
    data, ends = got
    whole = memoryview(data)
    files, begin = [], 0
    for size, end in zip(sizes, ends, strict=True):
        files.append(PreparedCsv(size, whole[begin:end]))
        begin = end
    return files
