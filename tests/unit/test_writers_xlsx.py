"""The Excel writer: the file is the product, so every test reopens it with openpyxl."""

from __future__ import annotations

import gc
import tracemalloc
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from benchmarks.datagen import records
from export_core.catalog import Template, get_catalog
from export_core.cells import iter_cells
from export_core.errors import UnknownFormat
from export_core.mapping import map_frame
from export_core.model import EXCEL_MAX_CELL_CHARS, ExportOptions, MappedFrame
from export_core.readers import records_to_frame
from export_core.writers import WRITERS, get_writer, xlsx
from tests.unit.engine_helpers import column_widths, hand_mapped, ooxml_text, sheet_rows

CATALOG = get_catalog()
ALL_TEMPLATES = [t for d in CATALOG.types.values() for t in d.templates.values()]
NUMBER_FORMATS = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm:ss", "money": "#,##0.00"}
HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "+1",
    "-1",
    "@SUM(A1)",
    "=1+1",
    "\tx",
    "\rx",
    "a\r\nb",
    "_x0041_ literal",
    "y" * 40_000,
    "Ünïcödé 名簿 😀",
    "http://example.com/a-link",
    "007",
    "  padded  ",
    "",
]


def write_xlsx(mapped: MappedFrame, path: Path, **options: Any) -> Path:
    opts = ExportOptions(export_type=mapped.template.export_type, template=mapped.template.name)
    xlsx.write(mapped, 0, mapped.height, path, ExportOptions(**{**vars(opts), **options}))
    return path


def mapped_sample(template: Template, count: int = 60, seed: int = 3) -> MappedFrame:
    frame = records_to_frame(records(template.export_type, count, seed=seed))
    return map_frame(frame, template)


def test_registry() -> None:
    assert get_writer("excel") is xlsx
    assert (xlsx.extension, xlsx.format) == ("xlsx", "excel")
    assert set(WRITERS) == {"excel", "csv"}
    with pytest.raises(UnknownFormat, match=r"^Unsupported format 'pdf'\. Use one of: excel, csv$"):
        get_writer("pdf")


def _assert_header(ws: Any, template: Template) -> None:
    assert [c.value for c in ws[1]] == list(template.headers)
    for cell in ws[1]:
        assert cell.font.b is True
        assert cell.font.color.rgb == "FFFFFFFF"
        assert cell.fill.fill_type == "solid"
        assert cell.fill.fgColor.rgb == "FF366092"
        assert cell.alignment.horizontal == "center"


def _assert_sheet_setup(ws: Any, template: Template, rows: int) -> None:
    last = openpyxl.utils.get_column_letter(len(template.columns))
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{last}{rows + 1}"
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert ws.page_setup.fitToWidth in (None, 1)  # absent means 1 in OOXML
    assert ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows == "$1:$1"
    widths = column_widths(ws)
    assert sorted(widths) == list(range(1, len(template.columns) + 1))
    for index, column in enumerate(template.columns, start=1):
        # xlsxwriter stores n characters as n + 0.71 (Excel's cell padding)
        assert min(len(column.header) + 2, 50) <= widths[index] <= 50.72


def _assert_cells(ws: Any, mapped: MappedFrame) -> None:
    expected_rows = list(iter_cells(mapped))
    sheet_rows_ = list(ws.iter_rows(min_row=2))
    assert len(sheet_rows_) == len(expected_rows)
    for expected_row, row in zip(expected_rows, sheet_rows_, strict=True):
        for column, want, cell in zip(mapped.template.columns, expected_row, row, strict=True):
            assert cell.data_type != "f"
            if want is None or want == "":
                assert cell.value is None
            elif isinstance(want, str):
                assert (cell.data_type, ooxml_text(cell.value)) == ("s", want[:32_767])
            elif isinstance(want, datetime | date):
                assert cell.data_type == "d"
                assert cell.number_format == NUMBER_FORMATS[column.kind]
                if isinstance(want, datetime):
                    assert cell.value == want.replace(microsecond=0)
                else:
                    assert cell.value.date() == want
            else:
                assert cell.data_type == "n"
                assert cell.value == pytest.approx(want)
                assert cell.number_format == NUMBER_FORMATS.get(column.kind, "General")


@pytest.mark.parametrize("template", ALL_TEMPLATES, ids=lambda t: f"{t.export_type}-{t.name}")
def test_every_template_writes_the_seed_sheet(template: Template, tmp_path: Path) -> None:
    mapped = mapped_sample(template)
    path = write_xlsx(mapped, tmp_path / "out.xlsx")
    workbook = openpyxl.load_workbook(path)
    ws = workbook.active
    assert ws.title == CATALOG.types[template.export_type].label
    _assert_header(ws, template)
    _assert_sheet_setup(ws, template, mapped.height)
    _assert_cells(ws, mapped)
    workbook.close()


def test_widths_follow_the_data_and_cap_at_50(tmp_path: Path) -> None:
    template = CATALOG.template("payments", "detailed")
    row = {
        "id": 123456789012,
        "amount": 1234567.5,  # "1,234,567.50" is 12 characters
        "payment_date": date(2024, 1, 2),
        "reference_number": "r" * 30,
        "notes": "n" * 500,
        "created_at": datetime(2024, 1, 2, 3, 4, 5),
    }
    path = write_xlsx(hand_mapped(template, [row, {"id": 1}]), tmp_path / "w.xlsx")
    workbook = openpyxl.load_workbook(path)
    widths = {k: int(v) for k, v in column_widths(workbook.active).items()}
    headers = dict(zip(template.headers, range(1, 12), strict=True))
    assert widths[headers["ID"]] == 14  # 12 digits + 2
    assert widths[headers["Participant ID"]] == 16  # header + 2, column empty
    assert widths[headers["Amount"]] == 14
    assert widths[headers["Payment Date"]] == 14  # header (12) wider than a date (10)
    assert widths[headers["Reference"]] == 32
    assert widths[headers["Notes"]] == 50
    assert widths[headers["Created"]] == 21  # datetime 19 + 2
    assert widths[headers["Status"]] == 8  # the minimum
    workbook.close()


def test_hostile_text_is_never_a_formula(tmp_path: Path) -> None:
    template = CATALOG.template("participants", "complete")
    rows = [{"id": i, "notes": text, "first_name": text} for i, text in enumerate(HOSTILE)]
    path = write_xlsx(hand_mapped(template, rows), tmp_path / "hostile.xlsx")
    got = sheet_rows(path)[1:]
    notes = template.fields.index("notes")
    for text, row in zip(HOSTILE, got, strict=True):
        assert row[notes] == (text[:EXCEL_MAX_CELL_CHARS] if text else None)
    workbook = openpyxl.load_workbook(path)
    for row in workbook.active.iter_rows():
        assert all(c.data_type in ("s", "n") for c in row)  # never "f"
        assert all(c.hyperlink is None for c in row)
    workbook.close()
    with zipfile.ZipFile(path) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
        assert "<f>" not in sheet_xml
        assert "hyperlink" not in sheet_xml


def test_formats_are_created_once_per_workbook(tmp_path: Path) -> None:
    template = CATALOG.template("payments", "detailed")

    def style_count(rows: int) -> int:
        path = write_xlsx(mapped_sample(template, rows), tmp_path / f"s{rows}.xlsx")
        with zipfile.ZipFile(path) as archive:
            styles = archive.read("xl/styles.xml").decode()
        return int(styles.split('<cellXfs count="')[1].split('"')[0])

    assert style_count(5) == style_count(400) <= 6  # default, header, date, datetime, money


def test_dates_before_1900_are_text_and_datetimes_whole_seconds(tmp_path: Path) -> None:
    template = CATALOG.template("participants", "detailed")
    rows = [
        {"id": 1, "birthdate": date(1850, 1, 2), "created_at": datetime(2024, 5, 6, 7, 8, 9, 999)},
        {"id": 2, "birthdate": date(1900, 1, 1), "created_at": datetime(1999, 12, 31, 23, 59, 59)},
    ]
    got = sheet_rows(write_xlsx(hand_mapped(template, rows), tmp_path / "d.xlsx"))
    birth, created = template.fields.index("birthdate"), template.fields.index("created_at")
    assert got[1][birth] == "1850-01-02"
    assert got[1][created] == datetime(2024, 5, 6, 7, 8, 9)
    assert got[2][birth] == datetime(1900, 1, 1)
    assert got[2][created] == datetime(1999, 12, 31, 23, 59, 59)


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (None, "Participants"),
        ("", "Participants"),
        ("Q1 [draft]: a/b\\c?*", "Q1 draft abc"),
        ("'quoted'", "quoted"),
        ("x" * 40, "x" * 31),
        ("[]:*?/\\", "Participants"),
        ("History", "Participants"),
        ("Peserta 2024 — Jawa", "Peserta 2024 — Jawa"),
        ("tab\there", "tabhere"),
    ],
)
def test_sheet_names_are_made_valid(requested: str | None, expected: str, tmp_path: Path) -> None:
    template = CATALOG.template("participants", "standard")
    path = write_xlsx(hand_mapped(template, [{"id": 1}]), tmp_path / "n.xlsx", sheet_name=requested)
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == [expected]
    workbook.close()


def test_rollover_to_new_sheets_with_header(tmp_path: Path) -> None:
    template = CATALOG.template("participants", "standard")
    mapped = hand_mapped(template, [{"id": i, "first_name": f"n{i}"} for i in range(1, 8)])
    path = tmp_path / "roll.xlsx"
    options = ExportOptions("participants", sheet_name="S" * 31)
    xlsx.write(mapped, 0, 7, path, options, rows_per_sheet=3)
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["S" * 31, "S" * 27 + " (2)", "S" * 27 + " (3)"]
    ids = []
    for index, ws in enumerate(workbook.worksheets):
        _assert_header(ws, template)
        assert ws.freeze_panes == "A2"
        ids += [row[0] for row in sheet_rows(path, index)[1:]]
    assert ids == list(range(1, 8))
    assert workbook.worksheets[2].auto_filter.ref == "A1:I2"
    workbook.close()


def test_slice_and_empty_slice(tmp_path: Path) -> None:
    template = CATALOG.template("ambassadors", "standard")
    mapped = hand_mapped(template, [{"id": i} for i in range(10)])
    opts = ExportOptions("ambassadors")
    xlsx.write(mapped, 4, 7, tmp_path / "part.xlsx", opts)
    assert [r[0] for r in sheet_rows(tmp_path / "part.xlsx")[1:]] == [4, 5, 6]
    xlsx.write(mapped, 3, 3, tmp_path / "empty.xlsx", opts)
    assert sheet_rows(tmp_path / "empty.xlsx") == [list(template.headers)]


def test_sheet_names_drop_invisible_format_characters() -> None:
    from export_core.writers.xlsx import sheet_name

    assert sheet_name("Pay\u202ements\u200b 2024", "Payments") == "Payments 2024"
    assert sheet_name("\u202e\u200f", "Payments") == "Payments"


def test_spill_files_are_closed_and_removed_when_close_fails(tmp_path: Path) -> None:
    import xlsxwriter

    from export_core.writers.rowstream import discard_spill_files

    workbook = xlsxwriter.Workbook(
        str(tmp_path / "never.xlsx"), {"constant_memory": True, "tmpdir": str(tmp_path)}
    )
    sheet = workbook.add_worksheet()
    sheet.write_string(0, 0, "header")
    spill = Path(sheet.row_data_filename)
    assert spill.exists()
    discard_spill_files(workbook)
    assert sheet.row_data_fh.closed
    assert not spill.exists()


def test_written_workbooks_do_not_keep_their_sheet_xml(tmp_path: Path) -> None:
    """A closed xlsxwriter Workbook is freed only by the cyclic garbage collector (it and its
    worksheets refer to each other), and a workbook packaged in memory keeps each sheet's
    XML text until then. With the collector off, writing five workbooks must not leave even
    one sheet's XML behind."""
    mapped = mapped_sample(CATALOG.template("participants", "complete"), count=1_000)
    was_enabled = gc.isenabled()
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(5):
            write_xlsx(mapped, tmp_path / f"{n}.xlsx")
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        if was_enabled:
            gc.enable()
    with zipfile.ZipFile(tmp_path / "0.xlsx") as zf:
        sheet_xml = zf.getinfo("xl/worksheets/sheet1.xml").file_size
    assert sheet_xml > 500_000  # 1,000 complete rows: the XML is big enough to matter
    assert held < sheet_xml, f"{held:,} bytes still held after 5 workbooks"
