"""Running one export away from the web process, with progress.

A background callback runs in a *forked* process: a child of the web worker (Dash's
DiskcacheManager) or a Celery pool process (CeleryManager). The web worker has already used
polars (the preview), and polars' thread pool deadlocks in a forked child (see shared
notes/performance.md; reproduced here: a group_by in a forked child never returns). So the job
only supervises: it starts a fresh interpreter (`python -m components.export_job`) that loads
the frame from the upload cache and writes the export through the store, and relays the lines
it prints (that the record exists, progress, the outcome). A plain subprocess,
not multiprocessing: a Celery pool process is daemonic, and multiprocessing refuses children
there. The child dies with the job (PR_SET_PDEATHSIG on Linux): cancelling kills the job (Dash
kills a diskcache job's children too; Celery only signals the pool process). `cancel` then
removes the export's record and files, or keeps it from being recorded (export_run calls it
from the Cancel button's own callback, with the export id the page chose on Export).

Where an export launcher runs (components.export_launcher: gunicorn's master and the Celery
worker start one), the export process is a child forked from it instead, already past the
imports a fresh interpreter spends ~0.3 s on; it speaks the same lines over a Unix socket and
ends when the job's end of it closes, as the fresh one ends with its parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from components import export_launcher, runtime
from export_core.errors import ExportError, NotFound
from export_core.logs import REQUEST_ID, configure_logging, current_request_id
from export_core.model import ExportOptions
from export_core.settings import Settings

log = logging.getLogger("ybb.ui.export")
EXPIRED = "The loaded data has expired from the server's cache. Load it again."
ROOT = Path(__file__).resolve().parent.parent  # where `-m components.export_job` imports from
_PR_SET_PDEATHSIG = 1  # from linux/prctl.h


def record_summary(record: Any) -> dict[str, Any]:
    """The parts of an ExportRecord the result card and history show, as plain JSON values."""
    archive = record.archive
    return {
        "export_id": record.export_id,
        "export_type": record.export_type,
        "template": record.template,
        "format": record.format,
        "state": record.state,
        "record_count": record.record_count,
        "strategy": record.strategy,
        "files": [
            {
                "batch_number": f.batch_number,
                "file_name": f.file_name,
                "file_size": f.file_size,
                "record_count": f.record_count,
                "record_range": f.record_range,
            }
            for f in record.files
        ],
        "archive": None
        if archive is None
        else {
            "zip_file_name": archive.zip_file_name,
            "zip_file_size": archive.zip_file_size,
            "compression_ratio": archive.compression_ratio,
        },
        "created_at": record.created_at.isoformat(timespec="seconds"),
        "expires_at": record.expires_at.isoformat(timespec="seconds"),
    }


def _worker(
    settings: Settings,
    key: str,
    options: ExportOptions,
    export_id: str | None,
    out: Any,
    request_id: str | None = None,
) -> None:
    """Runs in the export process (`python -m components.export_job`): load the frame, run
    the export, report back on `out`. Its log lines carry `request_id` (the request that
    started the export)."""
    configure_logging(settings.log_level, settings.log_format)
    REQUEST_ID.set(request_id)
    runtime.configure(settings)
    try:
        frame = runtime.get_upload_cache().get_frame(key)
        if frame is None:
            raise NotFound(EXPIRED)
        store = runtime.get_store()
        # The two halves of store.run_export, under the id the page chose (what Cancel uses).
        begun = store.begin(options, frame.height, export_id=export_id)
        out.put(("started", begun.export_id))
        record = store.finish(
            begun.export_id,
            frame,
            options,
            progress=lambda done, total: out.put(("progress", done, total)),
        )
        log.info(
            "event=export_done export_id=%s records=%d",
            record.export_id,
            record.record_count,
            extra={"fields": {"export_id": record.export_id, "records": record.record_count}},
        )
        out.put(("done", record_summary(record)))
    except ExportError as exc:
        out.put(("error", type(exc).__name__, exc.message, getattr(exc, "retry_after", None)))
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("export failed (reference %s)", reference)
        out.put(("crash", reference))


class _Lines:
    """`out` for _worker in the child: each message one JSON line on the parent's pipe."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def put(self, message: tuple[Any, ...]) -> None:
        self.stream.write(json.dumps(list(message)) + "\n")
        self.stream.flush()


def _die_with_parent(parent: int) -> None:
    """Linux: be killed when the process that started this one ends (or has already ended)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before the line above took effect
        os._exit(1)


def _child_main() -> None:
    """`python -m components.export_job <parent pid>`: the request (pickled settings, cache key
    and options, from our own parent) on stdin; messages on the original stdout. Anything else
    printed goes to stderr, so that it cannot be taken for a message."""
    _die_with_parent(int(sys.argv[1]))
    messages = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    settings, key, options, export_id, request_id = pickle.load(sys.stdin.buffer)
    _worker(settings, key, options, export_id, _Lines(messages), request_id)


def run_isolated(
    settings: Settings,
    key: str,
    options: ExportOptions,
    on_progress: Callable[[int, int], None],
    on_started: Callable[[str], None] | None = None,
    export_id: str | None = None,
    request_id: str | None = None,
) -> tuple[Any, ...]:
    """Run the export in a process of its own, recorded under `export_id` if given (else a
    new id): a child of the export launcher when there is one (already warm:
    components.export_launcher), else a fresh interpreter. `on_started` gets the id once the
    record exists; the process logs under `request_id` (default: this one's). Returns
    ("done", summary), ("error", class name, message, retry_after) or ("crash", log
    reference)."""
    request = (settings, key, options, export_id, request_id or current_request_id())
    conn = export_launcher.connect(request)
    if conn is not None:
        with conn, conn.makefile("r", encoding="utf-8") as lines:
            outcome = _relay(lines, on_progress, on_started)
            if outcome is not None:  # the child ends by itself now: its end closes
                conn.settimeout(10)
                with contextlib.suppress(OSError):
                    lines.read()
            # else (no outcome, or an error here): closing the connection ends the child
        if outcome is None:
            log.error("export process ended without a result")
            return ("crash", "no-result")
        return outcome
    process = subprocess.Popen(
        [sys.executable, "-m", "components.export_job", str(os.getpid())],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert process.stdin is not None and process.stdout is not None
    outcome = None
    try:
        with process.stdin:
            process.stdin.buffer.write(pickle.dumps(request))
        outcome = _relay(process.stdout, on_progress, on_started)
        if outcome is not None:
            return outcome
        code = process.wait()
        log.error("export process ended without a result (exit %s)", code)
        return ("crash", f"exit-{code}")
    finally:
        try:  # after its outcome the process ends by itself; otherwise it is stopped now
            process.wait(timeout=10 if outcome is not None else 0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def _relay(
    lines: IO[str],
    on_progress: Callable[[int, int], None],
    on_started: Callable[[str], None] | None,
) -> tuple[Any, ...] | None:
    """The export process's messages handed on, up to its outcome (None: it ended first)."""
    for line in lines:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, list) or not message:
            log.warning("export process printed a line that is not a message: %.200r", line)
            continue
        if message[0] == "progress":
            on_progress(int(message[1]), int(message[2]))
        elif message[0] == "started":
            if on_started is not None:
                on_started(str(message[1]))
        else:
            return tuple(message)
    return None


def cancel(export_id: str) -> bool:
    """Remove an export the user cancelled (its record and any files written so far), unless
    it completed first: that one stays (False). If its process has not recorded it yet, it no
    longer can (store.cancel). Dash stops the process itself; one that still runs finds its
    folder or its record gone and ends without leaving files (store.finish)."""
    return bool(runtime.get_store().cancel(export_id))


def was_removed(export_id: str) -> bool:
    """Whether the export's record is gone (cancelled, or deleted from the history, while it
    was being written)."""
    try:
        runtime.get_store().get(export_id)
    except NotFound:
        return True
    return False


if __name__ == "__main__":
    _child_main()
