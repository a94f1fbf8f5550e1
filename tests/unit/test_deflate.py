"""xlsx packaging through zlib-ng in parallel pieces: the same members, a valid deflate stream,
and no global change to xlsxwriter or zipfile."""

from __future__ import annotations

import os
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

import deflate as libdeflate
import openpyxl
import pytest
import xlsxwriter
import xlsxwriter.workbook
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.datagen import records
from export_core.catalog import get_catalog
from export_core.mapping import map_frame
from export_core.model import ExportOptions
from export_core.readers import records_to_frame
from export_core.settings import Settings, xlsx_deflate_level
from export_core.writers import deflate, rowstream, xlsx, xlsxpack
from tests.unit.engine_helpers import wait_for_child

FIXED_CREATED = datetime(2026, 12, 5, 12, 0, 0)


def _deflated(deflater: deflate.ParallelDeflater, data: bytes, cuts: list[int]) -> bytes:
    """Feed `data` in the pieces that `cuts` (sizes) give, as ZipFile does, then flush."""
    out, pos = [], 0
    for size in cuts:
        out.append(deflater.compress(data[pos : pos + size]))
        pos += size
    out.append(deflater.compress(data[pos:]))
    out.append(deflater.flush())
    return b"".join(out)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=3000)
    | st.text(alphabet='<c r="A1">0123456789</', max_size=6000).map(str.encode),
    block=st.integers(min_value=1, max_value=700),
    cuts=st.lists(st.integers(min_value=0, max_value=900), max_size=12),
    level=st.sampled_from([1, 6, 9]),
)
def test_pieces_concatenated_are_one_stream_of_the_same_data(
    data: bytes, block: int, cuts: list[int], level: int
) -> None:
    out = _deflated(deflate.ParallelDeflater(level, block_bytes=block), data, cuts)
    assert zlib.decompress(out, -15) == data


def _sheet_like(rows: int) -> bytes:
    return b"".join(
        b'<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d" t="inlineStr"><is><t>name %d</t></is>'
        b"</c></row>" % (r, r, r * 7919 % 100003, r, r % 977)
        for r in range(1, rows + 1)
    )


def test_a_big_member_goes_to_the_pool_and_stays_as_small_as_one_stream() -> None:
    data = _sheet_like(120_000)  # ~10 MB: five pieces
    assert len(data) > 4 * deflate.BLOCK_BYTES
    deflater = deflate.ParallelDeflater()
    out = _deflated(deflater, data, [65_536] * 200)
    assert deflater._started  # it really went through the pool
    assert zlib.decompress(out, -15) == data
    one = zlib.compressobj(6, zlib.DEFLATED, -15)
    reference = one.compress(data) + one.flush()
    assert len(out) <= len(reference) * 1.02  # the issue allows +10%; zlib-ng is ~0.5% smaller


def test_only_finishing_is_supported() -> None:
    deflater = deflate.ParallelDeflater()
    try:
        deflater.flush(zlib.Z_SYNC_FLUSH)
    except ValueError:
        return
    raise AssertionError("a sync flush must be refused, not silently finish the stream")


def _write_plain(cls: type, path: Path, rows: int) -> None:
    workbook = cls(str(path), {"constant_memory": True})
    workbook.set_properties({"created": FIXED_CREATED})
    sheet = workbook.add_worksheet("Data")
    for r in range(rows):
        sheet.write_row(r, 0, [r, f"text é漢 {r % 97}", r * 0.5])
    workbook.close()


def test_workbook_members_equal_xlsxwriters_own(tmp_path: Path) -> None:
    """Deflated by zlib-ng in pieces, rows copied as bytes (ByteCopyWorksheet): the same
    decompressed parts as xlsxwriter's own Workbook writes."""
    assert deflate.Workbook.worksheet_class is rowstream.ByteCopyWorksheet
    for rows in (10, 60_000):  # one small package; one whose sheet is cut into pieces
        ours, theirs = tmp_path / f"ours{rows}.xlsx", tmp_path / f"theirs{rows}.xlsx"
        _write_plain(deflate.Workbook, ours, rows)
        _write_plain(xlsxwriter.Workbook, theirs, rows)
        with zipfile.ZipFile(ours) as a, zipfile.ZipFile(theirs) as b:
            assert a.testzip() is None
            assert [i.filename for i in a.infolist()] == [i.filename for i in b.infolist()]
            for info in a.infolist():
                assert info.compress_type == zipfile.ZIP_DEFLATED
                assert a.read(info) == b.read(info.filename), info.filename
        book = openpyxl.load_workbook(ours, read_only=True)
        try:
            sheet = book["Data"]
            last = next(sheet.iter_rows(min_row=rows, max_row=rows, values_only=True))
        finally:
            book.close()
        assert last == (rows - 1, f"text é漢 {(rows - 1) % 97}", (rows - 1) * 0.5)


def test_nothing_global_is_replaced() -> None:
    assert xlsxwriter.workbook.ZipFile is zipfile.ZipFile
    assert xlsxwriter.Workbook._store_workbook is not deflate.Workbook._store_workbook
    assert deflate.Workbook._store_workbook.__globals__["ZipFile"] is deflate.XlsxZipFile


def _recorded_deflaters(monkeypatch: pytest.MonkeyPatch) -> list[deflate.ParallelDeflater]:
    made: list[deflate.ParallelDeflater] = []

    class Recorded(deflate.ParallelDeflater):
        def __init__(self, level: int | None = None) -> None:
            super().__init__(level)
            made.append(self)

    monkeypatch.setattr(deflate, "ParallelDeflater", Recorded)
    return made


def test_the_export_writer_packages_through_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files xlsxwriter packages (here: through write_blocks, as for big files)."""
    made = _recorded_deflaters(monkeypatch)
    frame = records_to_frame(records("participants", 50, seed=3))
    mapped = map_frame(frame, get_catalog().template("participants", "complete"))
    target = tmp_path / "p.xlsx"
    options = ExportOptions("participants", "complete")
    xlsx.write_blocks([mapped], mapped.height, None, target, options)
    with zipfile.ZipFile(target) as archive:
        assert len(made) == len(archive.infolist())  # every member, deflated at the set level
        assert archive.testzip() is None
    assert {d.level for d in made} == {deflate.LEVEL}


@pytest.mark.parametrize("level", [1, deflate.LEVEL, 9])
def test_small_files_packaged_from_a_skeleton_deflate_at_the_set_level(
    level: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small files (xlsxpack): every member, fixed or the file's own, is what libdeflate
    makes of its content at the set level, held whole (the levels tested differ by 10-50% on
    the sheet)."""
    monkeypatch.setattr(deflate, "LEVEL", level)
    xlsxpack.skeleton.cache_clear()  # its fixed members were deflated at the level of then
    frame = records_to_frame(records("participants", 50, seed=3))
    mapped = map_frame(frame, get_catalog().template("participants", "complete"))
    target = tmp_path / "a.xlsx"
    xlsx.write(mapped, 0, 50, target, ExportOptions("participants", "complete"))
    xlsxpack.skeleton.cache_clear()
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        for info in archive.infolist():
            expected = libdeflate.deflate_compress(archive.read(info), level)
            assert info.compress_size == len(expected), info.filename


def test_a_forked_child_deflates_with_a_pool_of_its_own(tmp_path: Path) -> None:
    """The parent's pool exists before the fork; the child's pieces must still be deflated
    (an inherited pool has no threads, and the child would hang)."""
    data = _sheet_like(60_000)
    assert zlib.decompress(_deflated(deflate.ParallelDeflater(), data, [1 << 20] * 4), -15)
    assert deflate._POOL.started
    result = tmp_path / "child.bin"
    pid = os.fork()
    if pid == 0:  # the child: write its stream and leave without running pytest's exit code
        try:
            result.write_bytes(_deflated(deflate.ParallelDeflater(), data, [1 << 20] * 4))
        finally:
            os._exit(0)
    wait_for_child(pid, "the forked child's deflate")
    assert zlib.decompress(result.read_bytes(), -15) == data


def test_the_level_setting(tmp_path: Path) -> None:
    assert xlsx_deflate_level({}) == 4
    assert Settings.from_env({"YBB_DATA_DIR": str(tmp_path)}).xlsx_deflate_level == 4
    assert xlsx_deflate_level({"YBB_XLSX_DEFLATE_LEVEL": " 6 "}) == 6
    for bad in ("0", "10", "fast", "-1", "4.5"):
        with pytest.raises(ValueError, match="YBB_XLSX_DEFLATE_LEVEL must be a whole number"):
            Settings.from_env({"YBB_DATA_DIR": str(tmp_path), "YBB_XLSX_DEFLATE_LEVEL": bad})


@pytest.mark.parametrize("level", [1, 4, 6])
def test_each_level_gives_the_same_members(level: int) -> None:
    data = _sheet_like(20_000)
    assert (
        zlib.decompress(_deflated(deflate.ParallelDeflater(level), data, [1 << 20] * 4), -15)
        == data
    )
