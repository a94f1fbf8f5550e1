"""export_core: the YBB export engine. Imports neither Flask nor Dash.

The doors (REST API, Dash UI, CLI) use only the names re-exported here."""

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
