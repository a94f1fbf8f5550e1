"""/health (the seed's cheap answer) and its detailed form, /health?detail=1 and /health/ready:
every dependency checked for real, versions and uptime, 503 naming what failed.

Checks: the metadata store (a read and a write), the file storage (a probe file written, read
back and deleted), free disk in the data dir against YBB_HEALTH_MIN_FREE_MB, and when configured
the Redis upload cache (CACHE_REDIS_URL) and the Celery broker (YBB_CELERY_BROKER_URL). Each
runs with a short timeout; a failed one says why, never with a secret (URLs lose passwords)."""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import flask

from components import export_launcher
from export_core.settings import SERVICE_NAME, SERVICE_VERSION, Settings
from export_core.store import ExportStore

STARTED = time.time()  # this process's start of service (per worker)
CONNECT_TIMEOUT_S = 2.0
PACKAGES = ("flask", "dash", "polars", "xlsxwriter", "gunicorn", "prometheus-client")
MB = 1024 * 1024


class CheckFailed(Exception):
    """A check that ran but whose answer is not good enough (its message says why)."""


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str
    duration_ms: float


def _timed(name: str, probe: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except CheckFailed as exc:
        detail, ok = str(exc), False
    except Exception as exc:  # every failure is an answer here, never a 500
        detail, ok = f"{type(exc).__name__}: {str(exc)[:200]}", False
    return Check(name, ok, detail, round((time.perf_counter() - started) * 1000, 1))


def _disk(settings: Settings) -> str:
    usage = shutil.disk_usage(settings.data_dir)
    free_mb, need = usage.free // MB, settings.health_min_free_mb
    if free_mb < need:
        raise CheckFailed(f"{free_mb:,} MB free in the data dir, below {need:,} MB")
    return f"{free_mb:,} MB free of {usage.total // MB:,} MB (threshold {need:,} MB)"


def _redis_ping(url: str) -> str:
    import redis

    client = redis.Redis.from_url(
        url, socket_timeout=CONNECT_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S
    )
    try:
        client.ping()
    finally:
        client.close()
    return f"PING answered by {safe_url(url)}"


def _broker(url: str) -> str:
    if urlsplit(url).scheme in ("redis", "rediss"):
        return _redis_ping(url)
    from kombu import Connection

    with Connection(url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        conn.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT_S)
    return f"connected to {safe_url(url)}"


def safe_url(url: str) -> str:
    """`url` without its user and password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _probe(action: Callable[[], None], said: str) -> Callable[[], str]:
    def run() -> str:
        action()
        return said

    return run


def run_checks(settings: Settings, store: ExportStore) -> list[Check]:
    """Every check that applies to this configuration, in a fixed order."""
    checks = [
        _timed("metadata", _probe(store.probe_metadata, "read and write answered")),
        _timed("files", _probe(store.probe_files, "probe written, read back, deleted")),
        _timed("disk", lambda: _disk(settings)),
    ]
    if settings.cache_redis_url:
        checks.append(_timed("redis", lambda: _redis_ping(settings.cache_redis_url)))
    broker = os.environ.get("YBB_CELERY_BROKER_URL", "").strip()
    if broker:
        checks.append(_timed("celery_broker", lambda: _broker(broker)))
    return checks


def _versions() -> dict[str, str]:
    found = {"service": SERVICE_VERSION, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def health_detail(settings: Settings, store: ExportStore) -> dict[str, Any]:
    """The detailed health report (what /health?detail=1 answers and the /system page shows)."""
    checks = run_checks(settings, store)
    failing = [c.name for c in checks if not c.ok]
    return {
        "status": "unhealthy" if failing else "healthy",
        "timestamp": datetime.now().isoformat(),
        "service": SERVICE_NAME,
        "version": SERVICE_VERSION,
        "failing": failing,
        "checks": {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in checks},
        "uptime_seconds": round(time.time() - STARTED, 1),
        "pid": os.getpid(),
        "versions": _versions(),
        "retention_hours": settings.retention_hours,
        # Not a check: without it, UI exports start a fresh interpreter (slower, nothing lost).
        "ui_export_launcher": export_launcher.status(),
        # Not a check either: 2 (PYTHONOPTIMIZE=2, as every start command in the project sets
        # it) loads no docstrings, ~10 MB less per worker (docs/OPERATIONS.md, "Memory").
        "python_optimize": sys.flags.optimize,
    }


def health_view() -> flask.Response:
    """GET /health: the seed's shape; with ?detail=1 the detailed report (see module doc)."""
    detail = flask.request.args.getlist("detail")
    if detail and set(detail) == {"1"}:
        return ready_view()
    if detail and set(detail) != {"0"}:
        from app.api.errors import error_response

        return error_response(
            400, "'detail' must be 0 or 1", "BAD_REQUEST", details={"field": "detail"}
        )
    return flask.jsonify(
        status="healthy",
        timestamp=datetime.now().isoformat(),
        service=SERVICE_NAME,
        version=SERVICE_VERSION,
    )


def ready_view() -> flask.Response:
    """GET /health/ready (and /health?detail=1): 200 with the report, or 503 in the error
    envelope naming the failing checks (their report in `details`)."""
    from app import metrics
    from app.api.context import api_context
    from app.api.errors import error_response

    ctx = api_context()
    refused = metrics.token_refusal(ctx.settings, "/health?detail=1")
    if refused is not None:
        return refused
    report = health_detail(ctx.settings, ctx.store)
    if not report["failing"]:
        return flask.jsonify(report)
    for name in report["failing"]:
        metrics.HEALTH_FAILURES.labels(name).inc()
    reasons = "; ".join(f"{n}: {report['checks'][n]['detail']}" for n in report["failing"])
    return error_response(503, f"Not ready: {reasons}", "NOT_READY", details=report)


def register_health(server: flask.Flask) -> None:
    """Serve /health and /health/ready on `server`."""
    server.add_url_rule("/health", "health", health_view, methods=["GET"])
    server.add_url_rule("/health/ready", "health_ready", ready_view, methods=["GET"])
