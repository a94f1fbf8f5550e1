"""Export routes: create (sync or async, idempotent), status, downloads, list, delete, cleanup.
Also served under the seed's example prefix /api/export/<id>/download...."""

from __future__ import annotations

import re
from typing import Any

import flask
import orjson
from werkzeug.exceptions import MethodNotAllowed

from app.metrics import QUEUED, measure_export, observe_cleanup
from export_core import plan, service
from export_core.errors import BatchNotFound, ExportError, NoDataError, NotFound, ValidationError
from export_core.store import FileSelector, StoredResponse
from export_core.store.maintenance import cleanup_if_free

from .body import (
    ExportBody,
    decode_export_body,
    idempotency_key,
    parse_export_request,
    read_body,
    require_json_content_type,
)
from .context import ApiContext, api_context
from .downloads import send_stored_file
from .errors import export_error_response, handle_any
from .presenters import accepted_payload, export_payload, status_fields, status_payload
from .team_store import template_store

bp = flask.Blueprint("ybb_exports", __name__)
bp.register_error_handler(Exception, handle_any)
ALIAS = "/api/export"  # the seed's example download URLs
MAX_PAGE = 200
MAX_BATCH = 1_000_000
PAGE_ARG_RE = re.compile(r"^[0-9]{1,12}$")
EXPORT_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def checked_export_id(export_id: str) -> str:
    """`export_id` if it is a uuid4-shaped id, else the seed's 404 (without echoing the input,
    and before it reaches the store or the request log)."""
    if not EXPORT_ID_RE.match(export_id):
        raise NotFound("Export not found or expired")
    flask.g.export_id = export_id
    return export_id


def json_response(payload: dict[str, Any], status: int = 200) -> flask.Response:
    """orjson-encoded JSON response."""
    return flask.Response(orjson.dumps(payload), status=status, mimetype="application/json")


@bp.post("/api/ybb/export/<export_type>")
def create_export(export_type: str) -> flask.Response:
    """Create an export; honours Idempotency-Key (same body -> same answer)."""
    ctx = api_context()
    if EXPORT_ID_RE.match(export_type):  # /api/ybb/export/<id> only knows DELETE
        raise MethodNotAllowed(valid_methods=["DELETE", "OPTIONS"])
    require_json_content_type()
    hashed = "Idempotency-Key" in flask.request.headers
    raw = read_body(ctx.settings.max_body_bytes, spool=True)
    body = decode_export_body(raw, flask.request.path, ctx.settings.max_records, hashed=hashed)
    del raw  # the body's bytes are not needed once decoded
    key = idempotency_key()
    if key is None:
        return _create(ctx, export_type, body)
    assert body.request_hash is not None
    stored = ctx.store.claim_idempotency_key(key, body.request_hash)
    if stored is not None:
        flask.g.export_id = stored.export_id
        resp = flask.Response(stored.body, status=stored.status_code, mimetype="application/json")
        resp.headers["Idempotent-Replayed"] = "true"
        return resp
    try:
        resp = _create(ctx, export_type, body)
    except ExportError as exc:
        resp = export_error_response(exc)
    except BaseException:
        ctx.store.release_idempotency_key(key)
        raise
    if _rememberable(resp.status_code):
        stored = StoredResponse(resp.status_code, resp.get_data(), flask.g.get("export_id"))
        ctx.store.remember_response(key, stored)
    else:
        ctx.store.release_idempotency_key(key)
    return resp


def _rememberable(status: int) -> bool:
    # 5xx may succeed on retry; 409/429 are about timing, not about the request itself.
    return status < 500 and status not in (409, 429)


def _create(ctx: ApiContext, export_type: str, body: ExportBody) -> flask.Response:
    req = parse_export_request(
        export_type, body, ctx.catalog, ctx.settings.max_records, template_store()
    )
    frame = req.frame
    if frame.height == 0:
        raise NoDataError("No data provided for export", details={"field": "data"})
    template = service.resolve_template(req.options, ctx.catalog)
    strategy = plan.plan_export(frame.height, template, req.options, ctx.catalog.limits).strategy
    record = ctx.store.begin(req.options, frame.height, strategy=strategy)
    flask.g.export_id, flask.g.record_count = record.export_id, frame.height
    if req.is_async:
        store, options, export_id = ctx.store, req.options, record.export_id

        def job() -> None:
            QUEUED.dec()
            with measure_export(options, "api") as measure:
                measure.record = store.finish(export_id, frame, options, consume=True)

        QUEUED.inc()
        ctx.jobs.submit(job, name=export_id)
        resp = json_response(accepted_payload(record), 202)
        resp.headers["Location"] = f"/api/ybb/export/{export_id}/status"
        return resp
    with measure_export(req.options, "api") as measure:
        # consume: the decoded records go once mapped, before the files are written
        record = measure.record = ctx.store.finish(
            record.export_id, frame, req.options, consume=True
        )
    return json_response(export_payload(record))


@bp.get("/api/ybb/export/<export_id>/status")
@bp.get(f"{ALIAS}/<export_id>/status", endpoint="export_status_alias")
def export_status(export_id: str) -> flask.Response:
    """The export's seed status fields plus state and progress."""
    return json_response(status_payload(api_context().store.get(checked_export_id(export_id))))


def _download(export_id: str, which: FileSelector) -> flask.Response:
    return send_stored_file(api_context().store.open_file(checked_export_id(export_id), which))


@bp.get("/api/ybb/export/<export_id>/download")
@bp.get(f"{ALIAS}/<export_id>/download", endpoint="download_alias")
def download(export_id: str) -> flask.Response:
    """The single file, or the ZIP of a multi-file export."""
    return _download(export_id, "main")


@bp.get("/api/ybb/export/<export_id>/download/zip")
@bp.get(f"{ALIAS}/<export_id>/download/zip", endpoint="download_zip_alias")
def download_zip(export_id: str) -> flask.Response:
    """The ZIP archive of a multi-file export."""
    return _download(export_id, "zip")


@bp.get("/api/ybb/export/<export_id>/download/batch/<int:number>")
@bp.get(f"{ALIAS}/<export_id>/download/batch/<int:number>", endpoint="download_batch_alias")
def download_batch(export_id: str, number: int) -> flask.Response:
    """One batch file of a multi-file export."""
    if number > MAX_BATCH:  # no export has that many files; keeps the number JSON-safe
        raise BatchNotFound(f"Batch file {number} not found or expired")
    return _download(export_id, number)


@bp.delete("/api/ybb/export/<export_id>")
def delete_export(export_id: str) -> flask.Response:
    """Remove an export and its files now."""
    ctx = api_context()
    if export_id in ctx.catalog.types:  # /api/ybb/export/<type> only knows POST
        raise MethodNotAllowed(valid_methods=["POST", "OPTIONS"])
    ctx.store.delete(checked_export_id(export_id))
    return json_response({"status": "success", "data": {"export_id": export_id, "deleted": True}})


def _page_arg(name: str, default: int, low: int, high: int) -> int:
    raw = flask.request.args.get(name)
    if raw is None:
        return default
    # ASCII digits, bounded length: str.isdigit() accepts "²" (int() then raises) and int()
    # refuses strings over 4,300 digits - both were 500s.
    if not PAGE_ARG_RE.match(raw) or not low <= int(raw) <= high:
        raise ValidationError(
            f"'{name}' must be an integer from {low} to {high}",
            details={"field": name, "minimum": low, "maximum": high},
        )
    return int(raw)


@bp.get("/api/ybb/exports")
def list_exports() -> flask.Response:
    """Recent exports, newest first (`limit` 1-200, default 50; `offset`)."""
    limit = _page_arg("limit", 50, 1, MAX_PAGE)
    offset = _page_arg("offset", 0, 0, 10**9)
    records, total = api_context().store.list(limit=limit, offset=offset)
    data = {
        "exports": [status_fields(r) for r in records],
        "total": total,
        "limit": limit,
        "offset": offset,
    }
    return json_response({"status": "success", "data": data})


@bp.post("/api/ybb/cleanup")
def cleanup() -> flask.Response:
    """Remove expired exports now (waits for nothing: 0 if another worker is cleaning)."""
    ctx = api_context()
    removed = cleanup_if_free(ctx.store, ctx.scheduler.lock_path)
    observe_cleanup(removed)
    return json_response({"status": "success", "data": {"removed": removed or 0}})
