"""How an export is cut into files: the seed's chunking rules (spec "Chunking Algorithm").

Names follow the seed: one file is `{type}_{template}_export.{ext}` (or the caller's stem), a
multi-file export is `{stem}_batch_{n}_of_{total}.{ext}` plus `{stem}_{template}_export.zip`
(stem defaulting to the data type; a custom name becomes `{stem}.zip`)."""

from __future__ import annotations

import re
import unicodedata

from .catalog import Limits, Template
from .errors import ValidationError
from .model import BatchPlan, ExportOptions, ExportPlan
from .writers import get_writer

CHUNKING_MODES = ("auto", "off")
MAX_STEM_CHARS = 100
# Extensions a user may type into the file name box; the real one comes from the format.
_KNOWN_EXTENSIONS = frozenset({"xlsx", "xls", "xlsm", "csv", "tsv", "txt", "zip", "json"})
_ALLOWED_PUNCTUATION = frozenset(" -_.()")
_QUOTES = frozenset("\"'`“”‘’«»")  # dropped outright: a stray quote should not become "_"
# Windows refuses these as file names whatever the extension; clients download onto Windows.
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10))}
    | {f"LPT{i}" for i in range(1, 10)}
)


def chunk_size_for(template: Template, record_count: int, limits: Limits) -> int:
    """The seed's calculate_optimal_chunk_size for this template and size, capped at
    limits.max_chunk_size."""
    base = template.chunk_size
    if record_count > 30_000:
        size = max(base // 2, 1_000)  # smaller files for very large exports
    elif record_count < 10_000:
        size = min(base * 2, 3_000)  # fewer files for medium exports
    else:
        size = base
    return max(1, min(size, limits.max_chunk_size))


def _keep(char: str) -> bool:
    if char in _ALLOWED_PUNCTUATION:
        return True
    return unicodedata.category(char)[0] in ("L", "N")  # letters and digits of any script


def safe_stem(filename: str | None, default: str) -> str:
    """A safe file stem from a user-supplied name (extension dropped), else `default`.

    Directories (`../`, `C:\\`), control characters, quotes and anything outside letters,
    digits, space and `-_.()` are removed, runs of separators collapsed, leading/trailing dots
    and spaces trimmed, and the result cut to 100 characters."""
    if not filename:
        return default
    name = unicodedata.normalize("NFC", filename)
    name = re.split(r"[/\\]", name)[-1]  # the last path component only
    stem, dot, ext = name.rpartition(".")
    if dot and stem and ext.lower() in _KNOWN_EXTENSIONS:
        name = stem
    kept = (c for c in name if unicodedata.category(c)[0] != "C" and c not in _QUOTES)
    cleaned = "".join(c if _keep(c) else "_" for c in kept)
    cleaned = re.sub(r"\s+", " ", cleaned)
    cleaned = re.sub(r"_{2,}", "_", cleaned)
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    cleaned = cleaned.strip(" ._")[:MAX_STEM_CHARS].rstrip(" .")
    if not cleaned:
        return default
    if cleaned.split(".")[0].upper() in _RESERVED:
        cleaned = f"_{cleaned}"
    return cleaned


def _batches(record_count: int, chunk: int, stem: str, ext: str) -> tuple[BatchPlan, ...]:
    starts = range(0, record_count, chunk)
    total = len(starts)
    return tuple(
        BatchPlan(
            number=n,
            start=start,
            stop=min(start + chunk, record_count),
            file_name=f"{stem}_batch_{n}_of_{total}.{ext}",
        )
        for n, start in enumerate(starts, start=1)
    )


def plan_export(
    record_count: int, template: Template, options: ExportOptions, limits: Limits
) -> ExportPlan:
    """single_file below limits.chunked_threshold (or with chunking "off"), else multi_file.

    Raises UnknownFormat for a format without a writer and ValidationError for a chunking mode
    other than "auto" / "off"."""
    if record_count < 0:
        raise ValueError(f"record_count must be >= 0, got {record_count}")
    if options.chunking not in CHUNKING_MODES:
        raise ValidationError(
            f"Unsupported chunking '{options.chunking}'. Use one of: auto, off",
            details={"chunking": options.chunking, "allowed": list(CHUNKING_MODES)},
        )
    ext = get_writer(options.format).extension
    kind = template.export_type
    custom = safe_stem(options.filename, "") or None
    if options.chunking == "off" or record_count < limits.chunked_threshold:
        name = f"{custom or f'{kind}_{template.name}_export'}.{ext}"
        batch = BatchPlan(number=1, start=0, stop=record_count, file_name=name)
        return ExportPlan("single_file", record_count, record_count, (batch,), None, ext)
    chunk = chunk_size_for(template, record_count, limits)
    stem = custom or kind
    archive = f"{custom}.zip" if custom else f"{kind}_{template.name}_export.zip"
    batches = _batches(record_count, chunk, stem, ext)
    return ExportPlan("multi_file", record_count, chunk, batches, archive, ext)
