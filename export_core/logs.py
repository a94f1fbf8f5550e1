"""Log set-up shared by the web workers, the export processes and the CLI: text or JSON lines
(`YBB_LOG_FORMAT`), each carrying the request id of the request it belongs to.

The request id lives in a context variable: the web hooks set it per request, a background job
copies it (export_core.jobs runs jobs in a copy of the submitting context) and the UI's export
process sets it from what its parent sent. Every log record gets it as `record.request_id`.

JSON lines carry the record's own fields (time, level, logger, message, pid, request_id) plus
whatever the caller passed as `extra={"fields": {...}}` (route, status, duration_ms, ...).
Callers never put record contents or keys into either; tests/api/test_log_hygiene.py checks
both formats."""

from __future__ import annotations

import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID: ContextVar[str | None] = ContextVar("ybb_request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(message)s"
FORMATS = ("text", "json")
HANDLER_NAME = "ybb"


def current_request_id() -> str | None:
    """The request id of the request (or job) this code runs for, if any."""
    return REQUEST_ID.get()


class RequestIdFilter(logging.Filter):
    """Adds `request_id` ("-" when none) to every record passing the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
            "pid": record.process or os.getpid(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Replace the root logger's handlers with one: text lines on stderr, or JSON lines on
    stdout (what a PaaS collects), both with the request id."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(sys.stdout if fmt == "json" else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in root.handlers[:]:  # ours from an earlier call; others' (pytest's) stay
        if old.get_name() == HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
