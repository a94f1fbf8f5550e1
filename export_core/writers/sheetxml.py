"""Worksheet row XML rendered in bulk with polars: the cells xlsxwriter would write, per block.

xlsxwriter spends ~0.1 ms per cell in Python (about 7 s for 50,000 x 15 cells). This module
builds the same `<row><c>...</c></row>` text for a whole block of rows with polars string
expressions, and the xlsx writer appends it to the worksheet's constant_memory row stream.
Cells follow xlsxwriter's `_write_cell` in constant_memory mode:

* numbers `<c r="A2"><v>12</v></c>`, with `s="N"` (the Format's xf index) for money, dates and
  datetimes; dates and datetimes as Excel 1900-system serials, datetimes cut to whole seconds,
  including xlsxwriter's 1900-01-01 and 1900-leap-year quirks; dates before 1900 as text.
* floats are spelt shortest-round-trip (polars), so the stored double is exactly the frame's;
  xlsxwriter's `%.16G` can lose the 17th digit. Integral money drops ".0" as `%G` does.
* text as inline strings: cut at 32,767 characters (then UTF-16 units), `_xHHHH_` escapes for
  control characters (and for literal `_xHHHH_` text), `& < >` escaped, `xml:space="preserve"`
  when the text starts or ends with whitespace. Empty text and nulls write no cell at all.
* NaN / inf money is written as text ("nan", "inf", "-inf"); where a typed value is null, the
  raw text kept for it (see export_core.model) is written as text.

The one deliberate difference: text that looks like `<r>...</r>` is escaped like any other text,
where xlsxwriter would paste it into the file unescaped as rich-text XML.

export_core.writers.sheetnative writes the same bytes with a C extension (export_core/
_sheetrows.c) wherever it can, and declines the rest: this module is the reference its tests
compare with, and the fallback for whatever it declines."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from xlsxwriter.utility import _utf16_len, _utf16_truncate, xl_col_to_name

from ..catalog import Column
from ..model import EXCEL_MAX_CELL_CHARS, raw_column

# Days from Excel's 1900 epoch (1899-12-31) to the Unix epoch, and its seconds.
EPOCH_DAYS = 25_568
EPOCH_SECONDS = EPOCH_DAYS * 86_400
FIRST_EXCEL_DAY = 1  # 1900-01-01; earlier dates are written as text
LEAP_BUG_AFTER = 59  # Excel counts a 29 Feb 1900 that never was: serials above 59 shift by 1
CONTROL_ESCAPES = {
    chr(c): f"_x{c:04X}_" for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0xFFFE, 0xFFFF)
}
XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
TEXT_ESCAPES = {**CONTROL_ESCAPES, **XML_ESCAPES}
_LITERAL_ESCAPE = r"(_x[0-9a-fA-F]{4}_)"  # text that reads like an escape gets its "_" escaped
_EDGE_SPACE = r"^\s|\s$"
_NEEDS_ESCAPE = r"[&<>\x00-\x08\x0B-\x1F\x{FFFE}\x{FFFF}]|_x[0-9a-fA-F]{4}_"
ROW_COLUMN = "\x00row"
XML_COLUMN = "\x00xml"
ROW_NUMBER = "\x00row_number"
EXCEL_EPOCH = date(1900, 1, 1)
_UTF16_CHECK_CHARS = EXCEL_MAX_CELL_CHARS // 2  # shorter text cannot exceed the limit


class UnsupportedColumn(TypeError):
    """A frame column whose dtype the bulk renderer does not know (the writer falls back)."""


@dataclass(frozen=True)
class CellStyles:
    """xf indices of the number formats, by column kind ("money", "date", "datetime")."""

    money: int
    date: int
    datetime: int


@dataclass(frozen=True)
class ColumnFacts:
    """What one block's column holds, so that the expressions skip work it does not need."""

    longest: int = 0  # characters of the longest text (text and raw columns)
    has_empty: bool = False  # any "" (no cell, like null)
    needs_escape: bool = False  # any & < > control character or literal _xHHHH_
    has_raw: bool = False  # raw text kept for unparseable values
    raw_escape: bool = False
    has_special: bool = False  # NaN/inf money, or a date before 1900


def _text_fact_exprs(name: str) -> list[pl.Expr]:
    text = pl.col(name)
    return [
        text.str.len_chars().max().fill_null(0).alias(f"{name}\x00longest"),
        (text.str.len_bytes().min() == 0).fill_null(False).alias(f"{name}\x00empty"),
        text.str.contains(_NEEDS_ESCAPE).any().alias(f"{name}\x00escape"),
    ]


def _fact_exprs(column: Column, schema: pl.Schema) -> list[pl.Expr]:
    name, dtype = column.field, schema[column.field]
    if dtype == pl.String:
        return _text_fact_exprs(name)
    exprs = []
    if dtype.is_float():
        exprs.append((~pl.col(name).is_finite()).any().alias(f"{name}\x00special"))
    elif dtype == pl.Date:
        exprs.append((pl.col(name) < EXCEL_EPOCH).any().alias(f"{name}\x00special"))
    raw = raw_column(name)
    if raw in schema and schema[raw] == pl.String:
        exprs.append(pl.col(raw).is_not_null().any().alias(f"{name}\x00raw"))
        exprs += _text_fact_exprs(raw)
    return exprs


def block_facts(frame: pl.DataFrame, columns: Sequence[Column]) -> list[ColumnFacts]:
    """The facts of every column of `frame`, gathered in one vectorised pass."""
    schema = frame.schema
    exprs = [e for column in columns for e in _fact_exprs(column, schema)]
    got = frame.select(exprs).row(0, named=True) if exprs else {}
    facts = []
    for column in columns:
        name, raw = column.field, raw_column(column.field)
        has_raw = bool(got.get(f"{name}\x00raw"))
        text = raw if has_raw else name
        facts.append(
            ColumnFacts(
                longest=int(got.get(f"{text}\x00longest") or 0),
                has_empty=bool(got.get(f"{text}\x00empty")),
                needs_escape=bool(got.get(f"{name}\x00escape")),
                has_raw=has_raw,
                raw_escape=bool(got.get(f"{raw}\x00escape")),
                has_special=bool(got.get(f"{name}\x00special")),
            )
        )
    return facts


def _text_cell(letter: str, text: pl.Expr, escape: bool) -> pl.Expr:
    """An inline-string cell of already truncated, non-empty text (null stays null)."""
    if escape:
        text = text.str.replace_all(_LITERAL_ESCAPE, "_x005F${1}").str.replace_many(TEXT_ESCAPES)
    # Leading/trailing whitespace (Unicode White_Space, as Python's \s once control
    # characters are escaped) needs xml:space="preserve"; trimming only looks at the ends.
    edge_space = text.str.strip_chars().str.len_bytes() != text.str.len_bytes()
    open_text = (
        pl.when(edge_space)
        .then(pl.lit('" t="inlineStr"><is><t xml:space="preserve">'))
        .otherwise(pl.lit('" t="inlineStr"><is><t>'))
    )
    return pl.concat_str(
        pl.lit('<c r="' + letter), pl.col(ROW_COLUMN), open_text, text, pl.lit("</t></is></c>")
    )


def _number_cell(letter: str, number: pl.Expr, style: int | None) -> pl.Expr:
    """A number cell of already formatted number text (null stays null)."""
    head = '" s="' + str(style) + '"><v>' if style else '"><v>'
    return pl.concat_str(
        pl.lit('<c r="' + letter), pl.col(ROW_COLUMN), pl.lit(head), number, pl.lit("</v></c>")
    )


def _float_text(value: pl.Expr) -> pl.Expr:
    """Shortest round-trip spelling; integral values without ".0" (as xlsxwriter's %G)."""
    return value.cast(pl.String).str.strip_suffix(".0")


def _non_finite_text(value: pl.Expr) -> pl.Expr:
    """NaN / inf as Python's str() spells them, which is what the writer showed before."""
    return (
        pl.when(value.is_nan())
        .then(pl.lit("nan"))
        .when(value > 0)
        .then(pl.lit("inf"))
        .otherwise(pl.lit("-inf"))
    )


def _date_serial(value: pl.Expr) -> pl.Expr:
    days = value.cast(pl.Int32).cast(pl.Int64) + EPOCH_DAYS
    return pl.when(days > LEAP_BUG_AFTER).then(days + 1).otherwise(days)


def _datetime_serial(value: pl.Expr) -> pl.Expr:
    """xlsxwriter's serial of a datetime cut to whole seconds (floor, like replace())."""
    seconds = value.dt.epoch("us").floordiv(1_000_000) + EPOCH_SECONDS
    days = seconds.floordiv(86_400)
    whole_days = days.cast(pl.Float64)
    # Divided by a column, not by the scalar 86400.0: polars turns division by a scalar into
    # multiplication by its reciprocal, which is off by one ulp for a third of all times.
    day_seconds = (days * 0 + 86_400).cast(pl.Float64)
    serial = whole_days + (seconds - days * 86_400).cast(pl.Float64) / day_seconds
    # xlsxwriter subtracts a day for datetimes on 1900-01-01 (its time-only workaround).
    serial = pl.when(days == 1).then(serial - whole_days).otherwise(serial)
    return pl.when(serial > LEAP_BUG_AFTER).then(serial + 1).otherwise(serial)


def _iso_date(value: pl.Expr) -> pl.Expr:
    """yyyy-mm-dd with a zero-padded four-digit year (date.isoformat())."""
    return pl.concat_str(value.dt.year().cast(pl.String).str.zfill(4), value.dt.strftime("-%m-%d"))


def _typed_cell(
    column: Column, dtype: pl.DataType, ref: str, styles: CellStyles, special: bool
) -> pl.Expr:
    """The cell of a typed (non-String) value, or null where the value is null."""
    value = pl.col(column.field)
    if dtype.is_integer():
        return _number_cell(ref, value.cast(pl.String), None)
    if dtype.is_float():
        style = styles.money if column.kind == "money" else None
        number = _number_cell(ref, _float_text(value), style)
        if not special:
            return number
        text = _text_cell(ref, _non_finite_text(value), False)
        return pl.when(value.is_finite()).then(number).otherwise(text)
    if dtype == pl.Date:
        serial = _date_serial(value)
        number = _number_cell(ref, serial.cast(pl.String), styles.date)
        if not special:
            return number
        text = _text_cell(ref, _iso_date(value), False)
        return pl.when(serial >= FIRST_EXCEL_DAY).then(number).otherwise(text)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return _number_cell(ref, _float_text(_datetime_serial(value)), styles.datetime)
    raise UnsupportedColumn(f"column {column.field!r} has dtype {dtype}")


def _usable_text(name: str, longest: int, has_empty: bool) -> pl.Expr:
    """The column's text with "" as null and cut at Excel's limit (only where needed)."""
    text = pl.col(name)
    if longest > EXCEL_MAX_CELL_CHARS:
        text = text.str.slice(0, EXCEL_MAX_CELL_CHARS)
    return pl.when(pl.col(name) != "").then(text) if has_empty else text


@functools.lru_cache(maxsize=256)
def cell_expr(
    column: Column, index: int, dtype: pl.DataType, styles: CellStyles, facts: ColumnFacts
) -> pl.Expr:
    """One column's `<c>` elements (null where the sheet has no cell); cached, as building
    expressions costs more than running them on a small block."""
    ref = xl_col_to_name(index)
    if dtype == pl.String:
        text = _usable_text(column.field, facts.longest, facts.has_empty)
        return _text_cell(ref, text, facts.needs_escape).alias(column.field)
    typed = _typed_cell(column, dtype, ref, styles, facts.has_special)
    if not facts.has_raw:
        return typed.alias(column.field)
    raw = _usable_text(raw_column(column.field), facts.longest, facts.has_empty)
    raw_cell = _text_cell(ref, raw, facts.raw_escape)
    present = pl.col(column.field).is_not_null()
    return pl.when(present).then(typed).otherwise(raw_cell).alias(column.field)


def fix_utf16_lengths(frame: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """Cut text longer than 32,767 UTF-16 units (emoji count twice) as xlsxwriter does, in
    the columns `names` (those holding text long enough to matter)."""
    updates = []
    for name in names:
        series = frame.get_column(name)
        long_rows = (series.str.len_chars() > _UTF16_CHECK_CHARS).arg_true()
        values = series.gather(long_rows).str.slice(0, EXCEL_MAX_CELL_CHARS).to_list()
        fixed = [
            _utf16_truncate(v, EXCEL_MAX_CELL_CHARS) if _utf16_len(v) > EXCEL_MAX_CELL_CHARS else v
            for v in values
        ]
        updates.append(series.scatter(long_rows, pl.Series(name, fixed, dtype=pl.String)))
    return frame.with_columns(updates) if updates else frame


@dataclass(frozen=True)
class RenderedRows:
    """A block's `<row>` elements, one per frame row that has cells (column XML_COLUMN, or
    already their UTF-8 XML back to back: the C renderer's, export_core.writers.sheetnative),
    and the last 0-based sheet row among them (-1 when no row has a cell)."""

    rows: pl.DataFrame | bytes | memoryview
    last_row: int

    @classmethod
    def of(cls, rendered: pl.DataFrame) -> RenderedRows:
        """From `render_xml` output (or a slice of it): the rows that have cells."""
        xml = rendered.get_column(XML_COLUMN)
        # Usually every row has a cell: a slice is then zero-copy, a filter would copy the XML.
        rows = rendered if xml.null_count() == 0 else rendered.filter(xml.is_not_null())
        last = int(rows.get_column(ROW_NUMBER)[-1]) - 1 if rows.height else -1
        return cls(rows.select(XML_COLUMN), last)

    def write_to(self, binary: Any) -> None:
        """Append the rows' UTF-8 XML, back to back, to the binary file object `binary`."""
        if not isinstance(self.rows, pl.DataFrame):
            if len(self.rows):
                binary.write(self.rows)
            return
        if self.rows.height:
            # A one-column, unquoted, unterminated "CSV" is exactly the concatenated XML,
            # written from Rust without building one big Python string.
            self.rows.write_csv(
                binary, include_header=False, quote_style="never", line_terminator=""
            )


def sheet_rows(first_row: int, height: int) -> pl.Series:
    """1-based sheet row numbers for `height` rows from 0-based sheet row `first_row` on."""
    return pl.int_range(first_row + 1, first_row + 1 + height, dtype=pl.Int64, eager=True)


def render_xml(
    frame: pl.DataFrame, columns: Sequence[Column], row_numbers: pl.Series, styles: CellStyles
) -> pl.DataFrame:
    """For every row of `frame`: its 1-based sheet row (`row_numbers`, column ROW_NUMBER) and
    its `<row>` element (column XML_COLUMN), null where the row has no cell at all (such rows
    are left out of the sheet, as xlsxwriter leaves them out)."""
    if frame.height == 0:
        return pl.DataFrame(schema={ROW_NUMBER: pl.Int64, XML_COLUMN: pl.String})
    facts = block_facts(frame, columns)
    long_text = [
        name
        for column, fact in zip(columns, facts, strict=True)
        if fact.longest > _UTF16_CHECK_CHARS
        for name in (column.field, raw_column(column.field))
        if name in frame.columns and frame.schema[name] == pl.String
    ]
    frame = fix_utf16_lengths(frame, long_text)
    schema = frame.schema
    cells = [
        cell_expr(column, index, schema[column.field], styles, fact)
        for index, (column, fact) in enumerate(zip(columns, facts, strict=True))
    ]
    # Null cells drop out of the concatenation; a row left with no cell ends in '"></row>'.
    row = pl.concat_str(
        [pl.lit('<row r="'), pl.col(ROW_COLUMN), pl.lit('">'), *cells, pl.lit("</row>")],
        ignore_nulls=True,
    )
    return (
        frame.lazy()
        .with_columns(row_numbers.alias(ROW_NUMBER))
        .with_columns(pl.col(ROW_NUMBER).cast(pl.String).alias(ROW_COLUMN))
        .select(pl.col(ROW_NUMBER), row.alias(XML_COLUMN))
        .with_columns(
            pl.when(~pl.col(XML_COLUMN).str.ends_with('"></row>')).then(pl.col(XML_COLUMN))
        )
        .collect()
    )


def render_rows(
    frame: pl.DataFrame, columns: Sequence[Column], first_row: int, styles: CellStyles
) -> RenderedRows:
    """`<row>` elements for every row of `frame`, the first one being 0-based sheet row
    `first_row`; rows without any cell are left out."""
    numbers = sheet_rows(first_row, frame.height)
    return RenderedRows.of(render_xml(frame, columns, numbers, styles))
