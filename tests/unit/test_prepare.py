"""The service's grouped `prepare` step: files written from prepared rows equal files written
directly, groups cover every batch once, and widths are measured as before."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import polars as pl
import pytest

from benchmarks.datagen import records
from export_core import service
from export_core.catalog import get_catalog
from export_core.mapping import map_frame
from export_core.model import ExportOptions, file_index
from export_core.plan import plan_export
from export_core.readers import records_to_frame
from export_core.writers import csv, xlsx, xlsxwidths

CATALOG = get_catalog()


def test_prepared_csv_files_equal_direct_ones(tmp_path: Path) -> None:
    template = CATALOG.template("payments", "detailed")
    frame = records_to_frame(records("payments", 7_000, seed=2))
    options = ExportOptions("payments", "detailed", "csv", csv_bom=True)
    result = service.write_export(frame, options, tmp_path / "svc")
    mapped = map_frame(frame, template)
    assert result.plan.total_files > 2
    for written in result.files:
        start = int(written.record_range.split("-")[0]) - 1
        alone = tmp_path / f"alone-{written.batch_number}.csv"
        csv.write(mapped, start, start + written.record_count, alone, options)
        assert (tmp_path / "svc" / written.file_name).read_bytes() == alone.read_bytes()


def test_groups_cover_every_batch_once_in_order() -> None:
    template = CATALOG.template("participants", "complete")
    options = ExportOptions("participants", "complete")
    plan = plan_export(50_000, template, options, CATALOG.limits)
    groups = list(service._groups(plan.batches))
    assert [b for g in groups for b in g] == list(plan.batches)
    assert all(sum(b.record_count for b in g) <= service.PREPARE_ROWS for g in groups)
    big = plan_export(7, template, ExportOptions("participants", chunking="off"), CATALOG.limits)
    assert list(service._groups(big.batches)) == [list(big.batches)]


def test_widths_are_measured_per_file_slice() -> None:
    template = CATALOG.template("payments", "detailed")
    mapped = map_frame(records_to_frame(records("payments", 200, seed=4)), template)
    index = template.fields.index("reference_number")
    header = template.columns[index].header
    longest = mapped.frame.slice(10, 20).get_column("reference_number").str.len_chars().max()
    assert isinstance(longest, int)
    widths = xlsx.column_widths(mapped, 10, 30)
    assert widths[index] == min(max(max(longest, len(header)) + 2, 8), 50)
    empty = xlsx.column_widths(mapped, 0, 0)
    assert empty == [min(max(len(c.header) + 2, 8), 50) for c in template.columns]


def test_prepared_files_carry_the_widths_each_file_measures() -> None:
    """`prepare` measures every file of a group in one query; a slice that is exactly one
    file gets those widths, any other slice is measured as before."""
    template = CATALOG.template("payments", "detailed")
    frame = records_to_frame(records("payments", 900, seed=6))
    mapped = map_frame(frame, template)
    bounds = [(0, 1), (1, 300), (300, 301), (301, 900)]
    prepared = xlsx.prepare(mapped, bounds)
    assert xlsxwidths.WIDTHS_COLUMN in prepared.frame.columns
    for start, stop in bounds:
        one = dataclasses.replace(prepared, frame=prepared.frame.slice(start, stop - start))
        assert xlsxwidths._carried(one.frame) == xlsx.column_widths(mapped, start, stop)
        assert xlsx.column_widths(one, 0, one.height) == xlsx.column_widths(mapped, start, stop)
    for start, stop in [(0, 2), (1, 299), (2, 300), (250, 700), (0, 900)]:  # not one file
        assert xlsxwidths._carried(prepared.frame.slice(start, stop - start)) is None
        measured = xlsx.column_widths(prepared, start, stop)
        assert measured == xlsx.column_widths(mapped, start, stop)
    # the longest reference number sits in one file: only that file's width grows
    index = template.fields.index("reference_number")
    long = mapped.frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 500)
        .then(pl.lit("R" * 40))
        .otherwise(pl.col("reference_number"))
        .alias("reference_number")
    )
    grown = xlsx.prepare(dataclasses.replace(mapped, frame=long), bounds)
    carried = [
        xlsxwidths._carried(grown.frame.slice(start, stop - start)) for start, stop in bounds
    ]
    assert [w[index] for w in carried if w] == [
        xlsx.column_widths(mapped, start, stop)[index] for start, stop in bounds[:3]
    ] + [42]


def test_a_small_export_is_prepared_in_one_group() -> None:
    """Up to ONE_GROUP_ROWS rows, every batch file is prepared in one group (one set of
    polars calls); beyond it, groups of at most PREPARE_ROWS as before."""
    template = CATALOG.template("participants", "standard")
    options = ExportOptions("participants", "standard")
    small = plan_export(service.ONE_GROUP_ROWS, template, options, CATALOG.limits)
    assert small.total_files > 1 and small.chunk_size < service.PREPARE_ROWS
    assert list(service._groups(small.batches)) == [list(small.batches)]
    bigger = plan_export(service.ONE_GROUP_ROWS + 1, template, options, CATALOG.limits)
    groups = list(service._groups(bigger.batches))
    assert len(groups) > 1 and [b for g in groups for b in g] == list(bigger.batches)
    assert all(sum(b.record_count for b in g) <= service.PREPARE_ROWS for g in groups)


def _xlsx_parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:  # core.xml holds the time it was written
        return {n: archive.read(n) for n in archive.namelist() if n != "docProps/core.xml"}


def test_files_prepared_in_one_group_equal_those_of_smaller_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = records_to_frame(records("participants", 9_000, seed=8))
    options = ExportOptions("participants", "standard")
    one = service.write_export(frame, options, tmp_path / "one")
    monkeypatch.setattr(service, "ONE_GROUP_ROWS", 0)
    several = service.write_export(frame, options, tmp_path / "several")
    assert one.plan.total_files == several.plan.total_files > 2
    for written in one.files:
        got = _xlsx_parts(tmp_path / "one" / written.file_name)
        assert got == _xlsx_parts(tmp_path / "several" / written.file_name)


@pytest.mark.parametrize("sizes", [[1000] * 5, [1], [3, 1, 2], [2500, 2500, 17], []])
def test_file_index_numbers_each_row_by_its_file(sizes: list[int]) -> None:
    index = file_index(sizes)
    expected = [number for number, size in enumerate(sizes) for _ in range(size)]
    assert index.dtype == pl.Int32 and index.to_list() == expected
