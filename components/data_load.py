"""Turning the bytes a person gave (upload, paste, sample) into a cached frame and the summary
the browser keeps, or an InputError that says what is wrong and where."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from components import runtime
from export_core.errors import InputError
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
    return (
        f"The {source} is {size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.0f} MB. "
        "Split it into smaller files."
    )


def decode_upload(request: dict[str, Any]) -> bytes:
    """The bytes of a dcc.Upload data URL; InputError when it is not one."""
    contents = request.get("contents") or ""
    _, _, payload = contents.partition(",")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("The uploaded file could not be decoded. Upload it again.") from None
