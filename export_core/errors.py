"""Every error the engine raises, in one hierarchy. No HTTP here: the web app maps classes to codes.

ExportError                      base of everything below
├── CatalogError                 the catalog data file is broken (fails at start-up)
├── InputError                   uploaded/posted data cannot be read (says where)
├── ValidationError              a request option is wrong
│   ├── UnknownExportType        no such data type
│   ├── UnknownTemplate          no such template for the data type
│   ├── UnknownFormat            no such output format
│   ├── NoDataError              the request carries no records
│   ├── UnsupportedMediaType     the request body is not declared as JSON
│   └── MappingConflict          two columns (or template columns) given one field or header
├── LimitExceeded                too many records, too large a body or cell count
├── NotFound                     unknown or expired export
│   └── BatchNotFound            a batch number the export does not have
├── NotReady                     the export is still being written
├── Busy                         too many exports running at once
├── IdempotencyConflict          an Idempotency-Key reused with a different body
├── IdempotencyInProgress        an Idempotency-Key whose first request is still running
└── StorageError                 the data directory cannot be written or read
"""

from __future__ import annotations

from typing import Any


class ExportError(Exception):
    """Base class of every error the engine raises on purpose."""

    error_code = "EXPORT_ERROR"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class CatalogError(ExportError):
    """The catalog data file is missing an entry or contradicts itself."""

    error_code = "CATALOG_ERROR"


class InputError(ExportError):
    """Input data cannot be read; `details` says where (line, column, row, field)."""

    error_code = "INVALID_INPUT"

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | str | None = None,
        row: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        where = {
            k: v for k, v in (("line", line), ("column", column), ("row", row)) if v is not None
        }
        super().__init__(message, details={**where, **(details or {})})
        self.line = line
        self.column = column
        self.row = row


class ValidationError(ExportError):
    """A request option (type, template, format, name) is not acceptable."""

    error_code = "VALIDATION_ERROR"


class UnknownExportType(ValidationError):
    """The data type is not one of the catalog's."""

    error_code = "UNKNOWN_EXPORT_TYPE"


class UnknownTemplate(ValidationError):
    """The template does not exist for the data type."""

    error_code = "UNKNOWN_TEMPLATE"


class UnknownFormat(ValidationError):
    """The output format has no registered writer."""

    error_code = "UNKNOWN_FORMAT"


class NoDataError(ValidationError):
    """The request carries no records to export."""

    error_code = "NO_DATA"


class UnsupportedMediaType(ValidationError):
    """The request body is declared as something other than JSON (e.g. a form post)."""

    error_code = "UNSUPPORTED_MEDIA_TYPE"


class MappingConflict(ValidationError):
    """Well-formed choices that contradict each other: two source columns mapped to one field,
    or a team template repeating a field or a header."""

    error_code = "MAPPING_CONFLICT"


class LimitExceeded(ExportError):
    """A configured limit (records, body size, columns) was exceeded."""

    error_code = "LIMIT_EXCEEDED"


class NotFound(ExportError):
    """The export does not exist or has expired."""

    error_code = "NOT_FOUND"


class BatchNotFound(NotFound):
    """The export has no batch file with that number."""

    error_code = "BATCH_NOT_FOUND"


class NotReady(ExportError):
    """The export is still being written; try again later."""

    error_code = "NOT_READY"


class Busy(ExportError):
    """Too many exports are running at once; retry after `retry_after` seconds."""

    error_code = "TOO_MANY_EXPORTS"

    def __init__(
        self, message: str, *, retry_after: int = 5, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class IdempotencyConflict(ExportError):
    """An Idempotency-Key was reused with a different request body."""

    error_code = "IDEMPOTENCY_CONFLICT"


class IdempotencyInProgress(ExportError):
    """The first request with this Idempotency-Key is still running."""

    error_code = "IDEMPOTENCY_IN_PROGRESS"


class StorageError(ExportError):
    """The data directory could not be written or read."""

    error_code = "STORAGE_ERROR"


def all_error_classes() -> list[type[ExportError]]:
    """Every ExportError class, the base included (used by the mapping-table test)."""
    found: list[type[ExportError]] = [ExportError]
    stack: list[type[ExportError]] = [ExportError]
    while stack:
        for sub in stack.pop().__subclasses__():
            found.append(sub)
            stack.append(sub)
    return found
