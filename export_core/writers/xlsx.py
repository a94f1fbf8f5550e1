"""The Excel writer (xlsxwriter, streaming): the seed's styled sheet with typed cells.

Header bold white on #366092, centred and frozen; autofilter; column widths computed from the
data before any row is written (constant_memory needs set_column first); dates, datetimes and
money as real numbers with display formats; strings are always strings (never formulas, links
or numbers); landscape, fit to one page wide, header row repeated on every printed page. A slice
longer than one sheet allows rolls over to "Name (2)", "Name (3)", ... each with its header."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.exceptions import FileCreateError
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from ..catalog import get_catalog
from ..cells import format_date, iter_cells
from ..errors import StorageError
from ..model import (
    EXCEL_MAX_CELL_CHARS,
    EXCEL_MAX_ROWS,
    CellValue,
    ExportOptions,
    MappedFrame,
)
from . import deflate, sheetnative, sheetxml, xlsxpack
from .rowstream import RowStream, discard_spill_files, package_in_memory, release_sheet_xml
from .xlsxrows import NUMBER_FORMATS, prepared_rows, styled_kinds, template_styles
from .xlsxrows import prepare as prepare  # the writer's optional `prepare` step
from .xlsxwidths import column_widths as column_widths  # per file; prepared groups carry them

format = "excel"  # the Writer protocol's attribute name
extension = "xlsx"
media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

MAX_SHEET_NAME = 31
HEADER_STYLE: dict[str, Any] = {
    "bold": True,
    "font_color": "#FFFFFF",
    "bg_color": "#366092",
    "align": "center",
    "valign": "vcenter",
    "border": 1,
}
WORKBOOK_OPTIONS: dict[str, Any] = {
    "constant_memory": True,
    "strings_to_formulas": False,  # "=HYPERLINK(...)" stays text: no formula injection
    "strings_to_urls": False,  # no links (and no 65,530-links-per-sheet limit)
    "strings_to_numbers": False,  # "007" stays "007"
}
EXCEL_EPOCH = date(1900, 1, 1)  # earlier dates cannot be Excel dates; they are written as text
# Rows rendered to XML at a time: ~5 MB of text for 15 columns, so memory stays flat however
# many rows a sheet has, while each polars call still gets enough rows to be efficient.
BLOCK_ROWS = 5_000
# Workbooks up to this many rows are packaged in memory (a few MB of XML) instead of through
# ~10 temp files each, from the template's skeleton (xlsxpack) where it applies: the seed's
# batch files (1,000-3,000 rows) all are.
IN_MEMORY_ROWS = 5_000
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\\x00-\x1f\x7f]")


def sheet_name(requested: str | None, fallback: str) -> str:
    """A name Excel accepts: at most 31 characters, none of []:*?/\\, no control or invisible
    format characters (e.g. a right-to-left override), not empty, no apostrophe at either end,
    and not the reserved "History"."""
    for candidate in (requested, fallback, "Sheet1"):
        text = "".join(c for c in candidate or "" if unicodedata.category(c) != "Cf")
        name = _BAD_SHEET_CHARS.sub("", text).strip().strip("'").strip()
        name = name[:MAX_SHEET_NAME].rstrip().rstrip("'")
        if name and name.casefold() != "history":
            return name
    return "Sheet1"


def _rollover_name(base: str, number: int) -> str:
    suffix = f" ({number})"
    return base[: MAX_SHEET_NAME - len(suffix)].rstrip().rstrip("'") + suffix


def _default_sheet_name(mapped: MappedFrame) -> str:
    kind = mapped.template.export_type
    data_type = get_catalog().types.get(kind)
    return data_type.label if data_type else kind.replace("_", " ").title()


class _FormatCache:
    """One xlsxwriter Format per distinct set of properties, created once per workbook."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self._workbook = workbook
        self._formats: dict[tuple[tuple[str, Any], ...], Format] = {}

    def get(self, **properties: Any) -> Format:
        key = tuple(sorted(properties.items()))
        if key not in self._formats:
            self._formats[key] = self._workbook.add_format(dict(properties))
        return self._formats[key]


class _SheetWriter:
    """Adds styled sheets to one workbook and writes typed rows into the current one."""

    def __init__(self, workbook: xlsxwriter.Workbook, mapped: MappedFrame, name: str) -> None:
        self.workbook = workbook
        self.columns = mapped.template.columns
        self.name = name
        self.formats = _FormatCache(workbook)
        self.header_format = self.formats.get(**HEADER_STYLE)
        self.date_format = self.formats.get(num_format=NUMBER_FORMATS["date"])
        self.datetime_format = self.formats.get(num_format=NUMBER_FORMATS["datetime"])
        money = self.formats.get(num_format=NUMBER_FORMATS["money"])
        self.number_formats = [money if c.kind == "money" else None for c in self.columns]
        self.sheets = 0
        self.styles = self._assign_styles(money)

    def _assign_styles(self, money: Format) -> sheetxml.CellStyles:
        """Fix the formats' xf indices up front, header first, then the number formats in
        template column order (what `template_styles` predicts and prepared rows use)."""
        formats = {"money": money, "date": self.date_format, "datetime": self.datetime_format}
        self.header_format._get_xf_index()
        got = {kind: 0 for kind in formats}
        for kind in styled_kinds(self.columns):
            got[kind] = formats[kind]._get_xf_index()
        styles = sheetxml.CellStyles(**got)
        if styles != template_styles(self.columns):
            raise RuntimeError(f"xlsxwriter assigned unexpected style indices {styles}")
        return styles

    def add_sheet(self, widths: Sequence[int], rows: int) -> Worksheet:
        """A new sheet with header, widths, frozen header, autofilter and print setup."""
        sheet = self.new_sheet()
        self.size_sheet(sheet, widths, rows)
        return sheet

    def new_sheet(self) -> Worksheet:
        """A new sheet with its header, frozen header and print setup; `size_sheet` adds what
        depends on its rows (xlsxwriter writes both into the XML only when it closes)."""
        self.sheets += 1
        title = self.name if self.sheets == 1 else _rollover_name(self.name, self.sheets)
        sheet = self.workbook.add_worksheet(title)
        sheet.freeze_panes(1, 0)
        sheet.set_landscape()
        sheet.set_paper(9)  # A4
        sheet.fit_to_pages(1, 0)  # one page wide, as many tall as needed
        sheet.repeat_rows(0)
        sheet.set_row(0, 20)
        sheet.write_row(0, 0, [c.header for c in self.columns], self.header_format)
        return sheet

    def size_sheet(self, sheet: Worksheet, widths: Sequence[int], rows: int) -> None:
        """Column widths and the autofilter over the header and `rows` data rows. Both are
        kept until close(), even in constant_memory mode, so they may follow the rows."""
        for index, width in enumerate(widths):
            sheet.set_column(index, index, width)
        sheet.autofilter(0, 0, rows, len(self.columns) - 1)

    def write_rows(self, sheet: Worksheet, rows: MappedFrame, first_row: int = 1) -> None:
        """Typed cells of `rows` from sheet row `first_row` on; None and "" leave the cell
        empty. Uses the rows `prepare` rendered when they fit this sheet, else renders them
        in bulk (sheetnative's C renderer, else sheetxml's polars one), BLOCK_ROWS at a time;
        a column of a dtype only xlsxwriter's own per-cell path knows sends the sheet down
        that path."""
        frame = rows.frame
        prepared = prepared_rows(rows, first_row)
        if prepared is not None:
            stream = RowStream(sheet, first_row)
            stream.write(prepared)
            stream.close()
            return
        render = sheetnative.render_rows  # the C renderer where it applies, else polars
        try:
            first = render(frame.slice(0, BLOCK_ROWS), self.columns, first_row, self.styles)
        except sheetxml.UnsupportedColumn:
            self.write_cells(sheet, iter_cells(rows), first_row)
            return
        stream = RowStream(sheet, first_row)
        stream.write(first)
        for offset in range(BLOCK_ROWS, frame.height, BLOCK_ROWS):
            block = frame.slice(offset, BLOCK_ROWS)
            stream.write(render(block, self.columns, first_row + offset, self.styles))
        stream.close()

    def write_cells(
        self, sheet: Worksheet, rows: Iterable[tuple[CellValue, ...]], first_row: int = 1
    ) -> None:
        """xlsxwriter's own per-cell path (the reference the bulk renderer is tested
        against, and the fallback for dtypes it does not render)."""
        write_string, write_number = sheet.write_string, sheet.write_number
        write_datetime = sheet.write_datetime
        number_formats, date_fmt, datetime_fmt = (
            self.number_formats,
            self.date_format,
            self.datetime_format,
        )
        for r, values in enumerate(rows, start=first_row):
            for c, value in enumerate(values):
                if value is None:
                    continue
                if isinstance(value, str):
                    if value:
                        write_string(r, c, value[:EXCEL_MAX_CELL_CHARS])
                elif isinstance(value, datetime):
                    if value.microsecond:  # whole seconds: what the CSV and preview show
                        value = value.replace(microsecond=0)
                    write_datetime(r, c, value, datetime_fmt)
                elif isinstance(value, date):
                    if value >= EXCEL_EPOCH:
                        write_datetime(r, c, value, date_fmt)
                    else:
                        write_string(r, c, format_date(value))
                else:
                    write_number(r, c, value, number_formats[c])


def _chunks(total: int, size: int) -> Iterable[int]:
    """Row counts of successive sheets (at least one sheet, even for no rows)."""
    if total == 0:
        yield 0
    for begin in range(0, total, size):
        yield min(size, total - begin)


def write(
    mapped: MappedFrame,
    start: int,
    stop: int,
    path: Path,
    options: ExportOptions,
    *,
    rows_per_sheet: int = EXCEL_MAX_ROWS - 1,
) -> None:
    """Write rows [start, stop) of `mapped` to the workbook `path`.

    `rows_per_sheet` (data rows, header excluded) is Excel's limit by default; tests lower it
    to exercise the rollover without a million rows."""
    rows, widths = _rows_and_widths(mapped, start, stop)
    packed = _packed(rows, widths, options) if rows.height <= rows_per_sheet else None
    if packed is not None:
        Path(path).write_bytes(packed)
        return
    write_blocks([rows], rows.height, widths, path, options, rows_per_sheet=rows_per_sheet)


def render(mapped: MappedFrame, start: int, stop: int, options: ExportOptions) -> bytes:
    """The bytes `write` writes for rows [start, stop), in memory (the service writes them to
    the batch file and hands the same bytes to the ZIP). Small files are packaged from the
    template's skeleton (xlsxpack); any other goes through a temporary file."""
    rows, widths = _rows_and_widths(mapped, start, stop)
    packed = _packed(rows, widths, options)
    if packed is not None:
        return packed
    with tempfile.TemporaryDirectory(prefix="ybb-xlsx-") as folder:
        path = Path(folder) / "render.xlsx"
        write_blocks([rows], rows.height, widths, path, options)
        return path.read_bytes()


def _rows_and_widths(mapped: MappedFrame, start: int, stop: int) -> tuple[MappedFrame, list[int]]:
    """Rows [start, stop) of `mapped` (clamped to its rows) and their column widths."""
    stop = min(stop, mapped.height)
    start = max(0, min(start, stop))
    rows = dataclasses.replace(mapped, frame=mapped.frame.slice(start, stop - start))
    return rows, column_widths(mapped, start, stop)


def _packed(rows: MappedFrame, widths: Sequence[int], options: ExportOptions) -> bytes | None:
    """`rows` as one small workbook packaged by xlsxpack, or None where it does not apply."""
    if not 0 < rows.height <= IN_MEMORY_ROWS:
        return None
    title = sheet_name(options.sheet_name, _default_sheet_name(rows))
    return xlsxpack.pack(rows, widths, title, template_styles(rows.template.columns))


def write_blocks(
    blocks: Iterable[MappedFrame],
    total: int | None,
    widths: Sequence[int] | None,
    path: Path,
    options: ExportOptions,
    *,
    rows_per_sheet: int = EXCEL_MAX_ROWS - 1,
    deflate_rows: bool = False,
) -> None:
    """Write consecutive blocks of mapped rows (`total` rows in all, at least one block) to
    one workbook, rolling over to a new sheet every `rows_per_sheet` rows. `widths` are
    `column_widths` of all rows; None measures them from the blocks as they pass (the maximum
    over the blocks, which is the same). `total` None: whatever the blocks hold. Only one
    block is held at a time, so a caller can stream a file of any length through here.

    `deflate_rows`: once the workbook is past IN_MEMORY_ROWS rows (so packaged through files),
    each sheet's rows are deflated on a second thread while later ones are rendered
    (writers.rowdeflate) instead of after the last row; the file's content is the same."""
    if rows_per_sheet < 1:
        raise ValueError("rows_per_sheet must be at least 1")
    # xlsxwriter's row spill files go beside the output: same volume, not a RAM-backed /tmp
    workbook = deflate.Workbook(str(path), {**WORKBOOK_OPTIONS, "tmpdir": str(path.parent)})
    try:
        written = _write_sheets(
            workbook, iter(blocks), total, widths, options, rows_per_sheet, deflate_rows
        )
        if written <= IN_MEMORY_ROWS:
            package_in_memory(workbook)
    except BaseException:
        # close() removes xlsxwriter's spill files; the caller deletes `path`. Not where rows
        # may be deflated while written: close() would deflate the rest of them for nothing,
        # or (the deflate having failed) stop half-way and leave its package's parts behind;
        # discard_spill_files removes what there is.
        if not deflate_rows:
            with contextlib.suppress(Exception):
                workbook.close()
        discard_spill_files(workbook)  # when close() itself failed (e.g. disk full)
        release_sheet_xml(workbook)
        raise
    try:
        workbook.close()
    except FileCreateError as exc:
        cause = exc.args[0] if exc.args else exc
        reason = cause.strerror if isinstance(cause, OSError) else str(cause)
        raise StorageError(f"Could not write export files: {reason}") from exc
    finally:
        release_sheet_xml(workbook)


def _write_sheets(
    workbook: xlsxwriter.Workbook,
    blocks: Iterator[MappedFrame],
    total: int | None,
    widths: Sequence[int] | None,
    options: ExportOptions,
    rows_per_sheet: int,
    deflate_rows: bool = False,
) -> int:
    """Write the blocks; returns the rows written. Widths and autofilters are set last."""
    first = next(blocks)
    writer = _SheetWriter(
        workbook, first, sheet_name(options.sheet_name, _default_sheet_name(first))
    )
    sizes = iter(_chunks(total, rows_per_sheet)) if total is not None else None
    sheets: list[tuple[Worksheet, int]] = []  # each sheet and its data rows
    measured: list[int] | None = None
    room, written = 0, 0
    for block in chain([first], blocks):
        if widths is None:
            got = column_widths(block, 0, block.height)
            measured = got if measured is None else list(map(max, measured, got))
        offset = 0
        while offset < block.height or not sheets:
            if not sheets or room == 0:
                room = rows_per_sheet if sizes is None else next(sizes, -1)
                if room < 0:
                    raise ValueError(f"blocks hold more than the {total} rows announced")
                sheets.append((writer.new_sheet(), 0))
            sheet, row = sheets[-1][0], sheets[-1][1] + 1
            take = min(room, block.height - offset)
            piece = dataclasses.replace(block, frame=block.frame.slice(offset, take))
            writer.write_rows(sheet, piece, row)
            sheets[-1] = (sheet, sheets[-1][1] + take)
            offset, room, written = offset + take, room - take, written + take
            if deflate_rows and written > IN_MEMORY_ROWS and hasattr(sheet, "deflate_rows"):
                sheet.deflate_rows(deflate.LEVEL)  # no-op once the sheet deflates its rows
    if total is not None and written != total:
        raise ValueError(f"blocks held {written} rows, expected {total}")
    final_widths = widths if widths is not None else measured
    assert final_widths is not None  # at least one block was measured
    for sheet, rows in sheets:
        writer.size_sheet(sheet, final_widths, rows)
    return written
