"""Running one export away from the web process, with progress.

Dash's DiskcacheManager runs a background callback in a *forked* child of the web worker. The web
worker has already used polars (the preview), and polars' thread pool deadlocks in a forked
child (see shared notes/performance.md; reproduced here: a group_by in a forked child never
returns). So the forked job only supervises: it starts a fresh `spawn` process that loads the
frame from the upload cache and calls `store.run_export`, relays its progress messages, and
returns a plain summary of the record. Cancelling kills the job and, with it, the spawned child;
`cancel` then removes the export's record and files (export_run calls it from the Cancel
button's own callback, with the export id the job relayed once the record existed).
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import uuid
from collections.abc import Callable
from typing import Any

from components import runtime
from export_core.errors import ExportError, NotFound
from export_core.model import ExportOptions
from export_core.settings import Settings

log = logging.getLogger("ybb.ui.export")
EXPIRED = "The loaded data has expired from the server's cache. Load it again."
POLL_SECONDS = 0.2


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


def _worker(settings: Settings, key: str, options: ExportOptions, out: Any) -> None:
    """Runs in the spawned process: load the frame, run the export, report back on `out`."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    runtime.configure(settings)
    try:
        frame = runtime.get_upload_cache().get_frame(key)
        if frame is None:
            raise NotFound(EXPIRED)
        store = runtime.get_store()
        begun = store.begin(options, frame.height)  # the two halves of store.run_export
        out.put(("started", begun.export_id))
        record = store.finish(
            begun.export_id,
            frame,
            options,
            progress=lambda done, total: out.put(("progress", done, total)),
        )
        out.put(("done", record_summary(record)))
    except ExportError as exc:
        out.put(("error", type(exc).__name__, exc.message, getattr(exc, "retry_after", None)))
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("export failed (reference %s)", reference)
        out.put(("crash", reference))


def run_isolated(
    settings: Settings,
    key: str,
    options: ExportOptions,
    on_progress: Callable[[int, int], None],
    on_started: Callable[[str], None] | None = None,
) -> tuple[Any, ...]:
    """Run the export in a fresh process; `on_started` gets its export id once the record
    exists. Returns ("done", summary), ("error", class name, message, retry_after) or
    ("crash", log reference)."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    process = context.Process(
        target=_worker, args=(settings, key, options, messages), name="ybb-export", daemon=True
    )
    process.start()
    try:
        while True:
            try:
                message = messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if process.is_alive():
                    continue
                try:  # the last message may land just after the process ends
                    message = messages.get(timeout=1)
                except queue.Empty:
                    log.error("export process ended without a result (exit %s)", process.exitcode)
                    return ("crash", f"exit-{process.exitcode}")
            if message[0] == "progress":
                on_progress(int(message[1]), int(message[2]))
                continue
            if message[0] == "started":
                if on_started is not None:
                    on_started(str(message[1]))
                continue
            return tuple(message)
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def cancel(export_id: str) -> bool:
    """Remove an export the user cancelled (its record and any files written so far), unless
    it completed first: that one stays. True if it was removed. Dash may already have killed
    the process writing it (the store then reads it as failed, interrupted); if that process
    still runs, it finds its folder or its record gone and ends without leaving files
    (store.finish)."""
    store = runtime.get_store()
    try:
        if store.get(export_id).state == "completed":
            return False
        store.delete(export_id)
    except NotFound:
        return False
    return True


def was_removed(export_id: str) -> bool:
    """Whether the export's record is gone (cancelled, or deleted from the history, while it
    was being written)."""
    try:
        runtime.get_store().get(export_id)
    except NotFound:
        return True
    return False
