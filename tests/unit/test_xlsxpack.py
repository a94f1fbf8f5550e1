"""Small workbooks packaged from a skeleton (writers/xlsxpack.py) against xlsxwriter's own
packaging of the same rows (`xlsx.write_blocks`): the same members, in the same order, with
the same ZIP attributes, each decompressing to the same bytes (the creation time aside)."""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from benchmarks.datagen import records
from export_core import service
from export_core.catalog import get_catalog
from export_core.mapping import map_frame
from export_core.model import ExportOptions, MappedFrame
from export_core.readers import records_to_frame
from export_core.writers import xlsx, xlsxpack
from export_core.writers.xlsxrows import template_styles

CATALOG = get_catalog()
TEMPLATES = [(t, n) for t, kind in CATALOG.types.items() for n in kind.templates]
_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ZIP_ATTRIBUTES = (
    "filename",
    "date_time",
    "compress_type",
    "external_attr",
    "internal_attr",
    "create_system",
    "create_version",
    "extract_version",
    "flag_bits",
    "extra",
    "comment",
    "file_size",
)


def _reference(rows: MappedFrame, options: ExportOptions, path: Path) -> bytes:
    """What xlsxwriter writes for the same rows and widths (its in-memory packaging)."""
    widths = xlsx.column_widths(rows, 0, rows.height)
    xlsx.write_blocks([rows], rows.height, widths, path, options)
    return path.read_bytes()


def _packed(rows: MappedFrame, options: ExportOptions) -> bytes | None:
    widths = xlsx.column_widths(rows, 0, rows.height)
    title = xlsx.sheet_name(options.sheet_name, xlsx._default_sheet_name(rows))
    return xlsxpack.pack(rows, widths, title, template_styles(rows.template.columns))


def assert_same_package(ours: bytes, theirs: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(ours)) as a, zipfile.ZipFile(io.BytesIO(theirs)) as b:
        assert a.testzip() is None
        got, want = a.infolist(), b.infolist()
        assert [i.filename for i in got] == [i.filename for i in want]
        for mine, reference in zip(got, want, strict=True):
            for attribute in ZIP_ATTRIBUTES:
                assert getattr(mine, attribute) == getattr(reference, attribute), (
                    mine.filename,
                    attribute,
                )
            content, expected = a.read(mine), b.read(reference)
            if mine.filename == xlsxpack.CORE:  # the time each file was packaged
                content, expected = _STAMP.sub(b"T", content), _STAMP.sub(b"T", expected)
            assert content == expected, mine.filename


def _mapped(export_type: str, template: str, count: int, seed: int = 5) -> MappedFrame:
    frame = records_to_frame(records(export_type, count, seed=seed))
    return map_frame(frame, CATALOG.template(export_type, template))


@pytest.mark.parametrize(("export_type", "template"), TEMPLATES)
def test_every_template_prepared_or_not(export_type: str, template: str, tmp_path: Path) -> None:
    mapped = _mapped(export_type, template, 1_300)
    options = ExportOptions(export_type, template)
    prepared = xlsx.prepare(mapped, [(0, 300), (300, 1_300)])
    for source in (mapped, prepared):  # rows rendered by `prepare`, or by pack itself
        rows = dataclasses.replace(source, frame=source.frame.slice(300, 1_000))
        ours = _packed(rows, options)
        assert ours is not None
        assert_same_package(ours, _reference(rows, options, tmp_path / "ref.xlsx"))


@pytest.mark.parametrize("count", [1, 2, 4_999, 5_000])
def test_sizes(count: int, tmp_path: Path) -> None:
    mapped = _mapped("participants", "complete", count, seed=count)
    options = ExportOptions("participants", "complete")
    ours = _packed(mapped, options)
    assert ours is not None
    assert_same_package(ours, _reference(mapped, options, tmp_path / "ref.xlsx"))


@pytest.mark.parametrize(
    "name",
    ["Daftar Peserta", 'It\'s <&> "quoted"', "Peserta é漢字", "x" * 31, "2024 Q1", "A1"],
)
def test_sheet_names(name: str, tmp_path: Path) -> None:
    mapped = _mapped("payments", "detailed", 40)
    options = ExportOptions("payments", "detailed", sheet_name=name)
    ours = _packed(mapped, options)
    assert ours is not None
    assert_same_package(ours, _reference(mapped, options, tmp_path / "ref.xlsx"))


def test_rows_without_any_cell_narrow_the_used_range_only(tmp_path: Path) -> None:
    """Trailing rows with no cell at all are left out of the sheet and of <dimension>, while
    the autofilter still covers every row (as xlsxwriter writes it)."""
    mapped = _mapped("ambassadors", "standard", 30)
    blank = pl.DataFrame(
        [pl.Series(c, [None] * 5, dtype=mapped.frame.schema[c]) for c in mapped.frame.columns]
    )
    rows = dataclasses.replace(mapped, frame=pl.concat([mapped.frame, blank]))
    options = ExportOptions("ambassadors", "standard")
    ours = _packed(rows, options)
    assert ours is not None
    assert_same_package(ours, _reference(rows, options, tmp_path / "ref.xlsx"))
    with zipfile.ZipFile(io.BytesIO(ours)) as archive:
        sheet = archive.read(xlsxpack.SHEET)
    last = xlsxpack.skeleton(rows.template, "Ambassadors")
    assert last is not None
    column = last.last_column
    assert b'<dimension ref="A1:' + column + b'31"/>' in sheet
    assert b'<autoFilter ref="A1:' + column + b'36"/>' in sheet
    only_blank = dataclasses.replace(mapped, frame=blank)
    ours = _packed(only_blank, options)
    assert ours is not None
    assert_same_package(ours, _reference(only_blank, options, tmp_path / "ref2.xlsx"))


def test_a_name_with_the_sentinel_row_falls_back_to_xlsxwriter(tmp_path: Path) -> None:
    mapped = _mapped("participants", "standard", 10)
    options = ExportOptions("participants", "standard", sheet_name="Row 1048575")
    assert _packed(mapped, options) is None
    target = tmp_path / "fallback.xlsx"
    xlsx.write(mapped, 0, mapped.height, target, options)
    assert_same_package(target.read_bytes(), _reference(mapped, options, tmp_path / "r.xlsx"))
    rendered = xlsx.render(mapped, 0, mapped.height, options)
    assert_same_package(rendered, _reference(mapped, options, tmp_path / "r2.xlsx"))


def test_the_creation_time_is_when_the_file_is_packaged() -> None:
    mapped = _mapped("payments", "standard", 5)
    before = datetime.now(UTC).replace(microsecond=0)
    ours = _packed(mapped, ExportOptions("payments", "standard"))
    after = datetime.now(UTC)
    assert ours is not None
    with zipfile.ZipFile(io.BytesIO(ours)) as archive:
        stamps = _STAMP.findall(archive.read(xlsxpack.CORE))
    assert len(stamps) == 2 and stamps[0] == stamps[1]
    when = datetime.strptime(stamps[0].decode(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= when <= after


def test_an_export_s_files_and_zip_read_back(tmp_path: Path) -> None:
    """Through the service: every batch file equals xlsxwriter's, the ZIP holds the same
    bytes, and openpyxl reads the rows back."""
    frame = records_to_frame(records("participants", 6_500, seed=9))
    options = ExportOptions("participants", "complete")
    result = service.write_export(frame, options, tmp_path / "out")
    assert result.plan.total_files > 2 and result.archive is not None
    mapped = map_frame(frame, CATALOG.template("participants", "complete"))
    with zipfile.ZipFile(tmp_path / "out" / result.archive.zip_file_name) as archive:
        for written in result.files:
            data = (tmp_path / "out" / written.file_name).read_bytes()
            assert archive.read(written.file_name) == data
            start = int(written.record_range.split("-")[0]) - 1
            rows = dataclasses.replace(
                mapped, frame=mapped.frame.slice(start, written.record_count)
            )
            assert_same_package(data, _reference(rows, options, tmp_path / "ref.xlsx"))
    book = openpyxl.load_workbook(tmp_path / "out" / result.files[-1].file_name, read_only=True)
    try:
        sheet = book.worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
    finally:
        book.close()
    assert list(values[0]) == [c.header for c in mapped.template.columns]
    assert len(values) == 1 + result.files[-1].record_count
    assert values[-1][0] == mapped.frame.get_column(mapped.template.columns[0].field)[-1]
