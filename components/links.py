"""Where the UI's download links point. Every link to an export file is built here, so that
signed or authenticated URLs (needed once YBB_API_KEY protects /api/ybb) replace plain ones in
one place."""

from __future__ import annotations

from urllib.parse import quote

API_PREFIX = "/api/ybb"


def download_url(export_id: str, which: str | int = "main") -> str:
    """The REST download route for an export: "main" (the file, or the ZIP of a multi-file
    export), "zip", or a 1-based batch number."""
    base = f"{API_PREFIX}/export/{quote(export_id, safe='')}/download"
    if which == "main":
        return base
    if which == "zip":
        return f"{base}/zip"
    if isinstance(which, int) and which >= 1:
        return f"{base}/batch/{which}"
    raise ValueError(f"unknown download selector {which!r}")


def openapi_url() -> str:
    """The OpenAPI document of the REST API."""
    return f"{API_PREFIX}/openapi.json"
