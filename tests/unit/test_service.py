"""Service entry points on a real filesystem: files, names, ranges, ZIP, progress, cleanup."""

from __future__ import annotations

import csv
import pickle
import platform
import sys
import threading
import tomllib
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from benchmarks.datagen import records
from export_core import archive, heap, mapping, service
from export_core.archive import build_zip
from export_core.catalog import Catalog, get_catalog, parse_catalog
from export_core.errors import (
    LimitExceeded,
    NoDataError,
    StorageError,
    UnknownExportType,
    UnknownFormat,
    UnknownTemplate,
    ValidationError,
)
from export_core.model import ExportOptions, ExportResult, MappedFrame
from export_core.readers import records_to_frame
from export_core.service import batch_rows, preview, write_batch, write_export
from export_core.writers import WRITERS
from export_core.writers import csv as csv_writer
from export_core.writers import xlsx as xlsx_writer
from tests.unit.engine_helpers import sheet_rows

CATALOG = get_catalog()


def frame_of(export_type: str, count: int, seed: int = 1) -> pl.DataFrame:
    return records_to_frame(records(export_type, count, seed=seed))


@pytest.fixture(scope="module")
def participants_6000() -> pl.DataFrame:
    return frame_of("participants", 6_000)


def test_single_file_export(tmp_path: Path) -> None:
    options = ExportOptions("participants", "standard", filename="participants_export.xlsx")
    result = write_export(frame_of("participants", 3), options, tmp_path)
    assert result.plan.strategy == "single_file"
    assert result.archive is None
    (written,) = result.files
    assert (written.file_name, written.record_count, written.record_range) == (
        "participants_export.xlsx",
        3,
        "1-3",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["participants_export.xlsx"]
    assert written.file_size == (tmp_path / written.file_name).stat().st_size
    assert sheet_rows(tmp_path / written.file_name)[0] == list(
        CATALOG.template("participants", "standard").headers
    )
    assert result.quality.rows == 3


def small_catalog() -> Catalog:
    """The real catalog with a threshold of 10 records and a chunk base of 4 for participants
    complete (so the seed's rule gives min(4 * 2, 3,000) = 8 records per file)."""
    raw = tomllib.loads(resources.files("export_core").joinpath("catalog.toml").read_text())
    raw["performance"]["chunked_threshold"] = 10
    raw["types"]["participants"]["chunk_sizes"]["complete"] = 4
    return parse_catalog(raw)


def _export_20_participants(options: ExportOptions, target: Path) -> ExportResult:
    """20 participants exported into `target` with the small catalog (3 batch files), the
    progress reported once per file, the last call once everything is in place."""
    calls: list[tuple[int, int]] = []
    result = write_export(
        frame_of("participants", 20),
        options,
        target,
        progress=lambda done, total: calls.append((done, total)),
        catalog=small_catalog(),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    return result


def test_multi_file_xlsx_export_with_zip_and_progress(tmp_path: Path) -> None:
    result = _export_20_participants(ExportOptions("participants", "complete"), tmp_path)
    names = [f.file_name for f in result.files]
    assert names == [f"participants_batch_{n}_of_3.xlsx" for n in (1, 2, 3)]
    assert [f.record_range for f in result.files] == ["1-8", "9-16", "17-20"]
    assert result.archive is not None
    assert result.archive.zip_file_name == "participants_complete_export.zip"
    expected = sorted([*names, result.archive.zip_file_name])
    assert sorted(p.name for p in tmp_path.iterdir()) == expected
    zip_path = tmp_path / result.archive.zip_file_name
    assert result.archive.zip_file_size == zip_path.stat().st_size
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.namelist() == names
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    ids = [row[0] for name in names for row in sheet_rows(tmp_path / name)[1:]]
    assert ids == list(range(1, 21))  # every record exactly once, in order
    for written in result.files:
        assert written.file_size == (tmp_path / written.file_name).stat().st_size


def _threaded_export(
    out: Path, fmt: str, threads: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, ...]:
    """64 participants in 8 files (small catalog) with WRITE_THREADS = `threads`: the progress
    calls, the files (names, counts, ranges), the ZIP's members and every file's content
    (sheet cells, csv bytes). Checks which threads wrote the files and that nothing else is
    in `out`."""
    monkeypatch.setattr(service, "WRITE_THREADS", threads)
    real_write_one = service._write_one
    writers: set[str] = set()

    def spy(*args: Any) -> Any:
        writers.add(threading.current_thread().name.rstrip("_0123456789"))
        return real_write_one(*args)

    monkeypatch.setattr(service, "_write_one", spy)
    calls: list[tuple[int, int]] = []
    result = write_export(
        frame_of("participants", 64),
        ExportOptions("participants", "complete", fmt),
        out,
        progress=lambda done, total: calls.append((done, total)),
        catalog=small_catalog(),
    )
    assert writers == ({"batch-writer"} if threads > 1 else {"MainThread"})
    assert result.archive is not None
    with zipfile.ZipFile(out / result.archive.zip_file_name) as zf:
        members = [(i.filename, i.compress_type, i.file_size, i.CRC) for i in zf.infolist()]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(m[0] for m in members), result.archive.zip_file_name]
    )
    files = [(f.file_name, f.record_count, f.record_range) for f in result.files]
    if fmt == "csv":
        content: list[Any] = [(out / f.file_name).read_bytes() for f in result.files]
    else:  # an xlsx file holds its creation time: compare cells, and the members by name
        content = [sheet_rows(out / f.file_name) for f in result.files]
        members = [m[:2] for m in members]
    return calls, files, members, content


@pytest.mark.parametrize("fmt", ["csv", "excel"])
def test_writer_threads_write_what_one_thread_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """The batch files written by the writer threads and one by one: the same files, content,
    results, ZIP members and progress calls, in order."""
    one = _threaded_export(tmp_path / "one", fmt, 1, monkeypatch)
    threaded = _threaded_export(tmp_path / "threads", fmt, service.WRITE_THREADS, monkeypatch)
    assert threaded == one
    calls, files, members, _ = one
    assert calls == [(n, 8) for n in range(1, 9)]
    assert [m[0] for m in members] == [name for name, _, _ in files]
    assert len(files) == 8


def test_seed_example_6000_complete(participants_6000: pl.DataFrame, tmp_path: Path) -> None:
    """The seed's multi-file response example, end to end (CSV keeps it quick)."""
    result = write_export(
        participants_6000, ExportOptions("participants", "complete", "csv"), tmp_path
    )
    assert result.plan.total_files == 3
    assert [f.file_name for f in result.files] == [
        f"participants_batch_{n}_of_3.csv" for n in (1, 2, 3)
    ]
    assert [f.record_range for f in result.files] == ["1-2000", "2001-4000", "4001-6000"]
    assert result.archive is not None
    assert result.archive.zip_file_name == "participants_complete_export.zip"
    ids = []
    for written in result.files:
        with (tmp_path / written.file_name).open(encoding="utf-8", newline="") as handle:
            ids += [int(row[0]) for row in list(csv.reader(handle))[1:]]
    assert ids == list(range(1, 6_001))


def test_multi_file_csv_is_deflated(participants_6000: pl.DataFrame, tmp_path: Path) -> None:
    options = ExportOptions("participants", "complete", "csv", filename="Q1 list", csv_bom=True)
    result = write_export(participants_6000, options, tmp_path)
    assert result.files[0].file_name == "Q1 list_batch_1_of_3.csv"
    assert result.archive is not None and result.archive.zip_file_name == "Q1 list.zip"
    with zipfile.ZipFile(tmp_path / "Q1 list.zip") as zf:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    assert float(result.archive.compression_ratio.rstrip("%")) > 50


def test_chunking_off_gives_one_file(participants_6000: pl.DataFrame, tmp_path: Path) -> None:
    options = ExportOptions("participants", "summary", "csv", chunking="off")
    result = write_export(participants_6000, options, tmp_path)
    assert result.plan.strategy == "single_file"
    assert [p.name for p in tmp_path.iterdir()] == ["participants_summary_export.csv"]


def test_size_errors(tmp_path: Path) -> None:
    options = ExportOptions("participants")
    with pytest.raises(NoDataError, match=r"^No data provided for export$"):
        write_export(pl.DataFrame(), options, tmp_path)
    with pytest.raises(LimitExceeded, match=r"^Data exceeds maximum limit of 5 records$"):
        write_export(frame_of("participants", 6), options, tmp_path, max_records=5)
    big = pl.DataFrame({"id": [str(i) for i in range(50_001)]})
    with pytest.raises(LimitExceeded, match=r"^Data exceeds maximum limit of 50000 records$"):
        write_export(big, options, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (ExportOptions("visitors"), UnknownExportType, "Unknown export type 'visitors'"),
        (
            ExportOptions("participants", "invalid_template"),
            UnknownTemplate,
            "Template 'invalid_template' not found for participants",
        ),
        (ExportOptions("participants", format="pdf"), UnknownFormat, "Unsupported format 'pdf'"),
        (ExportOptions("participants", chunking="maybe"), ValidationError, "chunking 'maybe'"),
    ],
)
def test_option_errors(options: ExportOptions, error: type, message: str, tmp_path: Path) -> None:
    frame = frame_of("participants", 2)
    with pytest.raises(error, match=message):
        write_export(frame, options, tmp_path)
    with pytest.raises(error, match=message):
        preview(frame, options)


class FailingWriter:
    """A CSV writer that writes half a file and then fails on its `fail_on`-th call (calls
    may come from several writer threads)."""

    format = "csv"
    extension = "csv"
    media_type = csv_writer.media_type

    def __init__(self, fail_on: int, error: BaseException) -> None:
        self.calls = 0
        self.fail_on = fail_on
        self.error = error
        self._lock = threading.Lock()

    def write(self, mapped: MappedFrame, start: int, stop: int, path: Path, options: Any) -> None:
        with self._lock:
            self.calls += 1
            failing = self.calls == self.fail_on
        if failing:
            path.write_bytes(b"half a workbook")
            raise self.error
        csv_writer.write(mapped, start, stop, path, options)


@pytest.mark.parametrize("threads", [1, service.WRITE_THREADS])
@pytest.mark.parametrize(
    ("error", "raised"),
    [(RuntimeError("disk on fire"), RuntimeError), (OSError(28, "No space left"), StorageError)],
)
def test_failing_writer_leaves_nothing_behind(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
    raised: type,
    threads: int,
) -> None:
    """The second of 8 batch files fails. Written one by one, no third file is started; with
    writer threads, only those already handed out are (at most WRITE_THREADS beyond the
    failing one). Either way no file stays behind: not the half-written one, not those the
    other threads completed."""
    monkeypatch.setattr(service, "WRITE_THREADS", threads)
    writer = FailingWriter(fail_on=2, error=error)
    monkeypatch.setitem(WRITERS, "csv", writer)
    (tmp_path / "someone_elses.txt").write_text("keep me")
    with pytest.raises(raised) as info:
        write_export(
            frame_of("participants", 64),
            ExportOptions("participants", "complete", "csv"),
            tmp_path,
            catalog=small_catalog(),  # 8 files of 8 rows
        )
    if threads == 1:
        assert writer.calls == 2
    else:
        assert 2 <= writer.calls <= 2 + threads < 8
    assert [p.name for p in tmp_path.iterdir()] == ["someone_elses.txt"]
    assert _writer_threads() == []
    if raised is StorageError:
        assert info.value.args[0] == "Could not write export files: No space left"


@pytest.mark.parametrize("fmt", ["csv", "excel"])
@pytest.mark.parametrize("at", [1, 2])
def test_progress_raising_cancels_and_cleans_up(
    participants_6000: pl.DataFrame, tmp_path: Path, at: int, fmt: str
) -> None:
    """Progress raising after `at` files (what a cancel button does): no file stays behind,
    and the ZIP thread and the writer threads (excel) are stopped."""

    def cancel(done: int, total: int) -> None:
        if done == at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_export(
            participants_6000,
            ExportOptions("participants", "complete", fmt),
            tmp_path,
            progress=cancel,
        )
    assert list(tmp_path.iterdir()) == []
    assert _zip_builder_threads() == []
    assert _writer_threads() == []


def test_unwritable_target_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match=r"^Could not write export files: "):
        write_export(frame_of("payments", 2), ExportOptions("payments"), blocker / "sub")


def test_write_batch_arguments_pickle(tmp_path: Path) -> None:
    """What a process pool would send: the batch's rows only, the plan, options, a directory."""
    from export_core.mapping import map_frame
    from export_core.plan import plan_export

    template = CATALOG.template("ambassadors", "detailed")
    options = ExportOptions("ambassadors", "detailed", "csv")
    mapped = map_frame(frame_of("ambassadors", 6_000), template)
    plan = plan_export(mapped.height, template, options, CATALOG.limits)
    batch = plan.batches[1]
    args = pickle.loads(pickle.dumps((batch_rows(mapped, batch), batch, options, tmp_path)))
    written = write_batch(*args)
    assert (written.file_name, written.record_range) == (
        "ambassadors_batch_2_of_2.csv",
        "3001-6000",
    )
    lines = (tmp_path / written.file_name).read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("3001,")
    assert len(lines) == 3_001


def test_preview(tmp_path: Path) -> None:
    frame = frame_of("payments", 12)
    result = preview(frame, ExportOptions("payments", "standard"), offset=10, limit=5)
    assert result.headers == CATALOG.template("payments", "standard").headers
    assert [r["ID"] for r in result.rows] == ["11", "12"]
    assert result.total_rows == 12
    assert result.quality.rows == 12
    assert result.plan.describe() == "12 records -> 1 Excel file"
    assert set(result.rows[0]) == set(result.headers)


def test_preview_of_a_large_frame_plans_chunks(participants_6000: pl.DataFrame) -> None:
    result = preview(participants_6000, ExportOptions("participants", "complete", "csv"))
    assert len(result.rows) == 100
    assert result.plan.describe() == "6,000 records -> 3 CSV files of 2,000 + ZIP"


def _zip_builder_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "zip-builder"]


def _writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("batch-writer")]


@pytest.mark.parametrize("render_rows", [service.RENDER_ROWS, 0], ids=["in-memory", "read-back"])
def test_csv_zip_is_what_build_zip_makes_of_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, render_rows: int
) -> None:
    """The ZIP built alongside the files (members handed over as bytes, or read back from
    disk for batches above RENDER_ROWS) is byte for byte the ZIP of the finished files."""
    monkeypatch.setattr(service, "RENDER_ROWS", render_rows)
    options = ExportOptions("participants", "complete", "csv", csv_bom=True)
    out = tmp_path / "out"
    result = _export_20_participants(options, out)
    assert result.archive is not None
    files = [out / f.file_name for f in result.files]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(f.name for f in files), result.archive.zip_file_name]
    )
    for written, path in zip(result.files, files, strict=True):
        assert written.file_size == path.stat().st_size
        assert path.read_bytes().startswith(b"\xef\xbb\xbfID,")
    zip_path = out / result.archive.zip_file_name
    reference = build_zip(files, tmp_path / "reference.zip")
    assert zip_path.read_bytes() == (tmp_path / "reference.zip").read_bytes()
    assert result.archive.zip_file_size == reference.zip_file_size == zip_path.stat().st_size
    assert result.archive.uncompressed_size == reference.uncompressed_size
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.testzip() is None
        assert [zf.read(p.name) for p in files] == [p.read_bytes() for p in files]
    assert _zip_builder_threads() == []


@pytest.mark.parametrize("fmt", ["csv", "excel"])
def test_zip_failure_leaves_nothing_behind(
    participants_6000: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """The disk fills up while the ZIP thread writes the second member: a StorageError, and
    neither the data files nor the partial ZIP stay behind, nor any thread."""
    real = archive._write_member
    added: list[str] = []

    def full_disk(zf: zipfile.ZipFile, member: Path, data: bytes | None) -> int:
        added.append(member.name)
        if len(added) == 2:
            raise OSError(28, "No space left")
        return real(zf, member, data)

    monkeypatch.setattr(archive, "_write_member", full_disk)
    (tmp_path / "someone_elses.txt").write_text("keep me")
    with pytest.raises(StorageError, match=r"^Could not write export files: No space left$"):
        write_export(participants_6000, ExportOptions("participants", "complete", fmt), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["someone_elses.txt"]
    assert _zip_builder_threads() == []
    assert _writer_threads() == []


def _preparer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("batch-preparer")]


class PrepareSpy:
    """The xlsx writer's real `prepare`, recording the thread and rows of each call; fails
    on its `fail_on`-th call (0: never)."""

    def __init__(self, fail_on: int = 0) -> None:
        self.real = xlsx_writer.prepare
        self.calls: list[tuple[str, list[tuple[int, int]]]] = []
        self.fail_on = fail_on

    def __call__(self, mapped: MappedFrame, bounds: list[tuple[int, int]]) -> MappedFrame:
        self.calls.append((threading.current_thread().name.rstrip("_0123456789"), bounds))
        if len(self.calls) == self.fail_on:
            raise RuntimeError("prepare failed")
        return self.real(mapped, bounds)


def _export_in_groups(
    out: Path, monkeypatch: pytest.MonkeyPatch, spy: PrepareSpy, **kwargs: Any
) -> ExportResult:
    """64 complete participants as 8 excel files of 8 rows (small catalog), prepared in
    groups of two files: 4 groups."""
    monkeypatch.setattr(service, "ONE_GROUP_ROWS", 0)
    monkeypatch.setattr(service, "PREPARE_ROWS", 16)
    monkeypatch.setattr(xlsx_writer, "prepare", spy)
    return write_export(
        frame_of("participants", 64),
        ExportOptions("participants", "complete", "excel"),
        out,
        catalog=small_catalog(),
        **kwargs,
    )


def test_groups_are_prepared_ahead_in_a_thread_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With several groups, each is prepared by the "batch-preparer" thread, in order; the
    files hold what the export prepared in one group holds, and the thread is gone after."""
    one = write_export(
        frame_of("participants", 64),
        ExportOptions("participants", "complete", "excel"),
        tmp_path / "one",
        catalog=small_catalog(),
    )
    spy = PrepareSpy()
    several = _export_in_groups(tmp_path / "several", monkeypatch, spy)
    assert [thread for thread, _ in spy.calls] == ["batch-preparer"] * 4
    assert [bounds for _, bounds in spy.calls] == [
        [(start, start + 8), (start + 8, start + 16)] for start in range(0, 64, 16)
    ]
    assert several.files == one.files
    for written in one.files:
        assert sheet_rows(tmp_path / "several" / written.file_name) == sheet_rows(
            tmp_path / "one" / written.file_name
        )
    assert _preparer_threads() == []


@pytest.mark.parametrize("fail_on", [1, 3])
def test_failing_prepare_ahead_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_on: int
) -> None:
    """A group whose prepare fails in the preparer thread fails the export: its error is
    raised, no file stays behind (nor those of earlier groups), and every thread ends."""
    (tmp_path / "someone_elses.txt").write_text("keep me")
    spy = PrepareSpy(fail_on=fail_on)
    with pytest.raises(RuntimeError, match="prepare failed"):
        _export_in_groups(tmp_path, monkeypatch, spy)
    assert len(spy.calls) == fail_on  # no group is prepared after the failing one
    assert [p.name for p in tmp_path.iterdir()] == ["someone_elses.txt"]
    assert _preparer_threads() == _writer_threads() == _zip_builder_threads() == []


def test_cancel_while_a_group_is_prepared_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress raising after the first file: no file stays behind, every thread ends, and
    the last of the 4 groups is never prepared (the files handed out by then, at most
    WRITE_THREADS + 1 = 3, are in the first two groups; one more is prepared ahead)."""

    def cancel(done: int, total: int) -> None:
        raise KeyboardInterrupt

    spy = PrepareSpy()
    with pytest.raises(KeyboardInterrupt):
        _export_in_groups(tmp_path, monkeypatch, spy, progress=cancel)
    assert 1 <= len(spy.calls) <= 3
    assert list(tmp_path.iterdir()) == []
    assert _preparer_threads() == _writer_threads() == _zip_builder_threads() == []


@pytest.mark.parametrize(("fmt", "rows"), [("csv", 12_000), ("excel", 12_000), ("csv", 2_500)])
def test_export_quality_report_is_map_frames_though_worked_out_beside_the_files(
    tmp_path: Path, fmt: str, rows: int
) -> None:
    """write_export works the report out in a thread while several files are written (the
    writers get the values with an empty one), before a single file: either way the result's
    report is map_frame's, extra fields and all."""
    frame = frame_of("participants", rows).with_columns(pl.lit("x").alias("unused"))
    options = ExportOptions("participants", "complete", format=fmt)
    expected = mapping.map_frame(frame, CATALOG.template("participants", "complete")).quality
    assert expected.unknown_codes and expected.unparseable and expected.formula_like
    assert expected.extra_fields == ("unused",)
    result = write_export(frame, options, tmp_path)
    assert result.quality == expected
    assert (result.plan.total_files > 1) == (rows > 10_000)
    assert sum(f.record_count for f in result.files) == rows


@pytest.mark.parametrize(("fmt", "rows"), [("excel", 12_000), ("csv", 2_500), ("excel", 7)])
def test_consume_empties_the_frame_and_writes_what_a_kept_frame_writes(
    tmp_path: Path, fmt: str, rows: int
) -> None:
    """write_export(consume=True) drops the caller's columns once mapped (the API's decoded
    body goes before the files are written); the files, counts and quality report, extra
    fields included, are those of an export that kept its frame, which stays untouched."""
    kept = frame_of("participants", rows, seed=3).with_columns(pl.lit("x").alias("unused"))
    given = kept.clone()
    options = ExportOptions("participants", "complete", format=fmt)
    expected = write_export(kept, options, tmp_path / "kept")
    result = write_export(given, options, tmp_path / "consumed", consume=True)
    assert given.width == 0 and kept.width == 16 and kept.height == rows
    assert result.quality == expected.quality and result.quality.extra_fields == ("unused",)
    assert [f.record_range for f in result.files] == [f.record_range for f in expected.files]
    for mine, theirs in zip(result.files, expected.files, strict=True):
        ours, reference = (
            tmp_path / "consumed" / mine.file_name,
            tmp_path / "kept" / theirs.file_name,
        )
        if fmt == "excel":
            assert sheet_rows(ours) == sheet_rows(reference)
        else:
            assert ours.read_bytes() == reference.read_bytes()


def test_release_free_heap_returns_freed_pages_on_glibc() -> None:
    """Blocks below glibc's mmap threshold live on its heap; once freed, with others still
    held between them, only malloc_trim gives their pages back (True: some went)."""
    if not (sys.platform == "linux" and platform.libc_ver()[0] == "glibc"):
        assert heap.release_free_heap() is False
        return
    blocks = [bytearray(64 << 10) for _ in range(400)]  # 25 MB in 64 KB blocks
    del blocks[::2]  # every other one freed: free runs that the heap's top cannot hand back
    before = _rss_anon()
    assert heap.release_free_heap() is True
    assert before - _rss_anon() >= 8 << 20  # most of the 12.5 MB freed left the process
    del blocks


def _rss_anon() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("RssAnon:")[1].split()[0]) * 1024


def test_beside_runs_the_work_in_a_thread_during_the_block_or_before_it() -> None:
    events: list[tuple[str, str]] = []
    started = threading.Event()

    def work() -> int:
        events.append(("work", threading.current_thread().name))
        started.set()
        return 7

    with service._beside(work, True) as result:
        assert started.wait(5)
        events.append(("block", threading.current_thread().name))
    assert result() == 7
    assert events[0][0] == "work" and events[0][1].startswith("quality-report")
    assert events[1] == ("block", threading.current_thread().name)

    events.clear()
    with service._beside(work, False) as result:
        events.append(("block", threading.current_thread().name))
    assert result() == 7
    assert events == [("work", threading.current_thread().name), ("block", events[1][1])]


@pytest.mark.parametrize("in_thread", [True, False])
def test_beside_gives_the_works_error_after_the_block_and_the_blocks_own(in_thread: bool) -> None:
    def broken() -> int:
        raise ValueError("work broke")

    if in_thread:
        with service._beside(broken, True) as result:
            pass
        with pytest.raises(ValueError, match="work broke"):
            result()
    else:
        with pytest.raises(ValueError, match="work broke"), service._beside(broken, False):
            pass
    with pytest.raises(KeyError), service._beside(lambda: 1, in_thread):
        raise KeyError("block broke")


def test_a_failing_quality_report_fails_the_export_and_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in the report (worked out beside the files) is the export's error, and the
    files written meanwhile are removed like on any other failure."""

    def broken(*args: object) -> object:
        raise RuntimeError("report broke")

    monkeypatch.setattr(mapping, "_quality", broken)
    options = ExportOptions("participants", "complete", format="csv")
    with pytest.raises(RuntimeError, match="report broke"):
        write_export(frame_of("participants", 12_000), options, tmp_path)
    assert list(tmp_path.iterdir()) == []
