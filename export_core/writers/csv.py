"""The CSV writer: UTF-8 (optional BOM), RFC 4180 quoting, CRLF line ends, template headers.

Dates yyyy-mm-dd, datetimes yyyy-mm-dd HH:MM:SS, money as a plain number with two decimals
("1500.00", no thousands separator), integers plain. A text cell starting with = + - @ TAB or
CR gets a leading apostrophe so that spreadsheet programs do not run it as a formula; typed
numbers and dates are never touched, while raw text kept for an unparseable value is text.

The whole slice is written by polars in one vectorised call (about 15x faster than the csv
module at 50,000 rows); its "necessary" quoting is RFC 4180's: a field is quoted when it holds
the separator, a quote or a line break, and quotes inside are doubled. The empty string is
written as "" and null as nothing.

The service's `prepare` renders a group's files with the C extension instead where it applies
(writers.csvnative: the same bytes, straight from the typed and raw-text columns); this module
stays the reference and the fallback."""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path
from typing import BinaryIO

import polars as pl

from ..catalog import Column
from ..model import ExportOptions, MappedFrame, file_index, raw_column
from . import csvnative

format = "csv"  # the Writer protocol's attribute name
extension = "csv"
media_type = "text/csv; charset=utf-8"

DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_FORMULA_START = r"^[=+\-@\t\r]"  # FORMULA_PREFIXES as one anchored character class
PREPARED_PREFIX = "\x00csv:"  # names of the columns `prepare` built
PREPARED_FILE = "\x00csv_file"  # the row's file in MappedFrame.prepared (natively rendered)


def neutralise(text: pl.Expr) -> pl.Expr:
    """Prefix formula-like text with an apostrophe (spreadsheet formula injection guard)."""
    return pl.when(text.str.contains(_FORMULA_START)).then(pl.lit("'") + text).otherwise(text)


def _money_text(series: pl.Series) -> pl.Series:
    """Money as text with two decimals; NaN/inf shown as text rather than as a number."""
    return pl.Series(
        series.name,
        [None if v is None else f"{v:.2f}" if math.isfinite(v) else str(v) for v in series],
        dtype=pl.String,
    )


def _typed_text(column: Column, typed: pl.Expr) -> pl.Expr:
    """A typed column's values as text (not money: see _money_text)."""
    if column.kind == "date":
        return typed.dt.strftime(DATE_FORMAT)
    if column.kind == "datetime":
        return typed.dt.strftime(DATETIME_FORMAT)
    return typed.cast(pl.String)


def _typed_as_text(column: Column, series: pl.Series) -> pl.Series:
    if column.kind == "money":
        return _money_text(series)
    return series.to_frame().select(_typed_text(column, pl.col(series.name))).to_series()


def _output_column(column: Column, frame: pl.DataFrame) -> pl.Series:
    """One CSV column: neutralised text, or the typed values (with raw text where needed)."""
    series = frame.get_column(column.field)
    if series.dtype == pl.String:
        return frame.select(neutralise(pl.col(column.field))).to_series()
    raw_name = raw_column(column.field)
    raw = frame.get_column(raw_name) if raw_name in frame.columns else None
    has_raw = raw is not None and raw.null_count() < raw.len()
    non_finite = series.dtype.is_float() and not series.is_finite().fill_null(True).all()
    if not has_raw and not non_finite:
        return series  # typed: polars formats it with the writer options below
    if raw is None:
        raw = pl.Series([None] * series.len(), dtype=pl.String)
    text = pl.DataFrame({"typed": _typed_as_text(column, series), "raw": raw})
    return text.select(pl.coalesce("typed", neutralise(pl.col("raw")))).to_series()


def _needs_text(column: Column, frame: pl.DataFrame) -> bool:
    """Whether a typed column must be written as text (raw values or NaN/inf present)."""
    series = frame.get_column(column.field)
    raw_name = raw_column(column.field)
    if raw_name in frame.columns and frame.get_column(raw_name).null_count() < frame.height:
        return True
    return series.dtype.is_float() and not series.is_finite().fill_null(True).all()


def _text_expr(column: Column, schema: pl.Schema) -> pl.Expr | None:
    """A typed column that needs text, as one expression: `_output_column`'s text (typed value
    as text, else its raw text neutralised) for columns with raw text and no float values;
    None for the rest (money, NaN/inf), which `_output_column` formats in Python."""
    raw = raw_column(column.field)
    if column.kind == "money" or schema[column.field].is_float() or raw not in schema:
        return None
    return pl.coalesce(_typed_text(column, pl.col(column.field)), neutralise(pl.col(raw)))


def _column_expr(column: Column, schema: pl.Schema, frame: pl.DataFrame) -> pl.Expr | None:
    """The expression for one CSV column, or None if it must be built by `_output_column`."""
    if schema[column.field] == pl.String:
        return neutralise(pl.col(column.field))
    if not _needs_text(column, frame):
        return pl.col(column.field)  # typed: polars formats it with the writer options below
    return _text_expr(column, schema)


def output_frame(mapped: MappedFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """The CSV's columns (named by header) for the rows of `frame`: text neutralised, typed
    values kept typed for polars to format (or as text where raw text is kept), in one
    vectorised select; the rare money column holding raw text or NaN/inf is formatted in
    Python on its own."""
    columns = mapped.template.columns
    schema = frame.schema  # built anew on every access: once, not once per column
    exprs = [_column_expr(c, schema, frame) for c in columns]
    selected = [e.alias(c.header) for c, e in zip(columns, exprs, strict=True) if e is not None]
    out = frame.select(selected) if selected else pl.DataFrame(height=frame.height)
    for index, (column, expr) in enumerate(zip(columns, exprs, strict=True)):
        if expr is None:
            out = out.insert_column(index, _output_column(column, frame).alias(column.header))
    return out


def prepare(mapped: MappedFrame, bounds: list[tuple[int, int]]) -> MappedFrame:
    """Several consecutive files' rows ([start, stop) each), made ready in one pass (see
    service._batches_with_rows): each file's bytes rendered by the C extension (the rows then
    carry their file's index in MappedFrame.prepared), else the CSV columns built by polars;
    `write` and `render` recognise either on a slice that is exactly one file."""
    begin, end = bounds[0][0], bounds[-1][1]
    frame = mapped.frame.slice(begin, end - begin)
    sizes = [stop - start for start, stop in bounds]
    native = csvnative.render(frame, mapped.template.columns, sizes)
    if native is not None:
        files = file_index(sizes)
        carried = frame.with_columns(files.alias(PREPARED_FILE))
        return dataclasses.replace(mapped, frame=carried, prepared=tuple(native))
    out = output_frame(mapped, frame)
    prepared = out.rename({c: PREPARED_PREFIX + c for c in out.columns})
    return dataclasses.replace(mapped, frame=prepared)


def _prepared(mapped: MappedFrame, start: int, stop: int) -> csvnative.PreparedCsv | None:
    """The file `prepare` rendered natively, if rows [start, stop) of `mapped` are exactly it."""
    frame = mapped.frame
    if not mapped.prepared or PREPARED_FILE not in frame.columns or frame.height == 0:
        return None
    if start > 0 or stop < frame.height:
        return None
    files = frame.get_column(PREPARED_FILE)
    index = files[0]
    if files[-1] != index or not 0 <= index < len(mapped.prepared):
        return None
    prepared = mapped.prepared[index]
    if not isinstance(prepared, csvnative.PreparedCsv) or prepared.height != frame.height:
        return None
    return prepared


def _rows(mapped: MappedFrame, start: int, stop: int) -> pl.DataFrame:
    """The output columns of rows [start, stop), from `prepare`'s columns if it built them."""
    stop = min(stop, mapped.height)
    start = max(0, min(start, stop))
    frame = mapped.frame.slice(start, stop - start)
    headers = [PREPARED_PREFIX + c.header for c in mapped.template.columns]
    if frame.columns == headers:
        # Renaming in place: a slice is a new frame object, and DataFrame.rename (a lazy
        # query) costs ~10x more per file.
        frame.columns = list(mapped.template.headers)
        return frame
    return output_frame(mapped, frame)


def write(mapped: MappedFrame, start: int, stop: int, path: Path, options: ExportOptions) -> None:
    """Write rows [start, stop) of `mapped` to the CSV file `path`."""
    prepared = _prepared(mapped, start, stop)
    if prepared is not None:
        path.write_bytes(prepared.content(options))
        return
    _write_csv(_rows(mapped, start, stop), path, options, header=True)


def render(
    mapped: MappedFrame, start: int, stop: int, options: ExportOptions
) -> bytes | memoryview:
    """The bytes `write` writes for rows [start, stop), in memory: the service writes them to
    the batch file and hands the same bytes to the ZIP, which then need not read the file.
    Rendered by the C extension where it applies (a view of the group `prepare` rendered)."""
    prepared = _prepared(mapped, start, stop)
    if prepared is not None:
        return prepared.content(options)
    stop = min(stop, mapped.height)
    start = max(0, min(start, stop))
    rows = mapped.frame.slice(start, stop - start)  # polars' prepared columns: declined
    native = csvnative.render(rows, mapped.template.columns, [rows.height])
    if native is not None:
        return native[0].content(options)
    buffer = io.BytesIO()
    _write_csv(_rows(mapped, start, stop), buffer, options, header=True)
    return buffer.getvalue()


def append(block: MappedFrame, out: BinaryIO, options: ExportOptions, *, header: bool) -> None:
    """Append the rows of `block` to an open CSV file; `header` (and the BOM, if asked for)
    only with the first block. Blocks appended in order give what `write` gives for all."""
    _write_csv(output_frame(block, block.frame), out, options, header=header)


def _write_csv(
    out: pl.DataFrame, target: Path | BinaryIO, options: ExportOptions, *, header: bool
) -> None:
    out.write_csv(
        target,
        include_bom=options.csv_bom and header,
        include_header=header,
        separator=",",
        line_terminator="\r\n",
        quote_char='"',
        quote_style="necessary",
        null_value="",
        date_format=DATE_FORMAT,
        datetime_format=DATETIME_FORMAT,
        float_precision=2,  # money is the only float kind
    )
