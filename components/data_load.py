"""Turning the bytes a person gave (upload, paste, sample) into a cached frame and the summary
the browser keeps, or an InputError that says what is wrong and where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from components import runtime
from export_core.errors import InputError
from export_core.file_readers import read_path
from export_core.mapping import detect_export_type
from export_core.readers import read_any


def load_bytes(data: bytes, filename: str | None, source: str) -> dict[str, Any]:
    """Parse `data`, cache the frame and return the summary the browser keeps.
    Raises InputError (bad or empty input, too many records)."""
    settings = runtime.get_settings()
    if len(data) > settings.max_upload_bytes:
        raise InputError(too_large_message(len(data), settings.max_upload_bytes, source))
    if not data.strip():
        raise InputError(f"The {source} is empty ({len(data)} bytes). Choose a file with records.")
    try:
        frame = read_any(data, filename)
    except RecursionError:
        # The readers' JSON fallback recurses once per nesting level; thousands of [ or {
        # exhaust the stack. That is the input's fault, not the server's.
        raise InputError(
            "The data is nested too deeply (thousands of [ or { inside each other). "
            "Records must be flat objects."
        ) from None
    return cache_summary(frame, source)


def load_file(path: Path, filename: str, source: str) -> dict[str, Any]:
    """Like load_bytes, for an upload the route streamed to `path`: a large CSV is read in
    batches and refused at the first record over YBB_MAX_RECORDS (memory bounded by the
    limit, not by the file). Raises InputError."""
    settings = runtime.get_settings()
    size = path.stat().st_size
    if size > settings.max_upload_bytes:
        raise InputError(too_large_message(size, settings.max_upload_bytes, source))
    if size == 0 or (size < 4096 and not path.read_bytes().strip()):
        raise InputError(f"The {source} is empty ({size} bytes). Choose a file with records.")
    try:
        frame = read_path(path, filename, settings.max_records)
    except RecursionError:  # see load_bytes
        raise InputError(
            "The data is nested too deeply (thousands of [ or { inside each other). "
            "Records must be flat objects."
        ) from None
    return cache_summary(frame, source)


def cache_summary(frame: pl.DataFrame, source: str) -> dict[str, Any]:
    """Check the record count, cache `frame` and return the summary the browser keeps."""
    settings = runtime.get_settings()
    if frame.height == 0:
        raise InputError("The data contains no records. Add at least one record.")
    if frame.height > settings.max_records:
        raise InputError(
            f"The data has {frame.height:,} records; one export takes at most "
            f"{settings.max_records:,}. Split it into smaller files."
        )
    key = runtime.get_upload_cache().put_frame(frame)
    return {
        "key": key,
        "rows": frame.height,
        "columns": frame.columns[:40],
        "column_count": frame.width,
        "detected_type": detect_export_type(frame.columns),
        "source": source,
    }


def too_large_message(size: int, limit: int, source: str = "file") -> str:
    """What a person reads when a file or paste is over YBB_MAX_UPLOAD_MB."""
    return (
        f"The {source} is {size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.0f} MB. "
        "Split it into smaller files."
    )
