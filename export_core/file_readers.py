"""Reading an uploaded file from disk with memory bounded by the record limit, not by the file.

The UI's upload route streams the request body to a temporary file; this module turns that file
into the same all-String frame `readers.read_any` would give. Small files (and every JSON or
XLSX file, whose readers need the whole document) go through `read_any` unchanged. A large CSV is
read record by record and turned into polars columns in batches, and reading stops at the first
record beyond `max_records`: a 200 MB CSV of a million rows never becomes a million Python lists,
and one over the limit is refused after reading only as many records as the limit allows."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import polars as pl

from .errors import InputError
from .readers import _SNIFF_CHARS, _detect_delimiter, _frame, _sniff, csv_records, read_any

WHOLE_FILE_BYTES = 16 * 1024 * 1024  # below this, read_any on the bytes (exact same behaviour)
BATCH_RECORDS = 20_000  # Python lists for this many records at a time, then a polars frame


def _extension(filename: str | None) -> str:
    name = (filename or "").rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _is_csv(path: Path, filename: str | None) -> bool:
    extension = _extension(filename)
    if extension:
        return extension in (".csv", ".tsv", ".txt")
    with path.open("rb") as handle:
        return _sniff(handle.read(1024)) == ".csv"


def too_many_records_message(max_records: int) -> str:
    """What a person reads when a file is over YBB_MAX_RECORDS."""
    return (
        f"The data has more than {max_records:,} records; one export takes at most "
        f"{max_records:,}. Split it into smaller files."
    )


def _batch(names: list[str], rows: list[list[str]]) -> pl.DataFrame:
    columns = {
        name: [(row[i] or None) if i < len(row) else None for row in rows]
        for i, name in enumerate(names)
    }
    return _frame(columns, len(rows))


def read_csv_file(path: Path, max_records: int) -> pl.DataFrame:
    """A CSV file (UTF-8, BOM or not; comma, semicolon or tab), read in batches; InputError
    as soon as record `max_records + 1` is read. Errors name the line like `read_csv`."""
    with path.open("r", encoding="utf-8-sig", newline="") as text:
        try:
            delimiter = _detect_delimiter(text.read(_SNIFF_CHARS))
        except UnicodeDecodeError:
            raise _not_utf8(1) from None
        text.seek(0)
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        try:
            return _read_batches(reader, max_records)
        except UnicodeDecodeError:
            raise _not_utf8(reader.line_num + 1) from None


def _not_utf8(line: int) -> InputError:
    return InputError(
        f"The file is not valid UTF-8 text (at or after line {line}). "
        "Save it as UTF-8 and try again.",
        line=line,
    )


def _read_batches(reader: Any, max_records: int) -> pl.DataFrame:
    records = csv_records(reader)
    names = next(records, None)
    if names is None:
        return pl.DataFrame()
    frames: list[pl.DataFrame] = []
    rows: list[list[str]] = []
    for count, row in enumerate(records, start=1):
        if count > max_records:
            raise InputError(too_many_records_message(max_records))
        rows.append(row)
        if len(rows) == BATCH_RECORDS:
            frames.append(_batch(names, rows))
            rows = []
    frames.append(_batch(names, rows))
    return pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]


def read_path(path: Path, filename: str | None, max_records: int) -> pl.DataFrame:
    """The frame of the uploaded file at `path` (named `filename` by the person). InputError
    for unreadable input, and when a large CSV has more than `max_records` (said at the first
    record over, without reading the rest)."""
    size = path.stat().st_size
    if size > WHOLE_FILE_BYTES and _is_csv(path, filename):
        return read_csv_file(path, max_records)
    return read_any(path.read_bytes(), filename)
