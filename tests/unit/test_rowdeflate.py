"""Rows deflated while they are written (export_core.writers.rowdeflate, the CLI's big sheets):
the bytes come back in order with their CRC, a failure on either side ends the export with a
clear error, no partial file and no thread left, and the workbook's parts are the same as
when the sheet XML is deflated at close."""

from __future__ import annotations

import dataclasses
import random
import threading
import zipfile
import zlib
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from benchmarks.datagen import records
from export_core import streamed
from export_core.catalog import get_catalog
from export_core.errors import InputError
from export_core.mapping import map_frame
from export_core.model import ExportOptions
from export_core.readers import read_csv
from export_core.service import write_export
from export_core.writers import deflate, rowdeflate, xlsx

OPTIONS = ExportOptions("participants", "complete", chunking="off")


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ybb-rows-deflate"]


def _inflate(data: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(data)


def _parts(path: Path) -> dict[str, bytes]:
    """The package's parts, without the creation timestamp."""
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None  # every member's CRC
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}


def _csv_file(path: Path, rows: int, seed: int = 5) -> Path:
    block = records("participants", rows, seed=seed)
    block[3]["form_status"] = "weird-code"
    frame = pl.DataFrame(
        [{k: None if v is None else str(v) for k, v in r.items()} for r in block],
        infer_schema_length=None,
    )
    frame.write_csv(path)
    return path


def test_rows_come_back_in_order_with_their_crc(tmp_path: Path) -> None:
    rng = random.Random(7)
    chunks = [rng.randbytes(rng.randrange(0, 300)) for _ in range(400)]
    chunks += [b"<row>" * 100] * 50  # compressible too
    sink = rowdeflate.DeflatingRows(str(tmp_path), 4, block_bytes=64, slots=2)
    for number, chunk in enumerate(chunks):  # every kind of buffer the writers hand over
        sink.write(memoryview(chunk) if number % 3 == 0 else bytearray(chunk))
    done = sink.finish()
    data = b"".join(chunks)
    stream = Path(done.path).read_bytes()
    assert (done.size, done.crc, done.compressed) == (len(data), zlib.crc32(data), len(stream))
    assert _inflate(stream) == data
    # Sync-flushed, not final: more deflate data may follow, as the sheet's tail does.
    whole = rowdeflate.deflate_part(b"<head>", 4, final=False) + stream
    whole += rowdeflate.deflate_part(b"</tail>", 4, final=True)
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(whole) == b"<head>" + data + b"</tail>" and inflater.eof
    assert rowdeflate.assemble(b"<head>", done, b"</tail>") == (
        zlib.crc32(b"<head>" + data + b"</tail>"),
        len(data) + 13,
    )
    assert not _threads()


def test_a_failing_deflate_ends_the_writer_with_a_clear_error(tmp_path: Path) -> None:
    sink = rowdeflate.DeflatingRows(str(tmp_path), 99, block_bytes=64, slots=2)  # bad level
    with pytest.raises(rowdeflate.RowDeflateError, match="deflating the rows failed"):
        for _ in range(100):
            sink.write(b"x" * 50)
        sink.finish()
    assert not _threads()
    assert list(tmp_path.iterdir()) == []  # the spill file went with it


def test_a_failure_while_ending_the_stream_is_raised_not_hung(tmp_path: Path) -> None:
    sink = rowdeflate.DeflatingRows(str(tmp_path), 4, block_bytes=1 << 16, slots=2)
    sink.write(b"a few rows")  # less than a block: deflated only when finishing
    sink._out.close()  # the spill file fails as the stream ends (as a full disk would)
    raised: list[BaseException] = []

    def finish() -> None:
        try:
            sink.finish()
        except BaseException as exc:
            raised.append(exc)

    waiter = threading.Thread(target=finish)
    waiter.start()
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], rowdeflate.RowDeflateError)
    assert not _threads()
    assert list(tmp_path.iterdir()) == []


def test_abort_stops_the_thread_and_removes_the_spill_file(tmp_path: Path) -> None:
    sink = rowdeflate.DeflatingRows(str(tmp_path), 4, block_bytes=64, slots=2)
    sink.write(b"y" * 1000)
    sink.close()  # unfinished: an error path
    assert not _threads()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        sink.write(b"z")


def test_sheets_deflated_while_written_have_the_same_parts(tmp_path: Path) -> None:
    template = get_catalog().template("participants", "complete")
    frame = read_csv(_csv_file(tmp_path / "in.csv", 9_000).read_bytes())
    blocks = [map_frame(frame.slice(i, 1_000), template) for i in range(0, 9_000, 1_000)]
    for deflate_rows in (False, True):  # 3 sheets: rolled over at 4,000 rows
        xlsx.write_blocks(
            blocks, None, None, tmp_path / f"{deflate_rows}.xlsx", OPTIONS,
            rows_per_sheet=4_000, deflate_rows=deflate_rows,
        )  # fmt: skip
    assert _parts(tmp_path / "True.xlsx") == _parts(tmp_path / "False.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["False.xlsx", "True.xlsx", "in.csv"]
    sheets = openpyxl.load_workbook(tmp_path / "True.xlsx", read_only=True).worksheets
    assert [s.max_row for s in sheets] == [4_001, 4_001, 1_001]
    assert not _threads()


def test_the_cli_path_deflates_a_big_sheet_to_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streamed, "BATCH_ROWS", 1_000)
    sinks: list[rowdeflate.DeflatingRows] = []
    real_init = rowdeflate.DeflatingRows.__init__

    def counted(self: rowdeflate.DeflatingRows, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        sinks.append(self)

    monkeypatch.setattr(rowdeflate.DeflatingRows, "__init__", counted)
    source = _csv_file(tmp_path / "in.csv", 6_500)
    got = streamed.export_csv_file(source, OPTIONS, tmp_path / "a")
    want = write_export(read_csv(source.read_bytes()), OPTIONS, tmp_path / "b")
    assert got is not None and got.quality == want.quality and got.plan == want.plan
    # The same parts, deflated in other pieces: the file's size differs by a few bytes.
    unsized = [dataclasses.replace(f, file_size=0) for f in (*got.files, *want.files)]
    assert unsized[0] == unsized[1]
    name = want.files[0].file_name
    assert len(sinks) == 1  # past IN_MEMORY_ROWS rows: the sheet's rows deflated as written
    assert _parts(tmp_path / "a" / name) == _parts(tmp_path / "b" / name)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [name]
    sheet = openpyxl.load_workbook(tmp_path / "a" / name, read_only=True).worksheets[0]
    assert sheet.max_row == 6_501
    assert not _threads()


def test_an_input_error_after_the_rows_began_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streamed, "BATCH_ROWS", 1_000)
    source = _csv_file(tmp_path / "in.csv", 8_000)
    data = source.read_bytes()
    at = data.index(b"\n", len(data) * 7 // 8) + 1  # a record start near the end
    source.write_bytes(data[:at] + b"\xff" + data[at:])
    with pytest.raises(InputError, match="not valid UTF-8"):
        streamed.export_csv_file(source, OPTIONS, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # the partial file and the directory it made
    assert not _threads()


def test_a_failing_deflate_ends_the_export_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streamed, "BATCH_ROWS", 1_000)
    monkeypatch.setattr(deflate, "LEVEL", 99)  # the deflating thread fails on its first block
    source = _csv_file(tmp_path / "in.csv", 8_000)
    (tmp_path / "out").mkdir()
    with pytest.raises(rowdeflate.RowDeflateError, match="deflating the rows failed"):
        streamed.export_csv_file(source, OPTIONS, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert not _threads()
