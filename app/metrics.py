"""Prometheus metrics: what is defined, how the doors record it, and the /metrics route.

Under gunicorn every worker is its own process, so the values live in files in
PROMETHEUS_MULTIPROC_DIR (set up by app/gunicorn_conf.py before the workers fork, and each dead
worker's live gauges dropped in its child_exit hook); a scrape of any worker adds up the files
of all of them. Without that variable (the debug server, tests using the Flask client) the
values stay in this process. Figures read at scrape time (free disk) come from a collector.

Label values are bounded: routes are URL rules (`/api/ybb/export/<export_id>/status`), never
raw paths; export labels come from the catalog. No record contents, ids or keys in a label."""

from __future__ import annotations

import glob
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask
import psutil  # type: ignore[import-untyped]
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from export_core.model import ExportOptions
from export_core.settings import Settings

log = logging.getLogger("ybb.export")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
RECORD_BUCKETS = (1, 10, 100, 1000, 5000, 10_000, 25_000, 50_000, 100_000, 1_000_000)
RATE_BUCKETS = (100, 1000, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000)

REQUESTS = Counter(
    "ybb_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
LATENCY = Histogram(
    "ybb_http_request_duration_seconds",
    "Time to answer a request (a download: until its body starts)",
    ["route", "method"],
    buckets=SECONDS,
)
EXPORTS = Counter(
    "ybb_exports_total",
    "Exports finished, by outcome (completed / failed)",
    ["type", "template", "format", "strategy", "outcome", "door"],
)
EXPORT_DURATION = Histogram(
    "ybb_export_duration_seconds", "Time to write one export", ["type", "format"], buckets=SECONDS
)
EXPORT_RECORDS = Histogram(
    "ybb_export_records", "Records per completed export", ["type", "format"], buckets=RECORD_BUCKETS
)
EXPORT_BYTES = Counter(
    "ybb_export_bytes_written_total", "Bytes of files written (ZIP included)", ["type", "format"]
)
EXPORT_RATE = Histogram(
    "ybb_export_records_per_second",
    "Records per second of each completed export",
    ["type", "format"],
    buckets=RATE_BUCKETS,
)
REJECTED = Counter("ybb_exports_rejected_total", "Exports refused before writing", ["reason"])
IN_FLIGHT = Gauge("ybb_exports_in_flight", "Exports being written now", multiprocess_mode="livesum")
QUEUED = Gauge(
    "ybb_jobs_queued", "Async exports accepted, not started yet", multiprocess_mode="livesum"
)
CLEANUP_RUNS = Counter("ybb_cleanup_runs_total", "Cleanup rounds", ["outcome"])
CLEANUP_REMOVED = Counter("ybb_cleanup_removed_exports_total", "Expired exports removed")
STORE_ERRORS = Counter("ybb_store_errors_total", "Store (metadata or files) failures", ["error"])
HEALTH_FAILURES = Counter(
    "ybb_health_check_failures_total", "Failed checks of /health?detail=1", ["check"]
)


def _fork_safe_value_lock() -> bool:
    """Make prometheus_client's one multiprocess lock safe across fork().

    A UI export job is a fork() of a worker whose other threads record metrics under that
    lock; forked while one of them held it, the job would wait for it forever at its first
    metric. So the lock is taken around every fork: the child starts with it free. (The lock
    is private to prometheus_client's value class, hence the search in its closure.)"""
    from prometheus_client import values

    lock_type = type(threading.Lock())
    cells = getattr(values.ValueClass.inc, "__closure__", None) or ()
    for cell in cells:
        if isinstance(cell.cell_contents, lock_type):
            lock = cell.cell_contents
            os.register_at_fork(
                before=lock.acquire, after_in_parent=lock.release, after_in_child=lock.release
            )
            return True
    return False  # single-process mode: nothing shared to guard


FORK_SAFE = _fork_safe_value_lock()


@dataclass
class ExportMeasure:
    """Filled in by the code inside `measure_export`: the finished record (or summary)."""

    record: Any = None


def _written_bytes(record: Any) -> int:
    if isinstance(record, dict):  # the UI's summary (components.export_job.record_summary)
        archive = record.get("archive") or {}
        return sum(f["file_size"] for f in record["files"]) + archive.get("zip_file_size", 0)
    archive_size = record.archive.zip_file_size if record.archive is not None else 0
    return sum(f.file_size for f in record.files) + archive_size


@contextmanager
def measure_export(options: ExportOptions, door: str) -> Iterator[ExportMeasure]:
    """Count one export: in flight while inside; completed (with duration, records, bytes,
    rate) when `measure.record` was set, failed when it raised or was left empty."""
    measure = ExportMeasure()
    started = time.perf_counter()
    IN_FLIGHT.inc()
    try:
        yield measure
    finally:
        IN_FLIGHT.dec()
        seconds = time.perf_counter() - started
        _count_export(options, door, measure.record, seconds)


def _count_export(options: ExportOptions, door: str, record: Any, seconds: float) -> None:
    """The export's metrics and its log line (with the request id of the request that
    started it, also when it ran in a background job)."""
    kind, fmt = options.export_type, options.format
    get = record.get if isinstance(record, dict) else lambda name: getattr(record, name)
    strategy = get("strategy") if record is not None else "unknown"
    outcome = "completed" if record is not None else "failed"
    EXPORTS.labels(kind, options.template, fmt, strategy, outcome, door).inc()
    fields: dict[str, Any] = {
        "event": f"export_{outcome}",
        "door": door,
        "export_type": kind,
        "template": options.template,
        "format": fmt,
        "duration_ms": round(seconds * 1000, 1),
    }
    if record is None:
        log.warning("event=export_failed door=%s type=%s", door, kind, extra={"fields": fields})
        return
    records, written = int(get("record_count")), _written_bytes(record)
    EXPORT_DURATION.labels(kind, fmt).observe(seconds)
    EXPORT_RECORDS.labels(kind, fmt).observe(records)
    EXPORT_BYTES.labels(kind, fmt).inc(written)
    EXPORT_RATE.labels(kind, fmt).observe(records / max(seconds, 1e-6))
    fields.update(export_id=get("export_id"), strategy=strategy, records=records, bytes=written)
    log.info(
        "event=export_completed export_id=%s records=%d bytes=%d duration_ms=%.1f",
        fields["export_id"],
        records,
        written,
        seconds * 1000,
        extra={"fields": fields},
    )


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request."""
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(seconds)


def observe_cleanup(removed: int | None, failed: bool = False) -> None:
    """One cleanup round: `removed` exports, None when another process was cleaning."""
    outcome = "failed" if failed else ("skipped" if removed is None else "done")
    CLEANUP_RUNS.labels(outcome).inc()
    if removed:
        CLEANUP_REMOVED.inc(removed)


class DiskCollector:
    """Free and total bytes of the data dir's file system, read at each scrape."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The two gauges (none if the data dir cannot be read)."""
        try:
            usage = shutil.disk_usage(self.data_dir)
        except OSError:
            return
        yield GaugeMetricFamily("ybb_disk_free_bytes", "Free bytes in the data dir", usage.free)
        yield GaugeMetricFamily("ybb_disk_total_bytes", "Size of the data dir's disk", usage.total)


def drop_dead_live_gauges(folder: str) -> list[int]:
    """Drop the live gauges (in flight, queued) of processes that are gone; returns their pids.
    gunicorn's child_exit does it for workers, but a UI export job is a child of a worker that
    Cancel kills outright: its +1 in flight would otherwise stay until the next restart."""
    dropped = []
    for path in glob.glob(os.path.join(folder, "gauge_live*_*.db")):
        pid_text = path.rsplit("_", 1)[-1].removesuffix(".db")
        if pid_text.isdigit() and not psutil.pid_exists(int(pid_text)):
            multiprocess.mark_process_dead(int(pid_text), folder)
            dropped.append(int(pid_text))
    return dropped


def scrape(settings: Settings) -> bytes:
    """The text exposition of every metric, of all workers when in multiprocess mode."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        drop_dead_live_gauges(folder)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Forward())
    registry.register(DiskCollector(settings.data_dir))
    return generate_latest(registry)


class _Forward:
    """This process's default registry, inside a per-scrape registry (single-process mode)."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def token_refusal(settings: Settings, what: str) -> flask.Response | None:
    """None when the request may see operational detail; else the 401 envelope. Open unless
    YBB_METRICS_TOKEN or YBB_API_KEY is set; then either one, in X-API-Key or Bearer."""
    from app.api.errors import error_response
    from app.api.hooks import key_matches, presented_key

    accepted = [t for t in (settings.metrics_token, settings.api_key) if t]
    given = presented_key()
    if not accepted or any(key_matches(token, given) for token in accepted):
        return None
    return error_response(
        401,
        f"Missing or wrong token for {what}: send YBB_METRICS_TOKEN (or the API key) "
        "in Authorization: Bearer or X-API-Key",
        "UNAUTHORIZED",
        headers={"WWW-Authenticate": 'Bearer realm="ybb-metrics"'},
    )


def metrics_view() -> flask.Response:
    """GET /metrics: the exposition (see token_refusal for who may read it)."""
    settings: Settings = flask.current_app.config["YBB_SETTINGS"]
    refused = token_refusal(settings, "/metrics")
    if refused is not None:
        return refused
    return flask.Response(scrape(settings), content_type=CONTENT_TYPE_LATEST)


def register_metrics(server: flask.Flask) -> None:
    """Serve GET /metrics on `server`."""
    server.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
