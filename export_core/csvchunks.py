"""A CSV file's body parsed by polars' own reader, a byte chunk at a time, each chunk proved to
read exactly as the csv module reads it (csvbatches' reference), else read by the csv module.

The csv module (strict, RFC 4180 quoting) costs ~7 s of one core for 1,000,000 participant
rows; polars' reader does the same rows in a fraction of that, in Rust, but differs on input
that is not plainly RFC 4180 (a quote inside an unquoted field, text after a closing quote,
blank or short lines, a lone carriage return ending a line). So every chunk is checked: the
frame polars reads, written back by polars with minimal quoting, must give the chunk's bytes
again. Minimal quoting (fields quoted only when they hold the delimiter, a quote or a line
break; quotes doubled) is read the same way by every RFC 4180 reader, the csv module too, so
the frame is then the csv module's frame. A chunk that does not come back identical (or that
polars refuses: invalid UTF-8, a record with more fields than the header) and everything after
it are read by the csv module from the chunk's first byte, which is a record boundary: so the
InputErrors, their line numbers and their order are the csv module's. Files written by polars,
pandas, Excel or Python's csv module with their default quoting take the fast path."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from .readers import _csv_header, csv_records

BOM = b"\xef\xbb\xbf"
CHUNK_BYTES = 1 << 20  # raw bytes parsed at a time (~4,400 participant rows)
Rows = Callable[[list[str], list[list[str]]], pl.DataFrame]  # csvbatches._batch


def _record_end(data: bytes) -> int:
    """The end of the last whole record in `data` (which starts on a record boundary): just
    after the last newline outside quotes, counting quotes from the start; 0 for none."""
    quotes = data.count(b'"')
    end = len(data)
    while (at := data.rfind(b"\n", 0, end)) >= 0:
        quotes -= data.count(b'"', at, end)
        if quotes % 2 == 0:
            return at + 1
        end = at
    return 0


def _first_record_end(data: bytes, start: int) -> int:
    """The end of the first record of `data[start:]` (just after its newline); 0 for none."""
    at = data.find(b"\n", start)
    while at >= 0:
        if data.count(b'"', start, at) % 2 == 0:
            return at + 1
        at = data.find(b"\n", at + 1)
    return 0


def _line_breaks(data: bytes) -> int:
    """Physical lines as the csv module counts them (\\n, \\r\\n and a lone \\r each end one)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _lines_between(path: Path, start: int, stop: int) -> int:
    """Physical lines in bytes [start, stop) of the file (only counted when the csv module
    takes over, for its line numbers)."""
    lines, previous = 0, b""
    with path.open("rb") as fh:
        fh.seek(start)
        while start < stop and (block := fh.read(min(CHUNK_BYTES, stop - start))):
            lines += _line_breaks(block) - (previous == b"\r" and block[:1] == b"\n")
            previous, start = block[-1:], start + len(block)
    return lines


def header(path: Path, delimiter: str) -> tuple[list[str], int, int] | None:
    """The checked header names, the body's byte offset and the physical lines before it;
    None when the start of the file is not a plain header line (leading blank lines, a
    header too long for one chunk, a one-column file): csvbatches then uses the csv module."""
    with path.open("rb") as fh:
        start = fh.read(CHUNK_BYTES)
    skip = len(BOM) if start.startswith(BOM) else 0
    end = _first_record_end(start, skip)
    if end == 0:
        return None
    try:
        text = start[skip:end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    if len(records) != 1 or records[0] in ([], [""]) or len(records[0]) < 2:
        return None
    return _csv_header(records[0]), end, _line_breaks(start[:end])


def _exact_frame(chunk: bytes, names: list[str], delimiter: str, last: bool) -> pl.DataFrame | None:
    """The chunk's records as polars reads them (fields as text, "" kept), if they read the
    same with the csv module (see the module's docstring), else None."""
    try:
        frame = pl.read_csv(
            chunk, has_header=False, schema=dict.fromkeys(names, pl.String),
            separator=delimiter, quote_char='"',
        )  # fmt: skip
    except (pl.exceptions.PolarsError, ValueError):
        return None
    terminator = "\r\n" if chunk.endswith(b"\r\n") else "\n"
    back = io.BytesIO()
    frame.write_csv(
        back, include_header=False, separator=delimiter, quote_char='"',
        quote_style="necessary", line_terminator=terminator,
    )  # fmt: skip
    written = back.getvalue()
    if written == chunk or (last and written == chunk + terminator.encode()):
        # empty field -> null, as csvbatches._batch does
        return frame.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in names)
    return None


def body_frames(
    path: Path, names: list[str], delimiter: str, offset: int, lines: int, rows: Rows,
    batch_rows: int,
) -> Iterator[pl.DataFrame]:  # fmt: skip
    """The body's records from byte `offset` (`lines` physical lines into the file) on, as
    frames of any height: polars' where proved exact, then the csv module's (`rows` builds
    a frame of `batch_rows` records) from the first chunk that is not."""
    start = offset
    with path.open("rb") as fh:
        fh.seek(offset)
        carry = b""
        while True:
            block = fh.read(CHUNK_BYTES)
            data = carry + block
            cut = _record_end(data) if block else len(data)
            chunk, carry = data[:cut], data[cut:]
            if chunk:
                frame = _exact_frame(chunk, names, delimiter, last=not block)
                if frame is None:
                    break
                yield frame
                offset += len(chunk)
            if not block:
                return
    lines += _lines_between(path, start, offset)
    yield from _csv_module_frames(path, names, delimiter, offset, lines, rows, batch_rows)


def _csv_module_frames(
    path: Path, names: list[str], delimiter: str, offset: int, lines: int, rows: Rows,
    batch_rows: int,
) -> Iterator[pl.DataFrame]:  # fmt: skip
    with path.open("rb") as raw:
        raw.seek(offset)
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        pending: list[list[str]] = []
        for fields in csv_records(reader, names, lines):
            pending.append(fields)
            if len(pending) == batch_rows:
                yield rows(names, pending)
                pending = []
        if pending:
            yield rows(names, pending)
