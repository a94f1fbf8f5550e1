"""Batch-read CSV exports (export_core.csvbatches / streamed): the same bytes, quality report
and errors as reading the whole file and calling write_export."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.datagen import records
from export_core import streamed
from export_core.catalog import get_catalog
from export_core.csvbatches import NotStreamable, read_csv_batches
from export_core.errors import InputError, LimitExceeded, NoDataError, UnknownTemplate
from export_core.mapping import map_frame
from export_core.model import ExportOptions
from export_core.readers import read_csv
from export_core.service import write_export
from export_core.writers import xlsx


def _csv_file(path: Path, rows: int, seed: int = 3) -> Path:
    block = records("participants", rows, seed=seed)
    block[1]["form_status"] = "weird-code"  # unknown codes in several batches
    block[-1]["form_status"] = 77
    block[2]["birthdate"] = "not a date"
    frame = pl.DataFrame(
        [{k: None if v is None else str(v) for k, v in r.items()} for r in block],
        infer_schema_length=None,
    )
    frame.write_csv(path)
    return path


def _parts(path: Path) -> dict[str, bytes]:
    """The package's parts, without the creation timestamp."""
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streamed, "BATCH_ROWS", 7)


@pytest.mark.parametrize("fmt", ["excel", "csv"])
def test_same_file_and_quality_as_whole_file(tmp_path: Path, fmt: str) -> None:
    source = _csv_file(tmp_path / "in.csv", 40)
    options = ExportOptions("participants", "complete", format=fmt, chunking="off", csv_bom=True)
    got = streamed.export_csv_file(source, options, tmp_path / "a")
    want = write_export(read_csv(source.read_bytes()), options, tmp_path / "b")
    assert got is not None
    assert got.quality == want.quality
    assert got.quality.unknown_codes and got.quality.unparseable
    assert got.files == want.files and got.plan == want.plan
    name = want.files[0].file_name
    if fmt == "csv":
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    else:
        assert _parts(tmp_path / "a" / name) == _parts(tmp_path / "b" / name)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [name]


def test_blocks_roll_over_sheets_like_one_slice(tmp_path: Path) -> None:
    source = _csv_file(tmp_path / "in.csv", 30)
    template = get_catalog().template("participants", "complete")
    options = ExportOptions("participants", "complete")
    blocks = [map_frame(b, template) for b in read_csv_batches(source, 7)]
    whole = map_frame(read_csv(source.read_bytes()), template)
    per_block = [xlsx.column_widths(b, 0, b.height) for b in blocks]
    widths = [max(w) for w in zip(*per_block, strict=True)]
    assert widths == xlsx.column_widths(whole, 0, whole.height)
    xlsx.write_blocks(blocks, 30, widths, tmp_path / "a.xlsx", options, rows_per_sheet=11)
    xlsx.write(whole, 0, 30, tmp_path / "b.xlsx", options, rows_per_sheet=11)
    parts = _parts(tmp_path / "a.xlsx")
    assert "xl/worksheets/sheet3.xml" in parts
    assert parts == _parts(tmp_path / "b.xlsx")
    with pytest.raises(ValueError, match="expected 31"):
        xlsx.write_blocks(blocks, 31, widths, tmp_path / "c.xlsx", options)


def test_batches_equal_whole_reader(tmp_path: Path) -> None:
    text = 'a;b;c\r\n1;"x;\r\ny";\n\n2;;"q""r"\r\n3\n'
    path = tmp_path / "s.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    batches = list(read_csv_batches(path, 2))
    assert [b.height for b in batches] == [2, 1]
    assert pl.concat(batches).equals(read_csv(path.read_bytes()))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.sampled_from(["", "x", " y ", "é,z", 'q"r', "1\n2", "-"]), max_size=4),
        min_size=1,
        max_size=12,
    ),
    batch=st.integers(min_value=1, max_value=5),
)
def test_batches_equal_whole_reader_for_any_rows(rows: list[list[str]], batch: int) -> None:
    """Short rows, empty fields (null), quoted commas and line breaks: the batches, put
    together, are the whole-file reader's frame."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["a", "b", "c", "d"])
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.csv"
        path.write_bytes(out.getvalue().encode())
        whole = read_csv(path.read_bytes())
        batches = list(read_csv_batches(path, batch))
    if whole.height == 0:
        assert batches == []
    else:
        assert pl.concat(batches).equals(whole)
        assert pl.concat(batches).schema == whole.schema


@pytest.mark.parametrize(
    "data",
    [
        b"a,b\n1,2\n3,4,5\n",  # too many fields
        b'a,b\n1,"2\n3,4\n',  # unterminated quote
        b"a,,b\n1,2,3\n",  # nameless header
        b"a,b\n1,2\n" + b"x,y\n" * 3000 + b"3,\xff\n",  # bad UTF-8 after a few blocks
        b"a,b\n1,2\n" + "é".encode() * 600_000 + b"\xc3",  # cut character at the end
    ],
)
def test_errors_equal_whole_reader(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as whole:
        read_csv(data)
    with pytest.raises(InputError) as batched:
        list(read_csv_batches(path, 2))
    assert batched.value.message == whole.value.message
    assert batched.value.details == whole.value.details


def test_size_and_template_errors_in_write_export_order(tmp_path: Path) -> None:
    source = _csv_file(tmp_path / "in.csv", 12)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,name\n\n")
    with pytest.raises(NoDataError):
        streamed.export_csv_file(empty, ExportOptions("participants", "nope"), tmp_path)
    with pytest.raises(LimitExceeded, match="maximum limit of 10"):
        streamed.export_csv_file(
            source, ExportOptions("participants", "nope"), tmp_path, max_records=10
        )
    with pytest.raises(UnknownTemplate):
        streamed.export_csv_file(source, ExportOptions("participants", "nope"), tmp_path)
    assert list(tmp_path.iterdir()) == [source, empty]


def test_multi_file_plan_and_long_header_fall_back(tmp_path: Path) -> None:
    source = _csv_file(tmp_path / "in.csv", 5_000)
    options = ExportOptions("participants", "complete", chunking="auto")
    streamed.BATCH_ROWS = 2_000
    assert streamed.export_csv_file(source, options, tmp_path / "out") is None
    assert not (tmp_path / "out").exists()
    long_header = tmp_path / "long.csv"
    long_header.write_text("x" * (1 << 21) + "\n1\n")
    with pytest.raises(NotStreamable):
        list(read_csv_batches(long_header))


def test_cli_streams_csv_input(tmp_path: Path) -> None:
    source = _csv_file(tmp_path / "in.csv", 30)
    out = tmp_path / "out"
    args = ["export", "participants", str(source), "--chunking", "off", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "export_core", *args, "--template", "complete", "--json"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    want = write_export(
        read_csv(source.read_bytes()),
        ExportOptions("participants", "complete", chunking="off"),
        tmp_path / "b",
    )
    assert summary["quality"] == want.quality.as_dict()
    name = want.files[0].file_name
    assert _parts(out / name) == _parts(tmp_path / "b" / name)


@pytest.mark.parametrize("fmt", ["excel", "csv"])
def test_the_file_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """One pass (the survey pass is gone): a file that changes while it is exported cannot
    give a count that disagrees with the rows written."""
    source = _csv_file(tmp_path / "in.csv", 40)
    opened: list[Path] = []
    real = streamed.read_csv_batches

    def counted(path: Path, batch_rows: int = 50_000) -> object:
        opened.append(path)
        return real(path, batch_rows)

    monkeypatch.setattr(streamed, "read_csv_batches", counted)
    options = ExportOptions("participants", "complete", format=fmt, chunking="off")
    got = streamed.export_csv_file(source, options, tmp_path / "out")
    assert got is not None and got.files[0].record_count == 40
    assert opened == [source]


@pytest.mark.parametrize("fmt", ["excel", "csv"])
def test_writing_stops_when_later_rows_rule_the_file_out(tmp_path: Path, fmt: str) -> None:
    """Rows past the limit, or past the chunking threshold, found after batches were written:
    the same error or fallback as before, the partial file and the directory removed."""
    source = _csv_file(tmp_path / "in.csv", 40)
    out = tmp_path / "out"
    options = ExportOptions("participants", "complete", format=fmt, chunking="off")
    with pytest.raises(LimitExceeded) as raised:
        streamed.export_csv_file(source, options, out, max_records=20)
    assert raised.value.details == {"record_count": 40, "max_records": 20}
    assert not out.exists()
    limits = dataclasses.replace(get_catalog().limits, chunked_threshold=25)
    catalog = dataclasses.replace(get_catalog(), limits=limits)
    auto = dataclasses.replace(options, chunking="auto")
    assert streamed.export_csv_file(source, auto, out, catalog=catalog) is None
    assert not out.exists()
    out.mkdir()  # a directory that was there before stays
    assert streamed.export_csv_file(source, auto, out, catalog=catalog) is None
    assert list(out.iterdir()) == []


def test_a_missing_csv_input_is_an_input_error_not_a_storage_error(tmp_path: Path) -> None:
    """The one pass reads inside the export's clean-up block: an OSError about the input file
    must still reach the CLI as itself (exit 2, "Cannot read input file"), not as a failure
    to write the export."""
    with pytest.raises(FileNotFoundError):
        streamed.export_csv_file(
            tmp_path / "nope.csv", ExportOptions("participants", chunking="off"), tmp_path / "o"
        )
    assert not (tmp_path / "o").exists()
    done = subprocess.run(
        [
            *[sys.executable, "-m", "export_core", "export", "participants"],
            *[str(tmp_path / "no.csv"), "--chunking", "off", "--out", str(tmp_path / "o")],
        ],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "Cannot read input file" in done.stderr
