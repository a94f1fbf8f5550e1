"""/metrics on a live 2-worker gunicorn: after real exports served by both workers, one scrape
(answered by either worker) adds up every worker's counts; the key guards it; a replaced
worker's counts are kept; the metrics directory is removed when the server stops."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from .conftest import participants
from .envelope import assert_error_envelope
from .live_server import LiveServer

KEY = "metrics-live-key"
AUTH = {"X-API-Key": KEY}
EXPORT_ROUTE = "/api/ybb/export/<export_type>"
MAX_ROUNDS = 60
WAIT_S = 60.0


def _samples(text: str) -> list[Any]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples: list[Any], name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def _scrape_from_each_worker(url: str) -> dict[str, list[Any]]:
    """One scrape answered by each of the two workers (new connections until both did)."""
    by_worker: dict[str, list[Any]] = {}
    deadline = time.monotonic() + WAIT_S
    while len(by_worker) < 2 and time.monotonic() < deadline:
        resp = requests.get(f"{url}/metrics", headers=AUTH, timeout=30)
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        by_worker.setdefault(resp.headers["X-Served-By"], _samples(resp.text))
    assert len(by_worker) == 2, "only one worker answered the scrapes"
    return by_worker


def _export(url: str, i: int) -> tuple[str, int, int]:
    """A small export; (worker pid, records, bytes of the file)."""
    n, fmt = 3 + i, ("csv" if i % 2 else "excel")
    resp = requests.post(
        f"{url}/api/ybb/export/participants",
        json={"data": participants(n), "format": fmt},
        headers=AUTH,
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return resp.headers["X-Served-By"], n, int(resp.json()["data"]["file_size"])


def _async_export(url: str) -> tuple[int, int]:
    resp = requests.post(
        f"{url}/api/ybb/export/payments",
        json={"data": [{"id": i, "amount": 10 * i} for i in range(40)], "async": True},
        headers=AUTH,
        timeout=60,
    )
    assert resp.status_code == 202
    export_id = resp.json()["data"]["export_id"]
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status = requests.get(f"{url}/api/ybb/export/{export_id}/status", headers=AUTH, timeout=30)
        if status.json()["state"] == "completed":
            break
        time.sleep(0.1)
    download = requests.get(f"{url}/api/ybb/export/{export_id}/download", headers=AUTH, timeout=30)
    assert download.status_code == 200
    return 40, len(download.content)


@pytest.mark.live
@pytest.mark.slow
def test_metrics_add_up_across_workers(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "data", workers=2, YBB_API_KEY=KEY) as live:
        made: list[tuple[str, int, int]] = []
        for i in range(MAX_ROUNDS):
            made.append(_export(live.url, i))
            served = Counter(pid for pid, _, _ in made)
            if len(served) == 2 and min(served.values()) >= 2:
                break
        assert len({pid for pid, _, _ in made}) == 2, "one worker served every export"
        async_records, async_bytes = _async_export(live.url)
        bad = {"data": participants(2), "template": "nope"}
        bad_resp = requests.post(f"{live.url}/api/ybb/export/participants", json=bad, headers=AUTH)
        assert_error_envelope(bad_resp, 400)
        assert_error_envelope(requests.get(f"{live.url}/metrics", timeout=30), 401)

        scrapes = _scrape_from_each_worker(live.url)
        for samples in scrapes.values():
            completed = total(samples, "ybb_exports_total", outcome="completed", door="api")
            assert completed == len(made) + 1
            assert total(samples, "ybb_exports_total", outcome="failed") == 0
            assert total(samples, "ybb_export_duration_seconds_count") == completed
            assert total(samples, "ybb_export_records_sum") == sum(n for _, n, _ in made) + (
                async_records
            )
            assert (
                total(samples, "ybb_export_bytes_written_total")
                == sum(b for _, _, b in made) + async_bytes
            )
            posts = {"route": EXPORT_ROUTE, "method": "POST"}
            assert total(samples, "ybb_http_requests_total", status="200", **posts) == len(made)
            assert total(samples, "ybb_http_requests_total", status="202", **posts) == 1
            assert total(samples, "ybb_http_requests_total", status="400", **posts) == 1
            assert (
                total(samples, "ybb_http_request_duration_seconds_count", **posts) == len(made) + 2
            )
            assert total(samples, "ybb_exports_in_flight") == 0
            assert total(samples, "ybb_jobs_queued") == 0
            assert total(samples, "ybb_disk_free_bytes") > 0

        # gunicorn replaces a worker that ends: the totals it had counted stay
        retired = int(made[0][0])
        os.kill(retired, signal.SIGTERM)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            answer = requests.get(f"{live.url}/metrics", headers=AUTH, timeout=30)
            if answer.headers["X-Served-By"] not in {pid for pid, _, _ in made}:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("no new worker answered after one was stopped")
        after = _samples(answer.text)
        assert total(after, "ybb_exports_total", outcome="completed") == len(made) + 1
        output = live.log_path.read_text(encoding="utf-8", errors="replace")
        found = re.search(r"metrics of all workers in (\S+)", output)
        assert found, live.log()
        metrics_dir = Path(found[1])
        assert metrics_dir.is_dir()
    assert not metrics_dir.exists()  # the master removed its own directory at exit
