"""Frame + Template -> MappedFrame (typed columns, translated statuses) + QualityReport.
See export_core.model for the mapped frame contract; export_core.cells reads it back."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from .catalog import Catalog, Template
from .model import MappedFrame


def map_frame(
    frame: pl.DataFrame, template: Template, catalog: Catalog | None = None
) -> MappedFrame:
    """Map a reader's frame onto `template` and report on its quality."""
    raise NotImplementedError


def detect_export_type(columns: Iterable[str], catalog: Catalog | None = None) -> str | None:
    """The data type whose fields best match `columns`, or None when nothing matches."""
    raise NotImplementedError
