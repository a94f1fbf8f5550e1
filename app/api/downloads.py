"""Streaming stored files from disk with the right headers.

The file is opened before the response is returned, so a cleanup that unlinks it afterwards
does not cut the download short (on POSIX an open file stays readable after unlink)."""

from __future__ import annotations

import os
import re
import unicodedata
from urllib.parse import quote

import flask
from werkzeug.wsgi import wrap_file

from export_core.errors import NotFound
from export_core.store import OpenedFile

BLOCK_SIZE = 256 * 1024
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._() -]+")


def content_disposition(file_name: str) -> str:
    """attachment; an ASCII fallback `filename=` plus the exact name in `filename*=UTF-8''`."""
    folded = unicodedata.normalize("NFKD", file_name).encode("ascii", "ignore").decode()
    fallback = _UNSAFE_ASCII.sub("_", folded).strip(" .") or "download"
    stem, _, ext = file_name.rpartition(".")
    if stem and not fallback.endswith("." + ext) and ext.isascii():
        fallback = f"{fallback}.{ext}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


def send_stored_file(opened: OpenedFile) -> flask.Response:
    """A 200 response streaming `opened` in 256 KiB blocks (or via the server's sendfile);
    from object storage, its already opened chunks or a redirect to its presigned URL."""
    if opened.redirect_url is not None:
        resp = flask.redirect(opened.redirect_url, code=302)
        resp.headers["Cache-Control"] = "no-store"
        return resp
    if opened.chunks is not None:
        resp = flask.Response(opened.chunks, 200, content_type=opened.media_type)
        resp.direct_passthrough = True
        return _download_headers(resp, opened.file_name, opened.size)
    try:
        handle = open(opened.path, "rb")  # noqa: SIM115 - closed by the response iterable
    except FileNotFoundError:
        raise NotFound("Export not found or expired") from None
    size = os.fstat(handle.fileno()).st_size
    body = wrap_file(flask.request.environ, handle, BLOCK_SIZE)
    resp = flask.Response(body, status=200, content_type=opened.media_type, direct_passthrough=True)
    return _download_headers(resp, opened.file_name, size)


def _download_headers(resp: flask.Response, file_name: str, size: int) -> flask.Response:
    resp.headers["Content-Length"] = str(size)
    resp.headers["Content-Disposition"] = content_disposition(file_name)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
