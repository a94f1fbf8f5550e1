"""JSON Schemas of the API's responses (components of the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from export_core.catalog import FIELD_KINDS, Catalog

ERROR_TEXT = {
    400: "Invalid request (body, fields or parameters); the message says what to fix.",
    401: "Missing or wrong API key.",
    403: "Signed download link malformed, tampered with, expired, or used on another route.",
    404: "Unknown or expired export, batch, data type or team template.",
    409: "The export (or the first request with this Idempotency-Key) is still processing.",
    413: "Request body larger than the configured limit.",
    414: "Request line (URL) longer than the server reads (4094 bytes); answered by gunicorn.",
    415: "Content-Type is not application/json.",
    422: "Idempotency-Key reused with a different body, or choices that contradict each other "
    "(column_map or a team template giving one field or header twice).",
    429: "Too many exports running at once; see Retry-After.",
    431: "Too many or too large request headers; answered by gunicorn.",
    500: "Export failed (message says why; no traceback). Retrying may succeed.",
    507: "Export failed: the data directory is full. Retrying later may succeed.",
    503: "Not ready: the message names the failing checks; `details` holds the whole report.",
}

STR = {"type": "string"}
INT = {"type": "integer", "minimum": 0}
NULLABLE_STR = {"type": ["string", "null"]}
# The seed's CodeIgniter controller tests `isset($result['data']['export_strategy'])` for "large
# export": the key is present only on multi-file answers, never "single_file".
MULTI_ONLY = {
    "const": "multi_file",
    "description": "Present only when the export is split into several files (+ ZIP); absent "
    "for a single file, as in the seed's answers (its CodeIgniter code tests isset()).",
}
NO_STRATEGY = {"not": {"required": ["export_strategy"]}}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def _success(**props: Any) -> dict[str, Any]:
    return _obj({"status": {"const": "success"}, **props})


def _common() -> dict[str, Any]:
    return {
        "export_type": STR,
        "template": STR,
        "format": {"enum": ["excel", "csv"]},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "status_url": STR,
    }


def _batch() -> dict[str, Any]:
    return _obj(
        {
            "batch_number": {"type": "integer", "minimum": 1},
            "file_name": STR,
            "file_size": INT,
            "record_count": INT,
            "record_range": {"type": "string", "pattern": r"^\d+-\d+$"},
            "download_url": STR,
        }
    )


def _archive() -> dict[str, Any]:
    return _obj(
        {
            "zip_file_name": STR,
            "zip_file_size": INT,
            "download_url": STR,
            "compression_ratio": {"type": "string", "pattern": r"^\d+(\.\d)?%$"},
        }
    )


def _status_fields(**extra: Any) -> dict[str, Any]:
    required = {
        **extra,
        "export_id": STR,
        "export_type": STR,
        "template": STR,
        "record_count": INT,
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "state": {"enum": ["processing", "completed", "failed"]},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "format": {"enum": ["excel", "csv"]},
    }
    optional = {
        "export_strategy": MULTI_ONLY,
        "status_url": STR,
        "error": STR,
        "download_url": STR,
        "total_files": INT,
        "individual_files": {"type": "array", "items": {"$ref": "#/components/schemas/Batch"}},
        "archive": {"anyOf": [{"$ref": "#/components/schemas/Archive"}, {"type": "null"}]},
        "quality": {"type": ["object", "null"]},
    }
    return _obj(required, optional)


def _template() -> dict[str, Any]:
    column = _obj(
        {
            "field": STR,
            "header": STR,
            "kind": {"enum": sorted(FIELD_KINDS)},
            "mapping": NULLABLE_STR,
        }
    )
    return _obj(
        {
            "description": STR,
            "fields": {"type": "array", "items": STR},
            "headers": {"type": "array", "items": STR},
            "includes_sensitive_data": {"type": "boolean"},
            "columns": {"type": "array", "items": column},
        },
        {"chunk_size": INT},
    )


def _exports() -> dict[str, Any]:
    archive_ref = {"$ref": "#/components/schemas/Archive"}
    single = _obj(
        {
            "export_id": STR,
            "file_name": STR,
            "file_size": INT,
            "record_count": INT,
            "download_url": STR,
        },
        {**_common(), "quality": {"type": ["object", "null"]}},
    )
    multi = _obj(
        {
            "export_id": STR,
            "total_records": INT,
            "total_files": INT,
            "individual_files": {"type": "array", "items": {"$ref": "#/components/schemas/Batch"}},
            "archive": archive_ref,
        },
        {**_common(), "quality": {"type": ["object", "null"]}},
    )
    accepted = _obj(
        {
            "export_id": STR,
            "state": {"enum": ["processing", "completed", "failed"]},
            "status_url": STR,
        },
        {**_common(), "progress": INT, "record_count": INT},
    )
    return {
        "SingleExport": {**_success(data=single), **NO_STRATEGY},
        "MultiExport": _success(export_strategy=MULTI_ONLY, data=multi),
        "Accepted": _obj(
            {"status": {"const": "success"}, "data": accepted}, {"export_strategy": MULTI_ONLY}
        ),
    }


def _signed_links() -> dict[str, Any]:
    link = {"type": "string", "description": "Download path with ?expires=...&signature=..."}
    batch = _obj({"batch_number": {"type": "integer", "minimum": 1}, "download_url": link})
    return _obj(
        {
            "export_id": STR,
            "state": {"enum": ["processing", "completed", "failed"]},
            "ttl_seconds": {"type": "integer", "minimum": 1},
            "expires_at": {"type": "string", "format": "date-time"},
            "download_url": link,
            "zip_download_url": {**link, "type": ["string", "null"]},
            "individual_files": {"type": "array", "items": batch},
        }
    )


def component_schemas(catalog: Catalog) -> dict[str, Any]:
    """Every named schema the paths refer to."""
    types = list(catalog.types)
    template_ref = {"$ref": "#/components/schemas/Template"}
    by_name = {"type": "object", "additionalProperties": template_ref}
    return {
        "Error": _obj(
            {"status": {"const": "error"}, "message": STR, "error_code": STR},
            {"details": {"type": "object"}},
        ),
        "Batch": _batch(),
        "Archive": _archive(),
        **_exports(),
        "Status": _status_fields(status={"const": "success"}),
        "ExportList": _success(
            data=_obj(
                {
                    "exports": {"type": "array", "items": _status_fields()},
                    "total": INT,
                    "limit": INT,
                    "offset": INT,
                }
            )
        ),
        "Deleted": _success(data=_obj({"export_id": STR, "deleted": {"const": True}})),
        "Cleanup": _success(data=_obj({"removed": INT})),
        "SignedLinks": _success(data=_signed_links()),
        "Template": _template(),
        "Templates": _success(
            data={
                "type": "object",
                "propertyNames": {"enum": types},
                "additionalProperties": by_name,
            }
        ),
        "TemplatesOfType": _success(export_type={"enum": types}, data=by_name),
        "StatusMappings": _success(
            data={
                "type": "object",
                "additionalProperties": {"type": "object", "additionalProperties": STR},
            }
        ),
        "SystemConfig": _success(
            data=_obj({"limits": {"type": "object"}, "formats": {"type": "array"}})
        ),
        "Health": _obj(
            {
                "status": {"const": "healthy"},
                "timestamp": STR,
                "service": STR,
                "version": STR,
            }
        ),
    }
