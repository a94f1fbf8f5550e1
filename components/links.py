"""Where the UI's download links point. Every link to an export file is built here: plain REST
download paths, or signed, expiring ones (app.api.signing) once YBB_API_KEY protects /api/ybb,
so the browser can download without ever holding the key."""

from __future__ import annotations

from urllib.parse import quote

from app.api.signing import signed_download_path
from components import runtime

API_PREFIX = "/api/ybb"


def download_path(export_id: str, which: str | int = "main") -> str:
    """The plain REST download route for an export: "main" (the file, or the ZIP of a
    multi-file export), "zip", or a 1-based batch number."""
    base = f"{API_PREFIX}/export/{quote(export_id, safe='')}/download"
    if which == "main":
        return base
    if which == "zip":
        return f"{base}/zip"
    if isinstance(which, int) and which >= 1:
        return f"{base}/batch/{which}"
    raise ValueError(f"unknown download selector {which!r}")


def download_url(export_id: str, which: str | int = "main") -> str:
    """The link the UI shows for an export file: the plain route, or, when an API key is
    configured, the route signed for YBB_SIGNED_URL_TTL_SECONDS (default 15 minutes)."""
    path = download_path(export_id, which)
    settings = runtime.get_settings()
    return signed_download_path(settings, path) if settings.api_key else path


def openapi_url() -> str:
    """The OpenAPI document of the REST API."""
    return f"{API_PREFIX}/openapi.json"
