"""Cleanup running while a download streams, on the live gunicorn: the client keeps reading a
file that cleanup has already removed, and gets it whole."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
import requests

from benchmarks.datagen import records
from tests.api.envelope import assert_error_envelope
from tests.api.live_server import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.slow]
RETENTION_HOURS = 8 / 3600  # exports expire after 8 s (the export itself takes ~2 s)


def test_cleanup_during_a_streaming_download_live(tmp_path: Path) -> None:
    body = {"data": records("participants", 30_000), "template": "complete"}
    with LiveServer(tmp_path / "data", workers=2, YBB_RETENTION_HOURS=str(RETENTION_HOURS)) as live:
        data = requests.post(f"{live.url}/api/ybb/export/participants", json=body, timeout=120)
        data.raise_for_status()
        export_id = data.json()["data"]["export_id"]
        url = f"{live.url}/api/ybb/export/{export_id}/download/zip"
        with requests.get(url, stream=True, timeout=60) as resp:
            assert resp.status_code == 200
            size = int(resp.headers["Content-Length"])
            first = resp.raw.read(64 * 1024)  # the download has started, then the client stalls
            deadline = time.monotonic() + 30
            removed = 0
            while not removed and time.monotonic() < deadline:
                time.sleep(0.5)
                removed = requests.post(f"{live.url}/api/ybb/cleanup", timeout=30).json()["data"][
                    "removed"
                ]
            assert removed == 1
            assert not (live.data_dir / "exports" / export_id).exists()
            rest = resp.raw.read()
        payload = first + rest
        assert len(payload) == size > 1024 * 1024
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            assert archive.testzip() is None
        # ... and once it is gone, it is gone for everyone
        assert_error_envelope(requests.get(url, timeout=30), 404)
