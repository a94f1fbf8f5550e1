"""YBB_LOG_FORMAT=json: one JSON line per request on stdout with the fields an operator
filters on, the caller's X-Request-ID (when well-formed) on them and on the lines of the
export it started - in the async job's thread and in the UI's separate export process."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from components import export_job
from components.upload_cache import UploadCache
from export_core.model import ExportOptions
from export_core.settings import Settings

from .conftest import participants
from .live_server import LiveServer

REQUEST_FIELDS = {
    "time", "level", "logger", "message", "request_id", "pid", "event", "method", "route",
    "path", "status", "duration_ms", "export_id", "records", "bytes",
}  # fmt: skip


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.live
@pytest.mark.slow
def test_json_request_lines_and_request_id_into_async_job(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "data", workers=2, YBB_LOG_FORMAT="json") as live:
        sync = requests.post(
            f"{live.url}/api/ybb/export/participants",
            json={"data": participants(7)},
            headers={"X-Request-ID": "sync-req-1"},
            timeout=60,
        )
        assert sync.status_code == 200 and sync.headers["X-Request-ID"] == "sync-req-1"
        body = {"data": participants(9), "format": "csv", "async": True}
        queued = requests.post(
            f"{live.url}/api/ybb/export/participants",
            json=body,
            headers={"X-Request-ID": "async-req-1"},
            timeout=60,
        )
        assert queued.status_code == 202
        export_id = queued.json()["data"]["export_id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = requests.get(f"{live.url}/api/ybb/export/{export_id}/status", timeout=30)
            if status.json()["state"] == "completed":
                break
            time.sleep(0.1)
        bad_id = "no spaces allowed\u00e9"  # not well-formed: replaced by a fresh id
        health = requests.get(
            f"{live.url}/health", headers={"X-Request-ID": bad_id.encode()}, timeout=30
        )
        assert health.headers["X-Request-ID"] != bad_id
        time.sleep(0.3)  # the async job's line is written after its status turns completed
    lines = _json_lines(live.log_path.read_text(encoding="utf-8", errors="replace"))
    by_event: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_event.setdefault(str(line.get("event")), []).append(line)
    created = [r for r in by_event["request"] if r["request_id"] == "sync-req-1"]
    assert len(created) == 1 and set(created[0]) >= REQUEST_FIELDS
    line = created[0]
    assert line["route"] == "/api/ybb/export/<export_type>" and line["status"] == 200
    assert line["records"] == 7 and line["bytes"] == len(sync.content) and line["pid"] > 0
    assert line["export_id"] == sync.json()["data"]["export_id"]
    job = [r for r in by_event["export_completed"] if r["export_id"] == export_id]
    assert len(job) == 1 and job[0]["request_id"] == "async-req-1" and job[0]["records"] == 9
    assert job[0]["level"] == "INFO" and job[0]["door"] == "api"
    # gunicorn's text access line is off in JSON mode: the app's line is the one per request
    output = live.log_path.read_text(encoding="utf-8", errors="replace")
    assert '"POST /api/ybb/export/participants HTTP/1.1"' not in output


def test_request_id_reaches_the_ui_export_process(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env(
        {"YBB_DATA_DIR": str(tmp_path / "data"), "YBB_SECRET_KEY": "t", "YBB_LOG_FORMAT": "json"}
    )
    key = UploadCache(settings).put_frame(pl.DataFrame(participants(4)))
    options = ExportOptions(export_type="participants", template="standard", format="excel")
    outcome = export_job.run_isolated(
        settings, key, options, lambda done, total: None, request_id="ui-req-42"
    )
    assert outcome[0] == "done", outcome
    child = [
        line
        for line in _json_lines(capfd.readouterr().err)
        if line.get("event") == "export_done" or "export_done" in line.get("message", "")
    ]
    assert len(child) == 1, child
    assert child[0]["request_id"] == "ui-req-42"
    assert child[0]["pid"] != os.getpid()  # written by the export process itself
    assert child[0]["export_id"] == outcome[1]["export_id"] and child[0]["records"] == 4
