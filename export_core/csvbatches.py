"""A CSV file read a batch of rows at a time, for exports bigger than memory (the CLI's path).

Each batch is an all-String frame exactly like `readers.read_csv` builds for the same rows:
the same delimiter detection, header checks, RFC 4180 parsing, empty field -> null, short rows
padded, and the same InputErrors (line numbers count from the top of the file, UTF-8 errors
name the byte offset and line). Only a bounded sample of the text is held for the delimiter
detection, and at most `batch_rows` parsed rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from . import csvchunks
from .errors import InputError
from .readers import _detect_delimiter, _header_line, csv_records

SAMPLE_CHARS = 1 << 20  # text read to detect the delimiter (readers sniff 64 KiB of it)
SCAN_BYTES = 1 << 20  # block size of the UTF-8 error scan


class NotStreamable(Exception):
    """The file needs the whole-file reader (its header line does not fit the sample)."""


def _utf8_error(path: Path) -> InputError:
    """The InputError `read_csv` gives for the first invalid UTF-8 byte, found by a bounded
    scan (a batch only knows where in its own chunk decoding failed)."""
    offset, lines, carry = 0, 0, b""
    with path.open("rb") as fh:
        while block := fh.read(SCAN_BYTES):
            buf = carry + block
            try:
                buf.decode("utf-8")
                good = len(buf)
            except UnicodeDecodeError as exc:
                if exc.end < len(buf) or exc.reason != "unexpected end of data":
                    at = offset + exc.start
                    line = lines + buf.count(b"\n", 0, exc.start) + 1
                    return InputError(
                        f"The file is not valid UTF-8: byte 0x{buf[exc.start]:02x} at byte "
                        f"offset {at} (line {line}). Save it as UTF-8 and try again.",
                        line=line,
                        details={"byte_offset": at},
                    )
                good = exc.start  # a character cut by the block end: decode it with the next
            lines += buf.count(b"\n", 0, good)
            offset += good
            carry = buf[good:]
    line = lines + 1
    return InputError(
        f"The file is not valid UTF-8: byte 0x{carry[0]:02x} at byte offset {offset} "
        f"(line {line}). Save it as UTF-8 and try again.",
        line=line,
        details={"byte_offset": offset},
    )


def _batch(names: list[str], rows: list[list[str]]) -> pl.DataFrame:
    """The all-String frame `_frame` builds for these rows (short rows padded, empty field ->
    null), read by polars row-wise: half the time of building a list per column in Python."""
    width = len(names)
    if rows and min(map(len, rows)) < width:
        rows = [row if len(row) >= width else row + [""] * (width - len(row)) for row in rows]
    frame = pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")
    return frame.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in names)


def _delimiter(fh: io.TextIOBase) -> str | None:
    """The delimiter read_csv would pick, or None for a file of only whitespace."""
    sample = fh.read(SAMPLE_CHARS)
    complete = len(sample) < SAMPLE_CHARS
    if not sample.strip():
        if complete:
            return None
        raise NotStreamable
    if not complete and _header_line(sample) == sample:
        raise NotStreamable
    return _detect_delimiter(sample)


def read_csv_batches(path: Path, batch_rows: int = 50_000) -> Iterator[pl.DataFrame]:
    """The rows of the CSV file `path` as frames of at most `batch_rows` rows (no frame at
    all for a file without data rows). Raises InputError like `readers.read_csv`, and
    NotStreamable before yielding anything when only the whole-file reader can read it."""
    try:
        yield from _batches(path, max(1, batch_rows))
    except UnicodeDecodeError:
        raise _utf8_error(path) from None


def _batches(path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        delimiter = _delimiter(fh)
    if delimiter is None:
        return
    start = csvchunks.header(path, delimiter)
    if start is None:
        yield from _csv_module_batches(path, delimiter, batch_rows)
        return
    names, offset, lines = start
    frames = csvchunks.body_frames(path, names, delimiter, offset, lines, _batch, batch_rows)
    yield from _rebatched(frames, batch_rows)


def _rebatched(frames: Iterator[pl.DataFrame], batch_rows: int) -> Iterator[pl.DataFrame]:
    """The frames' rows again, `batch_rows` at a time (the last batch maybe fewer)."""
    held: list[pl.DataFrame] = []
    count = 0
    for frame in frames:
        held.append(frame)
        count += frame.height
        while count >= batch_rows:
            rows = pl.concat(held, rechunk=False)
            yield rows.slice(0, batch_rows).rechunk()
            rest = rows.slice(batch_rows)
            held, count = [rest], rest.height
    if count:
        yield pl.concat(held).rechunk()


def _csv_module_batches(path: Path, delimiter: str, batch_rows: int) -> Iterator[pl.DataFrame]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        records = csv_records(reader)
        names = next(records, None)
        if names is None:
            return
        rows: list[list[str]] = []
        for fields in records:
            rows.append(fields)
            if len(rows) == batch_rows:
                yield _batch(names, rows)
                rows = []
        if rows:
            yield _batch(names, rows)
