"""The OpenAPI 3.1 document, built from the settings and the catalog so that limits and
template enums are always the ones in force."""

from __future__ import annotations

from typing import Any

from export_core.catalog import Catalog
from export_core.settings import SERVICE_NAME, SERVICE_VERSION, Settings

from . import openapi_schemas as S
from .body import IDEMPOTENCY_KEY_RE, MAX_NAME_CHARS
from .openapi_team import body_additions, team_component_schemas, team_template_ops
from .signing import MAX_TTL_SECONDS

JSON = "application/json"
EXPORT_ID = {
    "name": "export_id",
    "in": "path",
    "required": True,
    "schema": {
        "type": "string",
        "pattern": r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    },
    "description": "The export id returned when the export was created.",
}
FILE_CONTENT = {
    media: {"schema": {"type": "string", "contentMediaType": media}}
    for media in (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/csv",
        "application/zip",
    )
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(code): {"description": S.ERROR_TEXT[code], "content": {JSON: {"schema": _ref("Error")}}}
        for code in codes
    }


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    # Any route: requests the server refuses to read (app/gunicorn_conf.py, same envelope).
    return {"summary": summary, "responses": {**responses, **_errors(414, 431)}, **extra}


def _export_body(settings: Settings, templates: list[str]) -> dict[str, Any]:
    nullable_bool = {"type": ["boolean", "null"]}
    name = {"type": ["string", "null"], "maxLength": MAX_NAME_CHARS}
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "array",
                "minItems": 1,
                "maxItems": settings.max_records,
                "items": {"type": "object", "minProperties": 1},
                "description": "The records: JSON objects keyed by field name.",
            },
            "template": {"enum": [*templates, None], "default": "standard"},
            "format": {"enum": ["excel", "xlsx", "csv", None], "default": "excel"},
            "filename": name,
            "sheet_name": name,
            "chunking": {"enum": ["auto", "off", None], "default": "auto"},
            "csv_bom": nullable_bool,
            "async": nullable_bool,
        },
    }


def _export_ops(settings: Settings, catalog: Catalog) -> dict[str, Any]:
    idem = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_RE.pattern},
    }
    paths: dict[str, Any] = {}
    for name, data_type in catalog.types.items():
        body = _export_body(settings, list(data_type.templates))
        body["properties"].update(body_additions(catalog, name, list(data_type.templates)))
        created = {
            "description": "The export was written (one file, or several plus a ZIP).",
            "content": {JSON: {"schema": {"anyOf": [_ref("SingleExport"), _ref("MultiExport")]}}},
        }
        paths[f"/api/ybb/export/{name}"] = {
            "post": _op(
                f"Export {data_type.label.lower()}",
                {
                    "200": created,
                    "202": _ok("Accepted", "Accepted: the export runs in the background."),
                    **_errors(400, 404, 409, 413, 415, 422, 429, 500, 507),
                },
                operationId=f"export_{name}",
                parameters=[idem],
                requestBody={"required": True, "content": {JSON: {"schema": body}}},
            )
        }
    return paths


SIGNED_LINK_PARAMS = [
    {
        "name": "expires",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
        "description": "Signed links only: expiry (unix seconds). See /signed-links.",
    },
    {
        "name": "signature",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "Signed links only: HMAC-SHA256 (base64url). Valid -> no API key needed.",
    },
]


def _signed_links_op() -> dict[str, Any]:
    ttl = {
        "name": "ttl_seconds",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TTL_SECONDS},
    }
    body = {"type": "object", "properties": {"ttl_seconds": ttl["schema"]}}
    return {
        "/api/ybb/export/{export_id}/signed-links": {
            "post": _op(
                "Signed, expiring download links (no API key needed to use them)",
                {"200": _ok("SignedLinks", "Links to every file."), **_errors(400, 404, 413)},
                operationId="signed_links",
                parameters=[EXPORT_ID, ttl],
                requestBody={"required": False, "content": {JSON: {"schema": body}}},
            )
        }
    }


def _export_id_ops(prefix: str, alias: bool) -> dict[str, Any]:
    tag = "_alias" if alias else ""
    download = {"description": "The file, streamed.", "content": FILE_CONTENT}
    batch = {"name": "n", "in": "path", "required": True, "schema": {"type": "integer"}}
    signed = [EXPORT_ID, *SIGNED_LINK_PARAMS]
    paths: dict[str, Any] = {
        f"{prefix}/{{export_id}}/status": {
            "get": _op(
                "Export status",
                {"200": _ok("Status", "State, progress and files."), **_errors(404)},
                operationId=f"status{tag}",
                parameters=[EXPORT_ID],
            )
        },
        f"{prefix}/{{export_id}}/download": {
            "get": _op(
                "Download the file (or the ZIP of a multi-file export)",
                {"200": download, **_errors(403, 404, 409)},
                operationId=f"download{tag}",
                parameters=signed,
            )
        },
        f"{prefix}/{{export_id}}/download/zip": {
            "get": _op(
                "Download the ZIP archive",
                {"200": download, **_errors(403, 404, 409)},
                operationId=f"download_zip{tag}",
                parameters=signed,
            )
        },
        f"{prefix}/{{export_id}}/download/batch/{{n}}": {
            "get": _op(
                "Download one batch file",
                {"200": download, **_errors(403, 404, 409)},
                operationId=f"download_batch{tag}",
                parameters=[*signed, batch],
            )
        },
    }
    return paths


def _other_ops(catalog: Catalog) -> dict[str, Any]:
    page = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": 10**9},
        },
    ]
    type_param = {
        "name": "export_type",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": list(catalog.types)},
    }
    return {
        "/health": {
            "get": _op(
                "Service health (with detail=1: every dependency checked, see /health/ready)",
                {"200": _ok("Health", "Healthy."), **_errors(400, 503)},
                parameters=[{"name": "detail", "in": "query", "schema": {"enum": ["0", "1"]}}],
            )
        },
        "/health/ready": {
            "get": _op(
                "Readiness: store, files, disk, Redis/Celery checked; versions and uptime",
                {"200": _ok("Health", "Ready."), **_errors(503)},
            )
        },
        "/api/ybb/export/{export_id}": {
            "delete": _op(
                "Delete an export",
                {"200": _ok("Deleted", "Deleted."), **_errors(404)},
                parameters=[EXPORT_ID],
            )
        },
        "/api/ybb/exports": {
            "get": _op(
                "Recent exports, newest first",
                {"200": _ok("ExportList", "A page of exports."), **_errors(400)},
                parameters=page,
            )
        },
        "/api/ybb/cleanup": {
            "post": _op("Remove expired exports now", {"200": _ok("Cleanup", "Done.")})
        },
        "/api/ybb/templates": {"get": _op("All templates", {"200": _ok("Templates", "OK.")})},
        "/api/ybb/templates/{export_type}": {
            "get": _op(
                "Templates of one data type",
                {"200": _ok("TemplatesOfType", "OK."), **_errors(404)},
                parameters=[type_param],
            )
        },
        "/api/ybb/status-mappings": {
            "get": _op("Status code labels", {"200": _ok("StatusMappings", "OK.")})
        },
        "/api/ybb/system-config": {
            "get": _op("Limits in force", {"200": _ok("SystemConfig", "OK.")})
        },
        "/api/ybb/openapi.json": {
            "get": _op(
                "This document",
                {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
            )
        },
    }


def build_openapi(settings: Settings, catalog: Catalog) -> dict[str, Any]:
    """The whole document (security declared only when an API key is configured)."""
    paths = {
        **_export_ops(settings, catalog),
        **_export_id_ops("/api/ybb/export", alias=False),
        **_export_id_ops("/api/export", alias=True),
        **_signed_links_op(),
        **_other_ops(catalog),
        **team_template_ops(catalog, _op, _ok, _errors),
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": f"{SERVICE_NAME} API", "version": SERVICE_VERSION},
        "paths": paths,
        "components": {"schemas": {**S.component_schemas(catalog), **team_component_schemas()}},
    }
    if settings.api_key:
        doc["components"]["securitySchemes"] = {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "bearer": {"type": "http", "scheme": "bearer"},
        }
        for path, item in paths.items():
            if path != "/health":
                for op in item.values():
                    op["security"] = [{"apiKey": []}, {"bearer": []}]
                    op["responses"].update(_errors(401))
    return doc
