"""The engine's entry points for the doors (REST API, Dash UI, CLI)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from .catalog import Catalog
from .model import ExportOptions, ExportResult, PreviewResult, ProgressCallback


def preview(
    frame: pl.DataFrame,
    options: ExportOptions,
    *,
    offset: int = 0,
    limit: int = 100,
    catalog: Catalog | None = None,
) -> PreviewResult:
    """Map `frame` and return rows [offset, offset+limit) as display strings, the quality
    report and the export plan. Validates type/template/format like write_export."""
    raise NotImplementedError


def write_export(
    frame: pl.DataFrame,
    options: ExportOptions,
    target_dir: Path,
    *,
    progress: ProgressCallback | None = None,
    catalog: Catalog | None = None,
    max_records: int | None = None,
) -> ExportResult:
    """Validate, map, plan and write every file (and the ZIP for multi_file) into
    `target_dir`. Each file is written to a temporary name and renamed into place.
    `progress(files_done, files_total)` is called after each file."""
    raise NotImplementedError
