"""export_core: the YBB export engine. Imports neither Flask nor Dash.

The doors (REST API, Dash UI, CLI) use only the names re-exported here."""

import os

# polars' allocator (its own jemalloc) reads this once, when polars loads: on the imports
# below unless the process loaded polars before. Freed pages go back to the kernel after
# 100 ms instead of polars' default 500 ms, then 1 s (the CLI's 1,000,000-row export: 175 MB
# peak instead of 209 MB), or at once (each page then faults in again: 70,000 faults and ~20%
# more time per 50,000-row API export). The gunicorn workers keep app/gunicorn_conf.py's
# (at once: their peak stays under 200 MB). An operator's own _RJEM_MALLOC_CONF wins.
# docs/PERFORMANCE.md, ninth round.
POLARS_ALLOCATOR_CONF = "dirty_decay_ms:100,muzzy_decay_ms:0"
# One arena for all of polars' threads: the CLI reads and maps a batch on one thread while it
# renders another (streamed.py), and with an arena per thread each kept its own freed pages
# (the 1,000,000-row export's peak 189-207 MB, median 194, instead of 188-195, median 190).
# Tenth round; the API's workers keep gunicorn_conf's setting.
POLARS_ARENAS = "narenas:1"
# What polars' own __init__ writes there when it finds nothing: a process started by one that
# had imported polars inherits it, and it is not an operator's choice.
POLARS_OWN_CONF = "dirty_decay_ms:500,muzzy_decay_ms:1000"
if os.environ.get("_RJEM_MALLOC_CONF", POLARS_OWN_CONF) == POLARS_OWN_CONF:
    os.environ["_RJEM_MALLOC_CONF"] = f"{POLARS_ARENAS},{POLARS_ALLOCATOR_CONF}"

# ruff: noqa: E402 (the setting must come before the imports that load polars)

from .catalog import Catalog, Column, DataType, Limits, Template, get_catalog
from .errors import (
    BatchNotFound,
    Busy,
    CatalogError,
    ExportError,
    IdempotencyConflict,
    IdempotencyInProgress,
    InputError,
    LimitExceeded,
    NoDataError,
    NotFound,
    NotReady,
    StorageError,
    UnknownExportType,
    UnknownFormat,
    UnknownTemplate,
    ValidationError,
)
from .model import (
    ExportOptions,
    ExportPlan,
    ExportResult,
    MappedFrame,
    PreviewResult,
    QualityReport,
    WrittenArchive,
    WrittenFile,
)
from .service import preview, write_export
from .settings import Settings

__all__ = [
    "BatchNotFound",
    "Busy",
    "Catalog",
    "CatalogError",
    "Column",
    "DataType",
    "ExportError",
    "ExportOptions",
    "ExportPlan",
    "ExportResult",
    "IdempotencyConflict",
    "IdempotencyInProgress",
    "InputError",
    "LimitExceeded",
    "Limits",
    "MappedFrame",
    "NoDataError",
    "NotFound",
    "NotReady",
    "PreviewResult",
    "QualityReport",
    "Settings",
    "StorageError",
    "Template",
    "UnknownExportType",
    "UnknownFormat",
    "UnknownTemplate",
    "ValidationError",
    "WrittenArchive",
    "WrittenFile",
    "get_catalog",
    "preview",
    "write_export",
]
