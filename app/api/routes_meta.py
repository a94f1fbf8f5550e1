"""Catalog and service routes: templates, status mappings, limits in force, the OpenAPI
document, and the /api fallback that turns unknown paths and wrong methods into envelopes."""

from __future__ import annotations

import flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from export_core.settings import SERVICE_VERSION

from .context import api_context
from .errors import handle_any
from .openapi import build_openapi
from .presenters import templates_payload
from .routes_exports import json_response

bp = flask.Blueprint("ybb_meta", __name__)
bp.register_error_handler(Exception, handle_any)
PROBE_METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH")


@bp.get("/api/ybb/templates")
def templates() -> flask.Response:
    """Every template of every data type."""
    return json_response(templates_payload(api_context().catalog))


@bp.get("/api/ybb/templates/<export_type>")
def templates_for(export_type: str) -> flask.Response:
    """The templates of one data type (404 envelope for an unknown type)."""
    return json_response(templates_payload(api_context().catalog, export_type))


@bp.get("/api/ybb/status-mappings")
def status_mappings() -> flask.Response:
    """The status code -> label tables."""
    return json_response({"status": "success", "data": api_context().catalog.status_mappings})


@bp.get("/api/ybb/system-config")
def system_config() -> flask.Response:
    """The limits in force (settings + catalog); no secrets."""
    ctx = api_context()
    s, limits = ctx.settings, ctx.catalog.limits
    data = {
        "version": SERVICE_VERSION,
        "limits": {
            "max_records_per_request": s.max_records,
            "max_body_bytes": s.max_body_bytes,
            "max_chunk_size": limits.max_chunk_size,
            "max_concurrent_exports": s.max_concurrent_exports,
            "retention_hours": s.retention_hours,
        },
        "chunk_sizes": {
            name: {t: tpl.chunk_size for t, tpl in dt.templates.items()}
            for name, dt in ctx.catalog.types.items()
        },
        "performance": {
            "chunked_threshold": limits.chunked_threshold,
            "memory_limit_mb": limits.memory_limit_mb,
            "timeout_seconds": limits.timeout_seconds,
        },
        "export_types": list(ctx.catalog.types),
        "formats": ["excel", "csv"],
        "cleanup_interval_seconds": s.cleanup_interval_seconds,
        "api_key_required": bool(s.api_key),
    }
    return json_response({"status": "success", "data": data})


@bp.get("/api/ybb/openapi.json")
def openapi() -> flask.Response:
    """The OpenAPI 3.1 document of this API."""
    ctx = api_context()
    return json_response(build_openapi(ctx.settings, ctx.catalog))


@bp.route("/api/<path:rest>", methods=[*PROBE_METHODS])
def api_fallback(rest: str) -> flask.Response:
    """No API route matched: 405 if the path exists for other methods, else 404.
    (Needed because Dash's page catch-all would otherwise answer GETs with HTML.)"""
    adapter = flask.current_app.url_map.bind("localhost")
    allowed: set[str] = set()
    for method in PROBE_METHODS:
        try:
            rule, _ = adapter.match(flask.request.path, method=method, return_rule=True)
        except HTTPException:
            continue
        if "<path:" not in rule.rule:
            allowed.add(method)
    if allowed:
        extra = {"HEAD", "OPTIONS"} if "GET" in allowed else {"OPTIONS"}
        raise MethodNotAllowed(valid_methods=sorted(allowed | extra))
    raise NotFound()
