"""The one mapping from engine errors to HTTP codes, and the one place that builds the seed's
error envelope: {"status": "error", "message", "error_code", "details"?}."""

from __future__ import annotations

import errno
import json
import logging
import re
import sqlite3
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import orjson
from werkzeug.exceptions import HTTPException

from app import metrics
from export_core.errors import (
    BatchNotFound,
    Busy,
    CatalogError,
    ExportError,
    IdempotencyConflict,
    IdempotencyInProgress,
    InputError,
    LimitExceeded,
    MappingConflict,
    NoDataError,
    NotFound,
    NotReady,
    StorageError,
    UnknownExportType,
    UnknownFormat,
    UnknownTemplate,
    UnsupportedMediaType,
    ValidationError,
)

log = logging.getLogger("ybb.api")
OS_ERROR_RE = re.compile(r"\(os error (\d{1,4})\)")

STATUS_BY_ERROR: dict[type[ExportError], int] = {
    ExportError: 500,
    CatalogError: 500,
    InputError: 400,
    ValidationError: 400,
    UnknownExportType: 404,  # the type is part of the URL: no such resource
    UnknownTemplate: 400,
    UnknownFormat: 400,
    NoDataError: 400,
    UnsupportedMediaType: 415,
    LimitExceeded: 400,  # the seed answers "Data exceeds maximum limit" with 400
    NotFound: 404,
    BatchNotFound: 404,
    NotReady: 409,
    Busy: 429,
    IdempotencyConflict: 422,
    MappingConflict: 422,  # well-formed JSON whose choices contradict each other
    IdempotencyInProgress: 409,
    StorageError: 500,
}

HTTP_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    404: "ROUTE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def status_for(exc: ExportError) -> int:
    """The HTTP status of an engine error: its own class's entry, else its nearest parent's."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_response(
    status: int,
    message: str,
    error_code: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> flask.Response:
    """THE error envelope, as a JSON response."""
    body: dict[str, Any] = {"status": "error", "message": message, "error_code": error_code}
    if details:
        body["details"] = details
    try:
        raw = orjson.dumps(body)
    except TypeError:  # e.g. an integer beyond 64 bits echoed in details
        raw = json.dumps(body, default=str).encode()
    resp = flask.Response(raw, status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _errno_of(exc: OSError) -> int | None:
    # polars raises OSError without errno, its message ending "(os error 28)"
    found = OS_ERROR_RE.search(str(exc))
    return exc.errno if exc.errno is not None else (int(found[1]) if found else None)


def _out_of_space(exc: BaseException) -> bool:
    """True when an OSError in `exc`'s cause chain says the disk (or quota) is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and _errno_of(current) in (errno.ENOSPC, errno.EDQUOT):
            return True
        current = current.__cause__ or current.__context__
    return False


def export_error_response(exc: ExportError) -> flask.Response:
    """The envelope for an engine error (Retry-After for Busy; 5xx prefixed "Export failed";
    507 Insufficient Storage when the disk is full)."""
    status = status_for(exc)
    if isinstance(exc, StorageError) and _out_of_space(exc):
        status = 507
    message = exc.message if status < 500 else f"Export failed: {exc.message}"
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else None
    if isinstance(exc, Busy):
        metrics.REJECTED.labels("busy").inc()
    if isinstance(exc, StorageError):
        metrics.STORE_ERRORS.labels("out_of_space" if status == 507 else "storage").inc()
    if status >= 500:
        log.error("event=export_error request_id=%s error=%s", _request_id(), exc.error_code)
    return error_response(status, message, exc.error_code, exc.details or None, headers)


def _http_message(exc: HTTPException) -> str:
    req = flask.request
    if exc.code == 404:
        return f"No API route {req.path}; see /api/ybb/openapi.json for the routes"
    if exc.code == 405:
        methods = dict(exc.get_headers()).get("Allow", "")
        return f"Method {req.method} is not allowed on {req.path}; use {methods}"
    if exc.code == 413:
        limit = flask.current_app.config.get("MAX_CONTENT_LENGTH") or 0
        return f"Request body too large: the limit is {limit // (1024 * 1024)} MB"
    return exc.description or exc.name


def http_error_response(exc: HTTPException) -> flask.Response:
    """The envelope for a routing / protocol error (404, 405, 413, ...), keeping Allow."""
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
    code = HTTP_ERROR_CODES.get(status, exc.name.upper().replace(" ", "_"))
    return error_response(status, _http_message(exc), code, None, headers)


def unexpected_error_response(exc: Exception) -> flask.Response:
    """500 "Export failed: <short reason>", logged with the traceback and request id."""
    log.error(
        "event=unexpected_error request_id=%s error=%s where=%s",
        _request_id(),
        _exception_chain(exc),
        _frames(exc),
    )
    if any(isinstance(e, sqlite3.Error) for e in _chain(exc)):
        metrics.STORE_ERRORS.labels("database").inc()
    reason = (str(exc).splitlines() or [""])[0][:120] or type(exc).__name__
    return error_response(500, f"Export failed: {reason}", "INTERNAL_ERROR")


def _exception_chain(exc: BaseException) -> str:
    """Type names of `exc` and its causes - never their messages, which may quote record
    contents (polars and orjson put the offending value in theirs)."""
    return "<-".join(type(e).__qualname__ for e in _chain(exc))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and its causes (or contexts), each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _frames(exc: BaseException) -> str:
    """The traceback as file:line:function hops (no source lines, no values), innermost last."""
    hops = traceback.extract_tb(exc.__traceback__)[-12:]
    return ">".join(f"{Path(h.filename).name}:{h.lineno}:{h.name}" for h in hops)


def _request_id() -> str:
    return str(flask.g.get("request_id", "-"))


def is_api_path(path: str) -> bool:
    """Paths whose errors use the JSON envelope (everything else keeps Dash's behaviour)."""
    return path == "/api" or path.startswith("/api/")


def handle_http_exception(exc: HTTPException) -> flask.Response | HTTPException:
    """App-wide handler: envelope under /api, werkzeug's own page elsewhere."""
    if is_api_path(flask.request.path):
        return http_error_response(exc)
    return exc


def handle_any(exc: Exception) -> flask.Response | HTTPException:
    """Blueprint handler for everything raised by an API view."""
    if isinstance(exc, ExportError):
        return export_error_response(exc)
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    return unexpected_error_response(exc)
