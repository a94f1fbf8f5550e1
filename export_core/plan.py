"""How an export is cut into files: the seed's chunking rules (spec "Chunking Algorithm")."""

from __future__ import annotations

from .catalog import Limits, Template
from .model import ExportOptions, ExportPlan


def chunk_size_for(template: Template, record_count: int, limits: Limits) -> int:
    """The seed's calculate_optimal_chunk_size for this template and size, capped at
    limits.max_chunk_size."""
    raise NotImplementedError


def safe_stem(filename: str | None, default: str) -> str:
    """A safe file stem from a user-supplied name (extension dropped), else `default`."""
    raise NotImplementedError


def plan_export(
    record_count: int, template: Template, options: ExportOptions, limits: Limits
) -> ExportPlan:
    """single_file below limits.chunked_threshold (or with chunking "off"), else multi_file."""
    raise NotImplementedError
