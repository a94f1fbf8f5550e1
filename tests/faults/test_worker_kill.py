"""A gunicorn worker SIGKILLed in the middle of a large export (async and sync): no partial file
is ever served, the export shows `failed` at the next status read from any worker, and the
client's retry with the same Idempotency-Key runs the export again and succeeds."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest
import requests

from benchmarks.datagen import records
from tests.api.envelope import assert_error_envelope
from tests.api.live_server import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.slow]
EXPORT = "/api/ybb/export/participants"
WAIT = 90.0  # bounded waits (seconds); the export itself takes a few seconds


@pytest.fixture(scope="module")
def big_body() -> dict[str, Any]:
    return {"data": records("participants", 50_000), "template": "complete"}


def _status(live: LiveServer, export_id: str) -> dict[str, Any]:
    resp = requests.get(f"{live.url}/api/ybb/export/{export_id}/status", timeout=30)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _downloads_refused(live: LiveServer, export_id: str) -> None:
    """Every download path answers an envelope (409 while processing, 404 once failed)."""
    for suffix in ("download", "download/zip", "download/batch/1"):
        resp = requests.get(f"{live.url}/api/ybb/export/{export_id}/{suffix}", timeout=30)
        assert resp.status_code in (404, 409), (suffix, resp.status_code)
        assert_error_envelope(resp, resp.status_code)


def _wait_until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _kill(pid: int) -> None:
    """SIGKILL `pid` and wait until it is dead (gone, or a zombie not yet reaped)."""
    os.kill(pid, signal.SIGKILL)

    def dead() -> bool:
        try:
            return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return True

    _wait_until(dead, f"pid {pid} to die")


def _assert_failed_and_clean(live: LiveServer, export_id: str) -> None:
    # the first status read after the kill (from whichever worker) declares it failed
    status = _status(live, export_id)
    assert status["state"] == "failed", status
    assert "interrupted" in status["error"]
    _downloads_refused(live, export_id)
    exports = live.data_dir / "exports"
    assert not (exports / export_id).exists()
    assert not (exports / f"{export_id}.partial").exists()


def _assert_retry_succeeds(live: LiveServer, body: dict[str, Any], key: str, old: str) -> None:
    resp = requests.post(
        f"{live.url}{EXPORT}", json=body, headers={"Idempotency-Key": key}, timeout=WAIT
    )
    assert resp.status_code in (200, 202), resp.text
    assert "Idempotent-Replayed" not in resp.headers
    export_id = resp.json()["data"]["export_id"]
    assert export_id != old
    _wait_until(lambda: _status(live, export_id)["state"] != "processing", "the retry")
    assert _status(live, export_id)["state"] == "completed"
    got = requests.get(f"{live.url}/api/ybb/export/{export_id}/download", timeout=WAIT)
    assert got.status_code == 200
    with zipfile.ZipFile(io.BytesIO(got.content)) as archive:
        assert archive.testzip() is None and len(archive.namelist()) > 1


def _wait_writing(live: LiveServer, export_id: str) -> None:
    _wait_until(lambda: _status(live, export_id)["progress"] >= 1, "the write to start")
    status = _status(live, export_id)
    assert status["state"] == "processing", "export finished before it could be killed"
    _downloads_refused(live, export_id)  # mid-write: 409, never a partial file


def test_sigkill_during_async_export(tmp_path: Path, big_body: dict[str, Any]) -> None:
    body, key = {**big_body, "async": True}, "kill-async-1"
    with LiveServer(tmp_path / "data", workers=2) as live:
        resp = requests.post(
            f"{live.url}{EXPORT}", json=body, headers={"Idempotency-Key": key}, timeout=WAIT
        )
        assert resp.status_code == 202, resp.text
        export_id, writer = resp.json()["data"]["export_id"], int(resp.headers["X-Served-By"])
        _wait_writing(live, export_id)
        _kill(writer)
        _assert_failed_and_clean(live, export_id)
        _assert_retry_succeeds(live, body, key, export_id)


def _processing_owner(db: Path) -> tuple[str, int] | None:
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            rows = conn.execute(
                "SELECT export_id, owner FROM exports WHERE state = 'processing'"
            ).fetchall()
    except sqlite3.OperationalError:  # the server is still creating the schema
        return None
    if not rows:
        return None
    export_id, owner = rows[0]
    return export_id, int(owner.split(":")[1])  # owner is "host:pid:start_time"


def test_sigkill_during_sync_export(tmp_path: Path, big_body: dict[str, Any]) -> None:
    key = "kill-sync-1"
    outcome: dict[str, Any] = {}

    def client() -> None:
        try:
            outcome["resp"] = requests.post(
                f"{live.url}{EXPORT}", json=big_body, headers={"Idempotency-Key": key}, timeout=WAIT
            )
        except requests.RequestException as exc:  # the connection dies with the worker
            outcome["error"] = exc

    with LiveServer(tmp_path / "data", workers=2) as live:
        thread = threading.Thread(target=client)
        thread.start()
        db = live.data_dir / "exports.sqlite3"
        _wait_until(lambda: db.exists() and _processing_owner(db) is not None, "the export")
        found = _processing_owner(db)
        assert found is not None
        export_id, writer = found
        _wait_writing(live, export_id)
        _kill(writer)
        thread.join(WAIT)
        assert "error" in outcome or outcome["resp"].status_code >= 500, outcome
        _assert_failed_and_clean(live, export_id)
        _assert_retry_succeeds(live, big_body, key, export_id)


def test_server_killed_and_restarted_with_an_export_in_flight(
    tmp_path: Path, big_body: dict[str, Any]
) -> None:
    data_dir, body = tmp_path / "data", {**big_body, "async": True}
    live = LiveServer(data_dir, workers=2).start()
    try:
        resp = requests.post(f"{live.url}{EXPORT}", json=body, timeout=WAIT)
        export_id = resp.json()["data"]["export_id"]
        _wait_writing(live, export_id)
    finally:  # the whole server dies at once (container killed, host crash)
        assert live.proc is not None
        os.killpg(live.proc.pid, signal.SIGKILL)
        live.proc.wait(timeout=30)
    assert (data_dir / "exports" / f"{export_id}.partial").exists()
    with LiveServer(data_dir, workers=2) as restarted:
        # marked failed on start (the first request starts recovery), partial files removed
        _wait_until(
            lambda: not (data_dir / "exports" / f"{export_id}.partial").exists(),
            "recovery to remove the partial files",
        )
        _assert_failed_and_clean(restarted, export_id)
        listing = requests.get(f"{restarted.url}/api/ybb/exports", timeout=30).json()
        assert [e["state"] for e in listing["data"]["exports"]] == ["failed"]
