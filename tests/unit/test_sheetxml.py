"""The bulk row renderer against xlsxwriter's own per-cell path: same sheet XML, cell for cell.

Both paths write through the same `_SheetWriter` (same formats, same xf indices), so the sheet
XML may differ only where numbers are spelt: the bulk path writes floats shortest-round-trip
and integers exactly, xlsxwriter writes `%.16G`."""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import xlsxwriter
from xlsxwriter.utility import _preserve_whitespace

from benchmarks.datagen import records
from export_core.catalog import Template, get_catalog
from export_core.cells import iter_cells
from export_core.mapping import map_frame
from export_core.model import ExportOptions, MappedFrame
from export_core.readers import records_to_frame
from export_core.service import write_export
from export_core.writers import rowstream, sheetxml, xlsx
from tests.unit.engine_helpers import hand_mapped, sheet_rows

CATALOG = get_catalog()
ALL_TEMPLATES = [t for d in CATALOG.types.values() for t in d.templates.values()]
NASTY_TEXT = [
    "a & b < c > d",
    'said "maybe"',
    "_x0041_ literal and _x00e9_",
    "ctl \x01\x02\x0b\x0c\x1b\x1f end",
    "\x1fleading unit separator",
    "\rcarriage\r\n",
    "line\nbreak",
    "\tindent",
    " padded ",
    "\u00a0nbsp",
    "ideographic\u3000",
    "zero width\u200b",
    "non-char \ufffe \uffff",
    "<r><t>rich?</t></r>x",
    "Ünïcödé 名簿 😀",
    "x" * 40_000,
    "😀" * 20_000,
    "",
    " ",
]
_CELL = re.compile(r'<c r="([A-Z]+\d+)"([^>]*)>(.*?)</c>', re.S)
_VALUE = re.compile(r"^<v>([^<]*)</v>$")


def _write(mapped: MappedFrame, path: Path, bulk: bool) -> Path:
    """One sheet through the bulk renderer (xlsx.write) or xlsxwriter's per-cell path."""
    options = ExportOptions(mapped.template.export_type, mapped.template.name)
    if bulk:
        xlsx.write(mapped, 0, mapped.height, path, options)
        return path
    workbook = xlsxwriter.Workbook(str(path), xlsx.WORKBOOK_OPTIONS)
    writer = xlsx._SheetWriter(workbook, mapped, xlsx.sheet_name(None, "Sheet"))
    sheet = writer.add_sheet(xlsx.column_widths(mapped, 0, mapped.height), mapped.height)
    writer.write_cells(sheet, iter_cells(mapped))
    workbook.close()
    return path


def _sheet_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read("xl/worksheets/sheet1.xml").decode()


def _assert_same_sheet(bulk: str, reference: str) -> None:
    """Equal outside the cells; cells equal, numbers equal once spelt as xlsxwriter does."""
    assert _CELL.sub("", bulk) == _CELL.sub("", reference)
    got, want = _CELL.findall(bulk), _CELL.findall(reference)
    assert len(got) == len(want)
    for (ref, attrs, body), (want_ref, want_attrs, want_body) in zip(got, want, strict=True):
        assert (ref, attrs) == (want_ref, want_attrs)
        number, want_number = _VALUE.match(body), _VALUE.match(want_body)
        if number and want_number and 't="' not in attrs:
            # The very double xlsxwriter computed, spelt its way, gives its exact text.
            assert f"{float(number.group(1)):.16G}" == want_number.group(1), ref
        else:
            assert body == want_body, ref


def _compare(mapped: MappedFrame, tmp_path: Path) -> None:
    bulk = _sheet_xml(_write(mapped, tmp_path / "bulk.xlsx", bulk=True))
    reference = _sheet_xml(_write(mapped, tmp_path / "reference.xlsx", bulk=False))
    _assert_same_sheet(bulk, reference)


@pytest.mark.parametrize("template", ALL_TEMPLATES, ids=lambda t: f"{t.export_type}-{t.name}")
def test_generated_data_matches_xlsxwriter(template: Template, tmp_path: Path) -> None:
    frame = records_to_frame(records(template.export_type, 300, seed=11))
    _compare(map_frame(frame, template), tmp_path)


def _edge_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"id": i, "notes": t} for i, t in enumerate(NASTY_TEXT)]
    rows += [
        {"id": 100, "birthdate": date(1899, 12, 31), "created_at": datetime(1899, 12, 31, 6)},
        {"id": 101, "birthdate": date(1900, 1, 1), "created_at": datetime(1900, 1, 1, 12, 30)},
        {"id": 102, "birthdate": date(1900, 2, 28), "created_at": datetime(1900, 2, 28, 23, 59)},
        {"id": 103, "birthdate": date(1900, 3, 1), "created_at": datetime(1900, 3, 1, 0, 0, 1)},
        {"id": 104, "birthdate": date(999, 5, 6), "created_at": datetime(2024, 5, 6, 7, 8, 9, 999)},
        {"id": 105, "birthdate": "15/05/1995", "created_at": "yesterday & <today>"},
        {"id": -(2**53), "birthdate": date(9999, 12, 31), "created_at": datetime(9999, 12, 31)},
        {},  # a row with no cell at all: no <row> element
        {"first_name": " ", "notes": ""},  # whitespace is a cell, "" is not
    ]
    return rows


def test_edge_values_match_xlsxwriter(tmp_path: Path) -> None:
    template = CATALOG.template("participants", "complete")
    _compare(hand_mapped(template, _edge_rows()), tmp_path)


def test_money_edges_match_xlsxwriter(tmp_path: Path) -> None:
    template = CATALOG.template("payments", "detailed")
    amounts: list[Any] = [0.1, 1500.0, -0.0, 1e-7, 1e20, 12.345, float("nan"), float("inf")]
    amounts += [float("-inf"), None, "Rp 12,50 (bad)", 2.5e-300]
    rows = [{"id": i, "amount": a, "usd_amount": a} for i, a in enumerate(amounts)]
    _compare(hand_mapped(template, rows), tmp_path)
    got = sheet_rows(tmp_path / "bulk.xlsx")
    amount = template.fields.index("amount")
    assert [r[amount] for r in got[7:10]] == ["nan", "inf", "-inf"]


def test_floats_and_big_integers_round_trip_exactly(tmp_path: Path) -> None:
    """Where xlsxwriter's %.16G would lose digits, the bulk path keeps the exact value."""
    template = CATALOG.template("payments", "detailed")
    rows = [{"id": 12_345_678_901_234_567, "amount": 0.30000000000000004}]
    path = _write(hand_mapped(template, rows), tmp_path / "exact.xlsx", bulk=True)
    xml = _sheet_xml(path)
    assert "<v>12345678901234567</v>" in xml
    assert "<v>0.30000000000000004</v>" in xml


def test_whitespace_preserve_matches_xlsxwriter_for_every_bmp_character() -> None:
    chars = [chr(c) for c in range(0x3100) if not 0xD800 <= c <= 0xDFFF] + ["\ufeff"]
    texts = [t for c in chars for t in (c + "x", "x" + c)]
    frame = pl.DataFrame({"t": texts}).with_columns(pl.lit("2").alias(sheetxml.ROW_COLUMN))
    cell = sheetxml._text_cell("A", pl.col("t"), escape=True)
    got = frame.select(cell.str.contains('xml:space="preserve"')).to_series().to_list()
    escape = xlsxwriter.worksheet.Worksheet._escape_control_characters
    want = [bool(_preserve_whitespace(escape(t))) for t in texts]
    assert got == want


def test_prepared_rows_write_the_same_files(tmp_path: Path) -> None:
    """The service's grouped rendering (xlsx.prepare) and the writer's own give equal bytes."""
    template = CATALOG.template("participants", "complete")
    frame = records_to_frame(records("participants", 6_000, seed=5))
    result = write_export(frame, ExportOptions("participants", "complete"), tmp_path / "svc")
    mapped = map_frame(frame, template)
    for written in result.files:
        start = int(written.record_range.split("-")[0]) - 1
        alone = tmp_path / f"alone-{written.batch_number}.xlsx"
        xlsx.write(mapped, start, start + written.record_count, alone, ExportOptions("x"))
        assert _sheet_xml(tmp_path / "svc" / written.file_name) == _sheet_xml(alone)


def test_internals_guard_names_what_is_missing(tmp_path: Path) -> None:
    workbook = xlsxwriter.Workbook(str(tmp_path / "g.xlsx"), xlsx.WORKBOOK_OPTIONS)
    sheet = workbook.add_worksheet()
    rowstream.check_internals(sheet)  # the pinned version has them all
    del sheet.previous_row
    with pytest.raises(RuntimeError, match=r"lacks the internals .*previous_row"):
        rowstream.check_internals(sheet)
    sheet.previous_row = 0
    workbook.close()
    plain = xlsxwriter.Workbook(str(tmp_path / "p.xlsx"))  # not constant_memory
    with pytest.raises(RuntimeError, match="constant_memory"):
        rowstream.check_internals(plain.add_worksheet())
    plain.close()


def test_xlsxwriter_version_is_the_pinned_one() -> None:
    assert xlsxwriter.__version__.startswith("3.3."), "re-check export_core/writers/rowstream.py"
