"""Request hooks for the whole server: request id, one log line per request, the optional API
key and CORS for /api paths."""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
import uuid

import flask

from app import metrics
from export_core.logs import REQUEST_ID
from export_core.settings import Settings

from .errors import error_response, is_api_path
from .signing import check_signature, signature_applies

log = logging.getLogger("ybb.access")

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_HEADERS = "Content-Type, X-API-Key, Authorization, Idempotency-Key, X-Request-ID"
CORS_EXPOSE = "X-Request-ID, Retry-After, Content-Disposition, Content-Length"


def log_safe(text: str, limit: int = 300) -> str:
    """`text` for a log line: control characters escaped (a %0A in a URL must not forge a log
    line), spaces encoded (one token per field), at most `limit` characters."""
    cleaned = text[:limit].encode("unicode_escape").decode("ascii").replace(" ", "%20")
    return cleaned + ("..." if len(text) > limit else "")


UI_PAGES = ("/api", "/api/")  # the UI's API documentation page (static, no data)


def needs_key(path: str) -> bool:
    """The routes an API key protects: everything under /api/ except the UI's documentation
    page at /api itself (the UI's own login guards it); /health stays open."""
    return is_api_path(path) and path not in UI_PAGES


def presented_key() -> str:
    """The key the client sent, in X-API-Key or Authorization: Bearer."""
    headers = flask.request.headers
    if "X-API-Key" in headers:
        return headers["X-API-Key"]
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def key_matches(expected: str, given: str) -> bool:
    """Constant-time comparison (on bytes, so non-ASCII input cannot raise)."""
    return hmac.compare_digest(expected.encode(), given.encode())


def allowed_origin(settings: Settings, origin: str | None) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, or None. A wildcard in the
    settings is honoured only while no API key is configured."""
    if not origin:
        return None
    if origin in settings.allowed_origins:
        return origin
    if "*" in settings.allowed_origins and not settings.api_key:
        return "*"
    return None


def install_hooks(server: flask.Flask, settings: Settings, on_first_request: object) -> None:
    """Register before/after hooks on `server`. `on_first_request` is called (cheaply) on
    every request; it starts per-process services lazily."""
    served_by = os.environ.get("YBB_SERVED_BY_HEADER", "") == "1"

    @server.before_request
    def _begin() -> flask.Response | None:
        flask.g.started = time.perf_counter()
        given = flask.request.headers.get("X-Request-ID", "")
        flask.g.request_id = given if REQUEST_ID_RE.match(given) else uuid.uuid4().hex
        REQUEST_ID.set(flask.g.request_id)
        # Whatever reads the request's headers later sees the id in force (Dash hands them to
        # a background callback's job: components/export_run carries it to the export process).
        flask.request.environ["HTTP_X_REQUEST_ID"] = flask.g.request_id
        if callable(on_first_request):
            on_first_request()
        path = flask.request.path
        if not is_api_path(path):
            return None
        if flask.request.method == "OPTIONS":
            return flask.Response(status=204)
        return _authorise(settings, path)

    @server.teardown_request
    def _forget_request_id(_exc: BaseException | None) -> None:
        REQUEST_ID.set(None)  # the thread serves other requests next

    @server.after_request
    def _finish(resp: flask.Response) -> flask.Response:
        request_id = flask.g.get("request_id") or uuid.uuid4().hex
        resp.headers["X-Request-ID"] = request_id
        if served_by:
            resp.headers["X-Served-By"] = str(os.getpid())
        if is_api_path(flask.request.path):
            _cors(resp, settings)
            _security_headers(resp)
        _log_request(resp, request_id)
        return resp


def _log_request(resp: flask.Response, request_id: str) -> None:
    """The request's line in the log (text or JSON, export_core.logs) and its metrics."""
    req = flask.request
    seconds = time.perf_counter() - flask.g.get("started", time.perf_counter())
    route = req.url_rule.rule if req.url_rule is not None else "<unmatched>"
    metrics.observe_request(route, req.method, resp.status_code, seconds)
    fields = {
        "event": "request",
        "method": req.method,
        "route": route,
        "path": log_safe(req.path),
        "status": resp.status_code,
        "duration_ms": round(seconds * 1000, 1),
        "export_id": flask.g.get("export_id"),
        "records": flask.g.get("record_count"),
        "bytes": resp.content_length,
    }
    log.info(
        "method=%s path=%s status=%d duration_ms=%.1f request_id=%s export_id=%s",
        req.method,
        fields["path"],
        resp.status_code,
        seconds * 1000,
        request_id,
        fields["export_id"] or "-",
        extra={"fields": fields, "request_id": request_id},
    )


def _authorise(settings: Settings, path: str) -> flask.Response | None:
    """None when the request may go on. A download (GET/HEAD) carrying signed-link parameters
    is judged by them alone (valid: allowed without the key; expired or tampered: 403);
    otherwise the API key, when one is configured, is required."""
    req = flask.request
    if signature_applies(req.method, path, req.args):
        check = check_signature(settings, path, req.args)
        if check.ok:
            flask.g.signed_link = True
            return None
        return error_response(403, check.reason, check.code)
    if settings.api_key and needs_key(path) and not key_matches(settings.api_key, presented_key()):
        return error_response(
            401,
            "Missing or wrong API key: send it in X-API-Key or Authorization: Bearer",
            "UNAUTHORIZED",
            headers={"WWW-Authenticate": 'Bearer realm="ybb"'},
        )
    return None


def _security_headers(resp: flask.Response) -> None:
    # Export JSON and files hold personal data: no caching by browsers or proxies, no sniffing.
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")


def _cors(resp: flask.Response, settings: Settings) -> None:
    origin = allowed_origin(settings, flask.request.headers.get("Origin"))
    resp.vary.add("Origin")
    if origin is None:
        return
    resp.headers["Access-Control-Allow-Origin"] = origin
    resp.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE
    if flask.request.method == "OPTIONS":
        resp.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        resp.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        resp.headers["Access-Control-Max-Age"] = "600"
