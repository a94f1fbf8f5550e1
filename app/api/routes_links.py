"""POST /api/ybb/export/<id>/signed-links: mint signed, expiring download links for an export,
so an integrator can hand a browser a URL without exposing the API key."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import flask

from export_core.errors import ValidationError

from .body import parse_json_object, read_body
from .context import api_context
from .errors import handle_any
from .presenters import export_url
from .routes_exports import checked_export_id, json_response
from .signing import MAX_TTL_SECONDS, signed_path_until

bp = flask.Blueprint("ybb_links", __name__)
bp.register_error_handler(Exception, handle_any)
MAX_LINK_BODY = 4096
_DIGITS = re.compile(r"^[0-9]{1,9}$")  # ASCII only: str.isdigit() also accepts "²"


def _ttl(default: int) -> int:
    """ttl_seconds from the query string or a small JSON body (both checked when both are
    given; the query's wins); default from settings."""
    body = read_body(MAX_LINK_BODY)
    from_body = parse_json_object(body).get("ttl_seconds") if body.strip() else None
    from_query = flask.request.args.get("ttl_seconds")
    checked = [_ttl_value(raw) for raw in (from_query, from_body) if raw is not None]
    return checked[0] if checked else default


def _ttl_value(raw: Any) -> int:
    if isinstance(raw, float) and raw.is_integer():  # JSON Schema: 900.0 is an integer
        raw = int(raw)
    text = str(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not _DIGITS.match(text) or not 1 <= int(text) <= MAX_TTL_SECONDS:
        raise ValidationError(
            f"'ttl_seconds' must be an integer from 1 to {MAX_TTL_SECONDS}",
            details={"field": "ttl_seconds", "minimum": 1, "maximum": MAX_TTL_SECONDS},
        )
    return int(text)


@bp.post("/api/ybb/export/<export_id>/signed-links")
def signed_links(export_id: str) -> flask.Response:
    """Signed links to every file of the export (the main download, the ZIP, each batch)."""
    ctx = api_context()
    ttl = _ttl(ctx.settings.signed_url_ttl_seconds)
    record = ctx.store.get(checked_export_id(export_id))  # 404 for unknown / expired ids
    expires = int(time.time()) + ttl

    def sign(suffix: str) -> str:
        return signed_path_until(ctx.settings, export_url(record.export_id, suffix), expires)

    batches = [
        {"batch_number": f.batch_number, "download_url": sign(f"/download/batch/{f.batch_number}")}
        for f in record.files
        if record.strategy == "multi_file"
    ]
    data = {
        "export_id": record.export_id,
        "state": record.state,
        "ttl_seconds": ttl,
        "expires_at": datetime.fromtimestamp(expires, tz=UTC).isoformat(),
        "download_url": sign("/download"),
        "zip_download_url": sign("/download/zip") if record.archive is not None else None,
        "individual_files": batches,
    }
    return json_response({"status": "success", "data": data})
