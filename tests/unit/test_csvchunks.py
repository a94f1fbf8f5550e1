"""CSV bodies read by polars in chunks (export_core.csvchunks): every batch equals what the csv
module reads, for canonical and non-canonical quoting, and errors are the csv module's."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from export_core import csvbatches, csvchunks
from export_core.errors import InputError
from export_core.readers import read_csv

FIELDS = ["", "x", " y ", "é,z", 'q"r', "1\n2", "3\r\n4", "-", '"', "a;b", "\r"]


def _batches(path: Path, batch: int, chunk: int) -> list[pl.DataFrame]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csvchunks, "CHUNK_BYTES", chunk)
        return list(csvbatches.read_csv_batches(path, batch))


def _written(rows: list[list[str]], how: str) -> bytes:
    """The rows as polars, the csv module (\\r\\n) or a sloppy hand-made writer put them."""
    header = ["a", "b", "c", "d"]
    if how == "polars":
        full = [r + [""] * (4 - len(r)) for r in rows]
        frame = pl.DataFrame(full, schema=dict.fromkeys(header, pl.String), orient="row")
        return frame.write_csv(include_header=True).encode()
    if how == "csv":
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
        return out.getvalue().encode()
    lines = [",".join(header)] + [",".join(r) for r in rows if "\n" not in "".join(r)]
    return ("\n".join(lines) + "\n").encode()  # unquoted quotes, short rows, no quoting


@settings(max_examples=120, deadline=None)
@given(
    rows=st.lists(st.lists(st.sampled_from(FIELDS), max_size=4), min_size=1, max_size=30),
    how=st.sampled_from(["polars", "csv", "sloppy"]),
    batch=st.integers(min_value=1, max_value=7),
    chunk=st.sampled_from([1, 16, 64, 1 << 20]),
)
def test_batches_equal_the_csv_modules_frame(
    rows: list[list[str]], how: str, batch: int, chunk: int
) -> None:
    """Whatever mix of chunks polars reads and the csv module takes over, the batches put
    together are the whole-file reader's frame (or both raise the same InputError)."""
    data = _written(rows, how)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.csv"
        path.write_bytes(data)
        try:
            whole = read_csv(data)
        except InputError as exc:
            with pytest.raises(InputError) as batched:
                _batches(path, batch, chunk)
            assert (batched.value.message, batched.value.details) == (exc.message, exc.details)
            return
        batches = _batches(path, batch, chunk)
    assert [b.height for b in batches[:-1]] == [batch] * (len(batches) - 1)
    if whole.height == 0:
        assert batches == []
    else:
        together = pl.concat(batches)
        assert together.equals(whole)
        assert together.schema == whole.schema


def test_a_polars_written_file_is_read_by_polars(tmp_path: Path) -> None:
    """The fast path is really taken for canonical files: every chunk is proved exact."""
    rows = [[str(i), f'say ""{i}""', "x,y", "line\nbreak"] for i in range(3_000)]
    path = tmp_path / "p.csv"
    path.write_bytes(_written(rows, "polars"))
    start = csvchunks.header(path, ",")
    assert start is not None
    names, offset, lines = start
    assert (names, lines) == (["a", "b", "c", "d"], 1)
    taken: list[pl.DataFrame] = []

    def refuse(names: list[str], rows: list[list[str]]) -> pl.DataFrame:
        raise AssertionError("the csv module was used")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csvchunks, "CHUNK_BYTES", 4096)
        for frame in csvchunks.body_frames(path, names, ",", offset, lines, refuse, 100):
            taken.append(frame)
    assert len(taken) > 10
    assert pl.concat(taken).equals(read_csv(path.read_bytes()))


@pytest.mark.parametrize(
    "tail, line",
    [
        (b"1,2,3\n", 2002),  # too many fields
        (b'1,"2\n', 2002),  # unterminated quote
        (b'"1"x,2\n', 2002),  # text after a closing quote
        (b"1,\xff\n", 2002),  # bad UTF-8
    ],
)
def test_errors_after_fast_chunks_are_the_csv_modules(
    tmp_path: Path, tail: bytes, line: int
) -> None:
    """Errors found after many chunks polars read: same message, same line number."""
    data = b"a,b\n" + b'x,"y\nz"\n' * 1_000 + tail
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as whole:
        read_csv(data)
    with pytest.raises(InputError) as batched:
        _batches(path, 7, 256)
    assert batched.value.message == whole.value.message
    assert batched.value.details == whole.value.details
    assert str(line) in whole.value.message


def test_files_the_fast_path_leaves_to_the_csv_module(tmp_path: Path) -> None:
    for name, data in {
        "blank_first": b"\na,b\n1,2\n",
        "one_column": b"a\n1\n\n2\n",
        "no_newline": b"a,b",
    }.items():
        path = tmp_path / f"{name}.csv"
        path.write_bytes(data)
        assert csvchunks.header(path, ",") is None, name
        batches = list(csvbatches.read_csv_batches(path, 2))
        whole = read_csv(data)
        if whole.height == 0:
            assert batches == [], name
        else:
            assert pl.concat(batches).equals(whole), name
