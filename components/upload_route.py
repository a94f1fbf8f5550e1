"""`POST /ui/upload`: the UI's file upload. The browser sends the chosen file as the raw request
body (assets/ybb_upload.js, with an upload progress bar); the body is streamed to a temporary
file in the data dir in 1 MB pieces, never held whole, and refused with 413 as soon as it passes
YBB_MAX_UPLOAD_MB. The file is parsed once (components.data_load.load_file), the frame goes into
the upload cache, and the answer is the summary the page keeps (its cache key, rows, columns).

Protection is the UI's: the route is not under /api, so with login on the gate in app/auth asks
for a session (401) and refuses cross-site requests by Origin/Referer (403); in addition every
request must carry `X-YBB-Upload: 1`, a header a cross-site form cannot send and a cross-site
script cannot send without a CORS preflight the app never grants (so a page on another site
cannot post a file into an open, login-less local instance either)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import flask
from werkzeug.exceptions import RequestEntityTooLarge

from components import runtime
from components.data_load import load_file, too_large_message
from export_core.errors import ExportError, InputError

log = logging.getLogger("ybb.ui.upload")
UPLOAD_PATH = "/ui/upload"
UPLOAD_HEADER = "X-YBB-Upload"
FILENAME_HEADER = "X-YBB-Filename"  # URL-encoded by the browser
CHUNK_BYTES = 1024 * 1024
LEFTOVER_SECONDS = 3600  # no upload takes this long between two writes of its file
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def error_response(status: int, message: str, code: str, details: Any = None) -> flask.Response:
    """The API's one error envelope (imported here, not at the top: importing `app` builds
    the UI, which imports this module)."""
    from app.api.errors import error_response as envelope

    return envelope(status, message, code, details)


class TooLarge(Exception):
    """The body passed the upload limit while it was being read."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def safe_filename(raw: str | None) -> str:
    """The person's file name for messages and type detection: the last path part, control
    characters and slashes dropped, at most 200 characters; "upload" when nothing is left."""
    name = unquote(raw or "")
    name = _UNSAFE.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[-200:] or "upload"


def remove_leftovers(directory: Path, older_than: float = LEFTOVER_SECONDS) -> int:
    """Delete partial uploads a killed worker left behind (each request deletes its own file;
    a worker killed mid-upload cannot). Returns how many went."""
    cutoff = time.time() - older_than
    removed = 0
    for part in directory.glob("upload-*.part"):
        with contextlib.suppress(OSError):  # another worker may remove it first
            if part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
    return removed


def save_body(stream: Any, directory: Path, limit: int) -> Path:
    """Copy the request body to a new file in `directory`, 1 MB at a time; TooLarge (and no file
    left behind) once more than `limit` bytes arrived."""
    directory.mkdir(parents=True, exist_ok=True)
    remove_leftovers(directory)
    handle, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=directory)
    path = Path(name)
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := stream.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(size)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _refuse_too_large(size: int, name: str, limit: int) -> flask.Response:
    message = too_large_message(size, limit, f"file {name}")
    return error_response(413, message, "PAYLOAD_TOO_LARGE", {"limit_bytes": limit})


def upload() -> flask.Response:
    """The view: save, parse, cache; the summary, or the error envelope saying what is wrong."""
    request = flask.request
    if request.headers.get(UPLOAD_HEADER) != "1":
        return error_response(
            400,
            f"Uploads are sent by the page itself (the {UPLOAD_HEADER} header is missing).",
            "BAD_REQUEST",
        )
    settings = runtime.get_settings()
    limit = settings.max_upload_bytes
    name = safe_filename(request.headers.get(FILENAME_HEADER))
    if request.content_length is not None and request.content_length > limit:
        return _refuse_too_large(request.content_length, name, limit)
    # The app-wide MAX_CONTENT_LENGTH is the REST API's YBB_MAX_BODY_MB; uploads have their own.
    request.max_content_length = limit
    try:
        path = save_body(request.stream, settings.cache_dir / "incoming", limit)
    except TooLarge as exc:
        return _refuse_too_large(exc.size, name, limit)
    except RequestEntityTooLarge:  # werkzeug's own cut-off of a body without a length
        return _refuse_too_large(limit + 1, name, limit)
    try:
        summary = load_file(path, name, f"file {name}")
    except InputError as exc:
        return error_response(400, exc.message, exc.error_code, exc.details)
    except Exception:  # not the data's fault: logged, and the page says so with a reference
        reference = uuid.uuid4().hex[:8]
        log.exception("upload of %s failed (reference %s)", name, reference)
        return error_response(
            500, "The upload could not be processed.", "UPLOAD_FAILED", {"reference": reference}
        )
    finally:
        path.unlink(missing_ok=True)
    resp = flask.jsonify(status="success", data=summary)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def summary_from_answer(request: dict[str, Any], limit: int) -> dict[str, Any]:
    """The summary the upload route answered with (assets/ybb_upload.js hands the answer to the
    page), or its error raised again, so that every alert about data is made by
    `data_in.load_data`."""
    name = str(request.get("filename") or "upload")
    if request.get("too_large"):  # refused in the browser before sending
        raise InputError(too_large_message(int(request["too_large"]), limit, f"file {name}"))
    summary = request.get("summary")
    if isinstance(summary, dict) and isinstance(summary.get("key"), str):
        return summary
    error = request.get("error") if isinstance(request.get("error"), dict) else {}
    message = str(error.get("message") or "The upload failed. Try again.")
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    if error.get("error_code") == "UPLOAD_FAILED":
        reference = details.get("reference", "")
        raise ExportError(f"{message} The error was logged with reference {reference}.")
    if error.get("error_code") in ("NETWORK", "UPLOAD_REFUSED"):
        raise ExportError(message)
    where = {
        k: details[k] for k in ("line", "row", "column") if isinstance(details.get(k), int | str)
    }
    raise InputError(message, **where)


def register(server: flask.Flask) -> None:
    """Add the route to `server` (once, however many Dash apps share it)."""
    if "ybb_ui_upload" not in server.view_functions:
        server.add_url_rule(UPLOAD_PATH, "ybb_ui_upload", upload, methods=["POST"])
