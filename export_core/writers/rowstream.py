"""Appending pre-rendered `<row>` XML to an xlsxwriter worksheet in constant_memory mode.

This touches xlsxwriter internals (pinned to 3.3.x in requirements.txt), all of them here:

* in constant_memory mode a worksheet keeps the rows it has not written yet in `table`, writes
  the pending row `previous_row` with `_write_single_row(next_row)` when a later row is
  started, and streams row XML into the text file `row_data_fh`, which `close()` copies into
  the sheet's `<sheetData>`;
* `_check_dimensions(row, col)` records the used range (`dim_rowmax`, ...), from which the
  `<dimension ref>` is written;
* a worksheet's XML writer is `fh` (an XMLwriter attribute), which `release_sheet_xml` drops
  after `close()`;
* at close, `_write_optimized_sheet_data` copies `row_data_fh` (its file `row_data_filename`)
  into `fh` between `<sheetData>` tags, which `ByteCopyWorksheet` does as bytes;
* while rows are written `fh` is `row_data_fh` (and `row_data_fh_closed` False), so
  `ByteCopyWorksheet.deflate_rows` replaces both with a text layer over a
  `rowdeflate.DeflatingRows`, and at close leaves the rows out of `fh` for
  `deflate.XlsxZipFile` to insert, deflated.

`check_internals` fails loudly (RuntimeError naming the installed version) when an xlsxwriter
upgrade changes any of this, instead of writing a silently broken file."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from typing import Any

import xlsxwriter
import xlsxwriter.worksheet
from xlsxwriter.worksheet import Worksheet

from . import rowdeflate
from .sheetxml import RenderedRows

REQUIRED_METHODS = ("_write_single_row", "_check_dimensions")
REQUIRED_STATE = ("previous_row", "row_data_fh", "table", "dim_rowmax", "constant_memory")


def check_internals(sheet: Worksheet) -> None:
    """RuntimeError unless `sheet` is a constant_memory worksheet with the internals used."""
    missing = [n for n in REQUIRED_METHODS if not callable(getattr(sheet, n, None))]
    missing += [n for n in REQUIRED_STATE if not hasattr(sheet, n)]
    if missing:
        raise RuntimeError(
            f"xlsxwriter {xlsxwriter.__version__} lacks the internals the bulk row writer uses "
            f"({', '.join(missing)}); pin xlsxwriter to the range in requirements.txt"
        )
    fh: Any = sheet.row_data_fh
    if not sheet.constant_memory or fh is None or sheet.row_data_fh_closed:
        raise RuntimeError("bulk rows need an open constant_memory worksheet")
    if fh.encoding.replace("-", "").lower() != "utf8" or not hasattr(fh, "buffer"):
        raise RuntimeError(f"unexpected row data file {fh!r}: need UTF-8 text over a buffer")


class RowStream:
    """Writes rendered rows into one worksheet after its (still pending) header row."""

    def __init__(self, sheet: Worksheet, first_row: int) -> None:
        check_internals(sheet)
        if sheet.previous_row >= first_row:
            raise RuntimeError(f"rows before {first_row} are already written")
        self.sheet = sheet
        self.first_row = first_row
        self.last_row = -1
        # Flush the pending header row exactly as xlsxwriter does when row `first_row` starts.
        sheet._write_single_row(first_row)

    def write(self, rows: RenderedRows) -> None:
        """Append a block; blocks must come in row order."""
        if rows.last_row < 0:
            return
        if rows.last_row <= self.last_row:
            raise RuntimeError("rendered row blocks must come in ascending row order")
        fh: Any = self.sheet.row_data_fh
        # The rows are UTF-8 already: write them under the text layer, not through it
        # (decoding 5 MB into a str and encoding it back costs more than rendering it).
        fh.flush()
        rows.write_to(fh.buffer)
        self.last_row = rows.last_row

    def close(self) -> None:
        """Record the used range and mark every row as written, so that xlsxwriter's own
        bookkeeping (the `<dimension>`, later writes, close) carries on from here."""
        if self.last_row < 0:
            return
        self.sheet._check_dimensions(self.last_row, 0)
        self.sheet.previous_row = self.last_row
        self.sheet.table.clear()


COPY_BUFFER = 1 << 20


class ByteCopyWorksheet(xlsxwriter.worksheet.Worksheet):  # type: ignore[misc]
    """xlsxwriter's Worksheet, whose constant_memory rows go into the sheet's XML file as
    bytes. xlsxwriter copies them as text, 64 Ki characters at a time, decoding and encoding
    every byte: ~3 s for the 870 MB of a 1,000,000-row sheet. Sheets packaged in memory
    (a StringIO, no bytes under it) are copied by xlsxwriter as before."""

    deflating: rowdeflate.DeflatingRows | None = None  # set by `deflate_rows`
    deflated: rowdeflate.DeflatedRows | None = None  # the rows left for the ZIP writer

    def deflate_rows(self, level: int) -> bool:
        """From now on deflate this sheet's rows as they are written (rowdeflate), the rows
        spilled so far first; False (nothing changed) unless the sheet is still writing its
        rows into xlsxwriter's spill file. Only for sheets packaged through files."""
        sheet: Any = self  # xlsxwriter's attributes are untyped
        fh: Any = sheet.row_data_fh
        if (
            self.deflating is not None
            or not sheet.constant_memory
            or sheet.row_data_fh_closed
            or fh is None
            or sheet.fh is not fh
            or not sheet.row_data_filename
            or not rowdeflate.zip_can_take_deflated()
        ):
            return False
        check_internals(self)
        fh.flush()
        sink: Any = rowdeflate.DeflatingRows(sheet.tmpdir, level)
        try:
            with open(sheet.row_data_filename, "rb") as spilled:
                shutil.copyfileobj(spilled, sink, COPY_BUFFER)
        except BaseException:
            sink.abort()
            raise
        fh.close()
        with contextlib.suppress(OSError):
            os.unlink(sheet.row_data_filename)
        # Text on top for xlsxwriter's own writes (the pending row at close), bytes under it.
        text = io.TextIOWrapper(io.BufferedWriter(sink, COPY_BUFFER), encoding="utf-8")
        sheet.row_data_fh = sheet.fh = text
        self.deflating = sink
        return True

    def _write_optimized_sheet_data(self) -> None:
        target: Any = self.fh
        if self.deflating is not None:
            self._leave_rows_for_zip(target)
            return
        if self.dim_rowmin is None or not hasattr(target, "buffer"):
            super()._write_optimized_sheet_data()
            return
        self._xml_start_tag("sheetData")
        self.row_data_fh.flush()
        target.flush()
        with open(self.row_data_filename, "rb") as rows:
            shutil.copyfileobj(rows, target.buffer, COPY_BUFFER)
        self.row_data_fh.close()
        os.unlink(self.row_data_filename)
        self._xml_end_tag("sheetData")

    def _leave_rows_for_zip(self, target: Any) -> None:
        """`<sheetData>` with the rows left out: deflated already, deflate.XlsxZipFile puts
        them back in between, at the byte offset recorded here, when it stores this file."""
        sink = self.deflating
        assert sink is not None
        if not hasattr(target, "buffer") or not getattr(target, "name", None):
            sink.abort()
            raise RuntimeError("deflated rows need the sheet XML in a file")
        self.row_data_fh.flush()  # the text layer's last bytes, into the sink
        if self.dim_rowmin is None:  # no cell at all (cannot follow rows, but as xlsxwriter)
            sink.abort()
            self._xml_empty_tag("sheetData")
            return
        self._xml_start_tag("sheetData")
        target.flush()
        offset = target.buffer.tell()
        self.deflated = sink.finish()
        rowdeflate.leave_for_zip(target.name, offset, self.deflated)
        self.row_data_fh.close()
        self._xml_end_tag("sheetData")


def package_in_memory(workbook: xlsxwriter.Workbook) -> None:
    """Have `close()` assemble the package's XML parts in memory rather than in ~10 temp
    files per workbook (creating and deleting them cost more than writing a small sheet).
    Setting `in_memory` after the sheets are written keeps their constant_memory streaming;
    only packaging changes, so use it for small workbooks (the sheet XML is held whole)."""
    if not hasattr(workbook, "in_memory"):
        raise RuntimeError(f"xlsxwriter {xlsxwriter.__version__} has no Workbook.in_memory")
    workbook.in_memory = True


def discard_spill_files(workbook: xlsxwriter.Workbook) -> None:
    """Close and delete each worksheet's constant_memory spill file. Workbook.close() does this
    itself, but when it fails (a full disk) it stops before reaching them, and the open handles
    would keep the deleted files' space until garbage collection."""
    for sheet in workbook.worksheets():
        sink = getattr(sheet, "deflating", None)
        if sink is not None:
            sink.abort()  # the thread ends, the spill file goes
        done = getattr(sheet, "deflated", None)
        if done is not None:
            rowdeflate.forget(done)
        fh: Any = getattr(sheet, "row_data_fh", None)
        if fh is not None and not fh.closed:
            fh.close()
        name = getattr(sheet, "row_data_filename", None)
        if name:
            with contextlib.suppress(OSError):
                os.unlink(name)


def release_sheet_xml(workbook: xlsxwriter.Workbook) -> None:
    """Drop each worksheet's XML writer once the workbook is closed. A Workbook and its
    Worksheets refer to each other, so a closed workbook is freed only when the cyclic garbage
    collector gets round to it, often many workbooks later; and a workbook packaged in memory
    keeps each sheet's whole XML in its writer (`fh`, a StringIO: ~1 MB of text for 1,000
    participant rows). Writing the 50 files of a 50,000-participant export peaked at 17-20 MB
    of Python allocations without this, 4.5 MB with it (tracemalloc)."""
    for sheet in workbook.worksheets():
        sheet.fh = None
        done = getattr(sheet, "deflated", None)
        if done is not None:  # stored in the ZIP by now, or the export failed
            rowdeflate.forget(done)
            sheet.deflated = None
        sheet.deflating = None
