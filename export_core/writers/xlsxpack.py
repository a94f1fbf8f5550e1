"""Small single-sheet workbooks packaged from a skeleton that xlsxwriter made once.

xlsxwriter spends ~10 ms of Python on every workbook it packages, whatever its size: nine XML
parts built by its XML writer, and zipfile's bookkeeping for each. For the API's batch files
(1,000-5,000 rows) that is as much as rendering and deflating the rows, 50 times per 50,000-row
export. Every part but three is the same for every file of an export, and those three differ
only in a few numbers. So, once per template and sheet name, `skeleton` has xlsxwriter write
the workbook (through the same `_SheetWriter` as every other file) with no data rows, a
sentinel row count and a fixed creation time; the fixed parts are deflated once, and each file
is then put together from:

* the sheet: the skeleton's XML with the used range (`<dimension>`), the column widths
  (`<cols>`, written by xlsxwriter's own code, cached per set of widths), the rendered rows
  before `</sheetData>` and the autofilter's range put in;
* the workbook part: the autofilter's hidden defined name (`_xlnm._FilterDatabase`) range;
* the core properties: the creation time, as xlsxwriter takes it, when the file is packaged.

The members are the same, in the same order, with the same names, timestamps and attributes
as xlsxwriter's in-memory packaging, each decompressing to the bytes xlsxwriter would have
written (tests/unit/test_xlsxpack.py compares them, member by member). `pack` answers None
for whatever it does not cover (no rows, a column the bulk renderer does not know, a skeleton
the sentinels cannot cut), and the caller writes through xlsxwriter as before."""

from __future__ import annotations

import functools
import io
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import xlsxwriter.worksheet
from xlsxwriter.utility import xl_rowcol_to_cell
from zlib_ng import zlib_ng

from ..catalog import Template
from ..model import MappedFrame, QualityReport
from . import deflate, sheetnative, sheetxml
from .rowstream import package_in_memory, release_sheet_xml
from .xlsxrows import prepared_rows

MIN_WIDTH = 8  # the skeleton's column widths (each file's replace them)

SENTINEL_ROWS = 1_048_574  # the skeleton's data rows: its ranges end in row 1,048,575
SENTINEL_ROW = str(SENTINEL_ROWS + 1).encode()
SENTINEL_TIME = datetime(1999, 9, 9, 9, 9, 9, tzinfo=UTC)
SENTINEL_ISO = b"1999-09-09T09:09:09Z"
SHEET = "xl/worksheets/sheet1.xml"
WORKBOOK = "xl/workbook.xml"
CORE = "docProps/core.xml"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # xlsxwriter's timestamp for in-memory members
Buffer = bytes | memoryview
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # zipfile's structCentralDir
_END = struct.Struct("<4s4H2LH")  # zipfile's structEndArchive


@dataclass(frozen=True)
class Member:
    """One deflated member of a package."""

    name: str
    crc: int
    size: int
    data: bytes

    @classmethod
    def of(cls, name: str, *parts: Buffer) -> Member:
        """The member whose content is `parts` back to back: up to one block (a batch file's
        sheet of ~1 MB of XML) joined and deflated whole by libdeflate, a bigger one fed to
        zlib-ng in parallel pieces without joining them."""
        size = sum(len(part) for part in parts)
        if size <= deflate.BLOCK_BYTES:
            whole = parts[0] if len(parts) == 1 else b"".join(parts)
            return cls(name, zlib_ng.crc32(whole), size, deflate.deflate_whole(whole))
        compressor = deflate.ParallelDeflater()
        out, crc = [], 0
        for part in parts:
            out.append(compressor.compress(part))
            crc = zlib_ng.crc32(part, crc)
        out.append(compressor.flush())
        return cls(name, crc, size, b"".join(out))


@dataclass(frozen=True)
class Skeleton:
    """A template's package: fixed members deflated once, the variable ones in pieces."""

    order: tuple[str, ...]  # member names, in xlsxwriter's order
    fixed: dict[str, Member]
    sheet: tuple[bytes, ...]  # cut where the used range, cols, rows and filter range go
    workbook: tuple[bytes, bytes]  # around the defined name's last row
    core: tuple[bytes, ...]  # around the two timestamps
    last_column: bytes  # letters of the last column (b"O")


def _split(content: bytes, marker: bytes, count: int) -> list[bytes] | None:
    parts = content.split(marker)
    return parts if len(parts) == count + 1 else None


def _members(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _sheet_pieces(xml: bytes, last_cell: bytes) -> tuple[bytes, ...] | None:
    """The sheet XML cut where each file's own parts go, or None if the cuts are ambiguous:
    (to the used range, to <cols>, to </sheetData>, to the autofilter's range, the end)."""
    if xml.count(SENTINEL_ROW) != 2 or xml.count(b"</sheetData>") != 1:
        return None
    ranges = _split(xml, b"A1:" + last_cell, 2)  # in <dimension> and <autoFilter>
    if ranges is None:
        return None
    head, middle, end = ranges
    start, stop = middle.find(b"<cols>"), middle.find(b"</cols>")
    if start < 0 or stop < start or middle.count(b"<cols>") != 1:
        return None
    to_rows, after_rows = middle[stop + len(b"</cols>") :].split(b"</sheetData>")
    return (head + b"A1:", middle[:start], to_rows, b"</sheetData>" + after_rows + b"A1:", end)


@functools.lru_cache(maxsize=32)
def skeleton(template: Template, title: str) -> Skeleton | None:
    """The package of a sheet titled `title` for `template` (None when it cannot be cut)."""
    from .xlsx import WORKBOOK_OPTIONS, _SheetWriter  # xlsx imports this module

    buffer = io.BytesIO()
    # constant_memory, as for every file (its spill file goes to the system's temp dir)
    workbook = deflate.Workbook(buffer, WORKBOOK_OPTIONS)
    workbook.set_properties({"created": SENTINEL_TIME})
    empty = MappedFrame(template=template, frame=pl.DataFrame(), quality=QualityReport(rows=0))
    writer = _SheetWriter(workbook, empty, title)
    sheet = writer.new_sheet()
    sheet._check_dimensions(SENTINEL_ROWS, 0)
    writer.size_sheet(sheet, [MIN_WIDTH] * len(template.columns), SENTINEL_ROWS)
    package_in_memory(workbook)  # after the sheet, as `write_blocks` does for small files
    try:
        workbook.close()
    finally:
        release_sheet_xml(workbook)
    parts = _members(buffer.getvalue())
    last_column = xl_rowcol_to_cell(0, len(template.columns) - 1)[:-1]
    sheet_pieces = _sheet_pieces(parts[SHEET], f"{last_column}{SENTINEL_ROWS + 1}".encode())
    book = _split(parts[WORKBOOK], b"$" + SENTINEL_ROW + b"<", 1)
    core = _split(parts[CORE], SENTINEL_ISO, 2)
    if sheet_pieces is None or book is None or core is None:
        return None
    if parts[WORKBOOK].count(SENTINEL_ROW) != 1 or any(SENTINEL_ROW in p for p in core):
        return None
    variable = {SHEET, WORKBOOK, CORE}
    return Skeleton(
        order=tuple(parts),
        fixed={name: Member.of(name, data) for name, data in parts.items() if name not in variable},
        sheet=sheet_pieces,
        workbook=(book[0] + b"$", b"<" + book[1]),
        core=tuple(core),
        last_column=last_column.encode(),
    )


@functools.lru_cache(maxsize=256)
def cols_xml(widths: tuple[int, ...]) -> bytes:
    """The `<cols>` element xlsxwriter writes for these column widths (its own code)."""
    sheet = xlsxwriter.worksheet.Worksheet()
    sheet.fh = io.StringIO()
    for index, width in enumerate(widths):
        sheet.set_column(index, index, width)
    sheet._write_cols()
    xml: str = sheet.fh.getvalue()
    return xml.encode()


class _Kept:
    """A binary file object that keeps what is written to it: the bytes objects themselves."""

    def __init__(self) -> None:
        self.parts: list[Buffer] = []

    def write(self, data: Buffer) -> int:
        self.parts.append(data)
        return len(data)


def _rows_xml(rows: sheetxml.RenderedRows) -> list[Buffer]:
    """The rows' XML, back to back: the bytes objects polars hands to `write` (one for a
    batch file's rows), or the C renderer's memoryview, kept as they are. Copied into a
    BytesIO (as before) they cost ~0.25 ms more CPU per 1,000-row complete file; with polars
    the ~380 page faults per file stay (its own buffer and the bytes object it makes)."""
    kept = _Kept()
    rows.write_to(kept)
    return kept.parts


def pack(
    mapped: MappedFrame, widths: Sequence[int], title: str, styles: sheetxml.CellStyles
) -> bytes | None:
    """The xlsx file of all rows of `mapped` (at least one, on one sheet titled `title`; the
    sheet XML is held whole, so the caller keeps this to small files), or None where
    xlsxwriter has to write it (see the module docstring)."""
    frame = mapped.frame
    if frame.height == 0:
        return None
    shape = skeleton(mapped.template, title)
    if shape is None:
        return None
    rows = prepared_rows(mapped, 1)  # rendered for sheet rows 1, 2, ... (0 is the header)
    if rows is None:
        try:
            rows = sheetnative.render_rows(frame, mapped.template.columns, 1, styles)
        except sheetxml.UnsupportedColumn:
            return None
    used = max(rows.last_row, 0) + 1  # the header's row when no data row has a cell
    data_rows = frame.height + 1
    sheet = shape.sheet
    xml: tuple[Buffer, ...] = (
        sheet[0],
        b"%s%d" % (shape.last_column, used),
        sheet[1],
        cols_xml(tuple(widths)),
        sheet[2],
        *_rows_xml(rows),
        sheet[3],
        b"%s%d" % (shape.last_column, data_rows),
        sheet[4],
    )
    del rows
    if sum(len(part) for part in xml) <= deflate.BLOCK_BYTES:
        # Joined here rather than in Member.of, so that the rows rendered for this file alone
        # (~1 MB for 1,000 complete rows) are let go before the deflate: one copy at a time.
        xml = (b"".join(xml),)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    variable = {
        SHEET: xml,
        WORKBOOK: (b"%s%d%s" % (shape.workbook[0], data_rows, shape.workbook[1]),),
        CORE: (stamp.join(shape.core),),
    }
    members = [
        shape.fixed[name] if name in shape.fixed else Member.of(name, *variable[name])
        for name in shape.order
    ]
    return zip_package(members)


def zip_package(members: Sequence[Member]) -> bytes:
    """The ZIP of deflated `members`, with the headers zipfile writes for xlsxwriter's
    in-memory members (ZipInfo with 1980-01-01 00:00, mode 0600, no data descriptor)."""
    out: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for member in members:
        info = zipfile.ZipInfo(member.name, ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        info.CRC, info.file_size, info.compress_size = member.crc, member.size, len(member.data)
        header = info.FileHeader(False)
        name = member.name.encode("ascii")
        central.append(
            _CENTRAL.pack(
                b"PK\x01\x02",
                info.create_version,
                info.create_system,
                info.extract_version,
                info.reserved,
                info.flag_bits,
                info.compress_type,
                0,  # dostime of 00:00:00
                (ZIP_TIME[0] - 1980) << 9 | ZIP_TIME[1] << 5 | ZIP_TIME[2],
                info.CRC,
                info.compress_size,
                info.file_size,
                len(name),
                0,
                0,
                0,
                info.internal_attr,
                info.external_attr,
                offset,
            )
            + name
        )
        out += (header, member.data)
        offset += len(header) + len(member.data)
    directory = b"".join(central)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), offset, 0)
    return b"".join([*out, directory, end])
