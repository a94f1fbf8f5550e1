"""The seed's CodeIgniter code (examples/php/seed/: its helper, error handling, retry logic and
Export controller, copied as the seed writes them) run with php-cli against the live gunicorn.

The stand-in turns every PHP notice into an error, so a field the seed's code reads that the
API does not send fails the run (exit 3); the multi-file handler also checks the types."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import requests

from export_core.catalog import get_catalog

from .conftest import participants, sample_records
from .live_server import ROOT, LiveServer

pytestmark = [pytest.mark.live, pytest.mark.slow]
PHP = shutil.which("php")
RUN = ROOT / "examples" / "php" / "seed" / "run.php"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _php_has_curl() -> bool:
    if PHP is None:
        return False
    modules = subprocess.run([PHP, "-m"], capture_output=True, text=True, check=True).stdout
    return "curl" in modules.lower().split()


if not _php_has_curl():  # make test installs php-cli and php-curl (Makefile system-deps)
    pytest.skip("php-cli with the curl extension is not installed", allow_module_level=True)


class Seed:
    """Runs run.php actions against one live server with a records file and an output dir."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.records = tmp / "records.json"
        self.out = tmp / "out"
        self.out.mkdir()

    def run(self, *args: str, records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        self.records.write_text(json.dumps(records or []), encoding="utf-8")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "YBB_API_URL": self.url,
            "YBB_RECORDS_FILE": str(self.records),
            "YBB_OUT_DIR": str(self.out),
        }
        done = subprocess.run(
            [str(PHP), str(RUN), *args], capture_output=True, text=True, timeout=120, env=env
        )
        assert done.returncode == 0, f"exit {done.returncode}: {done.stdout}{done.stderr}"
        return dict(json.loads(done.stdout))


def events(result: dict[str, Any], kind: str) -> list[Any]:
    return [value for k, value in result["events"] if k == kind]


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    tmp = tmp_path_factory.mktemp("php-seed")
    with LiveServer(tmp / "data", workers=2) as live:
        yield Seed(live.url, tmp)


def test_health_check_reads_the_seed_fields(seed: Seed) -> None:
    health = seed.run("health")["health"]
    assert health["status"] == "healthy" and health["service"] and health["version"]


@pytest.mark.parametrize(
    ("action", "export_type", "template"),
    [
        ("export_participants", "participants", "standard"),
        ("export_payments", "payments", "standard"),
        ("export_ambassadors", "ambassadors", "detailed"),
    ],
)
def test_small_export_takes_the_direct_download_path(
    seed: Seed, action: str, export_type: str, template: str
) -> None:
    """A small export must not look "large" to the seed's isset(export_strategy) test."""
    result = seed.run(action, records=sample_records(export_type))
    assert events(result, "large_export") == []
    (target,) = events(result, "redirect")
    match = re.fullmatch(rf"exports/download/({UUID})", target)
    assert match, target
    downloaded = seed.run("download", match.group(1))
    assert events(downloaded, "show_404") == []
    sheet = openpyxl.load_workbook(io.BytesIO((seed.out / "download.bin").read_bytes())).active
    headers = list(get_catalog().template(export_type, template).headers)
    assert [c.value for c in sheet[1]] == headers
    assert sheet.max_row == 4


def test_large_export_handler_fetches_every_batch_and_the_zip(seed: Seed) -> None:
    result = seed.run("export_participants", records=participants(6000))
    (large,) = events(result, "large_export")
    *names, zip_name = large["files"]
    total = len(names)
    assert total >= 2 and zip_name.endswith(".zip")
    assert names == [f"participants_batch_{n}_of_{total}.xlsx" for n in range(1, total + 1)]
    rows = [openpyxl.load_workbook(seed.out / name).active.max_row - 1 for name in names]
    assert sum(rows) == 6000
    with zipfile.ZipFile(seed.out / zip_name) as archive:
        assert archive.namelist() == names
    # the seed's download handler on a multi-file export streams the ZIP
    seed.run("download", large["export_id"])
    body = (seed.out / "download.bin").read_bytes()
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == names


def test_ajax_status_check_answers_success(seed: Seed) -> None:
    (target,) = events(seed.run("export_participants", records=participants(2)), "redirect")
    result = seed.run("check_export_status", target.rsplit("/", 1)[1])
    assert events(result, "content_type") == ["application/json"]
    (output,) = events(result, "output")
    status = json.loads(output)
    assert status["success"] is True and status["data"]["state"] == "completed"


def test_failed_export_sets_the_seed_flash_message(seed: Seed) -> None:
    result = seed.run("export_participants", records=[])
    assert events(result, "flashdata") == [{"error": "Export failed: No data provided for export"}]
    assert events(result, "redirect") == ["exports"]


def test_download_of_an_unknown_export_shows_404(seed: Seed) -> None:
    assert events(seed.run("download", str(uuid.uuid4())), "show_404") == [True]


def test_error_handling_redirects_by_status(seed: Seed) -> None:
    bad = seed.run("error_handling", "/api/ybb/export/participants")  # no records: 400
    assert events(bad, "redirect") == ["exports/new"]
    assert events(bad, "flashdata") == [{"error": "No data provided for export"}]
    assert events(bad, "log") == [["error", "YBB API Error: No data provided for export"]]
    missing = seed.run("error_handling", f"/api/ybb/export/{uuid.uuid4()}/status", "GET")
    assert events(missing, "redirect") == ["exports"]
    assert events(missing, "flashdata") == [{"error": "Export not found or expired"}]


def test_retry_returns_at_once_on_success_and_on_client_errors(seed: Seed) -> None:
    ok = seed.run("retry", "/api/ybb/export/participants", records=participants(3))
    assert (ok["http_code"], ok["success"]) == (200, True) and ok["seconds"] < 2
    bad = seed.run("retry", "/api/ybb/export/participants")
    assert (bad["http_code"], bad["success"]) == (400, False) and bad["seconds"] < 2


def _broken_storage_server(tmp: Path) -> LiveServer:
    """A live server whose exports dir is a plain file: every export answers 500."""
    data_dir = tmp / "data"
    data_dir.mkdir()
    (data_dir / "exports").write_bytes(b"")
    return LiveServer(data_dir, workers=1)


def test_server_errors_are_retried_and_then_handled(tmp_path: Path) -> None:
    with _broken_storage_server(tmp_path) as live:
        seed = Seed(live.url, tmp_path)
        result = seed.run("retry", "/api/ybb/export/participants", records=participants(3))
        assert (result["http_code"], result["success"]) == (500, False)
        assert result["seconds"] >= 6  # three attempts: 2 s and 4 s of backoff between them
        listing = requests.get(f"{live.url}/api/ybb/exports", timeout=30).json()["data"]
        assert [e["state"] for e in listing["exports"]] == ["failed"] * 3
        handled = seed.run(
            "error_handling", "/api/ybb/export/participants", records=participants(1)
        )
    assert events(handled, "redirect") == ["dashboard"]
    (flash,) = events(handled, "flashdata")
    assert flash["error"].startswith("Export failed: Could not write export files")


def test_retry_succeeds_once_the_server_recovers(tmp_path: Path) -> None:
    with _broken_storage_server(tmp_path) as live:
        seed = Seed(live.url, tmp_path)
        exports = live.data_dir / "exports"

        def repair() -> None:  # during the first backoff (2 s)
            exports.unlink()
            exports.mkdir()

        timer = threading.Timer(0.8, repair)
        timer.start()
        result = seed.run("retry", "/api/ybb/export/participants", records=participants(3))
        timer.join()
        listing = requests.get(f"{live.url}/api/ybb/exports", timeout=30).json()["data"]
    assert (result["http_code"], result["success"]) == (200, True)
    assert sorted(e["state"] for e in listing["exports"]) == ["completed", "failed"]
