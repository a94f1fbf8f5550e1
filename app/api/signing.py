"""Signed, expiring download links: a browser (or a CodeIgniter page) can fetch one export file
without ever seeing the API key.

A link is the plain download path plus `?expires=<unix seconds>&signature=<base64url>`, where the
signature is HMAC-SHA256 over (export id, which file, expiry) under a key derived from
`settings.signing_key` (YBB_SIGNING_KEY) or, when that is empty, `settings.secret_key`. The
file is named canonically ("main", "zip", "batch/<n>"), so one signature works on the seed's
alias paths (/api/export/...) too, and a link for one file never opens another."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from export_core.settings import Settings

MAX_TTL_SECONDS = 7 * 24 * 3600  # a link outliving a week is a leaked credential, not a link
KEY_CONTEXT = b"ybb-signed-download-v1"  # derive a dedicated key, never HMAC with the raw secret
QUERY_PARAMS = ("expires", "signature")
DOWNLOAD_PATH_RE = re.compile(
    r"^/api(?:/ybb)?/export/"
    r"(?P<export_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"/download(?:/(?P<zip>zip)|/batch/(?P<batch>[0-9]{1,7}))?$"
)
_EXPIRES_RE = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, base64url without padding


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of checking a request's signature: `ok`, or why not (`reason`, `code`)."""

    ok: bool
    reason: str = ""
    code: str = ""


def download_target(path: str) -> tuple[str, str] | None:
    """(export id, canonical file name "main" | "zip" | "batch/<n>") of a download path, or
    None when `path` is not a download path."""
    match = DOWNLOAD_PATH_RE.match(path)
    if match is None:
        return None
    if match["zip"]:
        which = "zip"
    elif match["batch"] is not None:
        which = f"batch/{int(match['batch'])}"
    else:
        which = "main"
    return match["export_id"], which


def _signing_key(settings: Settings) -> bytes:
    secret = (settings.signing_key or settings.secret_key).encode()
    if not secret:
        raise ValueError("No signing key: set YBB_SIGNING_KEY or YBB_SECRET_KEY")
    return hmac.new(secret, KEY_CONTEXT, hashlib.sha256).digest()


def _signature(settings: Settings, export_id: str, which: str, expires: int) -> str:
    message = f"{export_id}\n{which}\n{expires}".encode()
    digest = hmac.new(_signing_key(settings), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_download_path(settings: Settings, path: str, ttl_seconds: int | None = None) -> str:
    """`path` (a plain download path such as /api/ybb/export/<id>/download/zip) with
    `?expires=...&signature=...` appended, valid for `ttl_seconds` (default
    settings.signed_url_ttl_seconds, at most 7 days). ValueError for any other path."""
    ttl = settings.signed_url_ttl_seconds if ttl_seconds is None else ttl_seconds
    if not 1 <= ttl <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds must be from 1 to {MAX_TTL_SECONDS}, got {ttl}")
    return signed_path_until(settings, path, int(time.time()) + ttl)


def signed_path_until(settings: Settings, path: str, expires: int) -> str:
    """`path` signed to stay valid until the unix time `expires` (ValueError: not a download)."""
    target = download_target(path)
    if target is None:
        raise ValueError(f"Not a download path: {path!r}")
    signature = _signature(settings, *target, expires)
    return f"{path}?expires={expires}&signature={signature}"


def signature_applies(method: str, path: str, args: Mapping[str, str]) -> bool:
    """True when the request is a GET/HEAD download carrying signed-link parameters (then they
    alone decide). Elsewhere the parameters are ignored and the usual rules apply, so a link
    never authorises another route or method."""
    return (
        method in ("GET", "HEAD")
        and any(name in args for name in QUERY_PARAMS)
        and download_target(path) is not None
    )


def check_signature(
    settings: Settings, path: str, args: Mapping[str, str], now: float | None = None
) -> SignatureCheck:
    """Check the signed-link parameters of a download request (constant-time comparison)."""
    target = download_target(path)
    if target is None:
        return SignatureCheck(False, "Signed links are valid only for downloads", "FORBIDDEN")
    expires_text, given = args.get("expires", ""), args.get("signature", "")
    if not _EXPIRES_RE.match(expires_text) or not _SIGNATURE_RE.match(given):
        return SignatureCheck(False, "Download link is malformed", "INVALID_SIGNATURE")
    expected = _signature(settings, *target, int(expires_text))
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return SignatureCheck(False, "Download link signature is invalid", "INVALID_SIGNATURE")
    if int(expires_text) <= (time.time() if now is None else now):
        return SignatureCheck(False, "Download link has expired", "LINK_EXPIRED")
    return SignatureCheck(True)
