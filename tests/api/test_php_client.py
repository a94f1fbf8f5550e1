"""The PHP client example (examples/php) against the live server, with php-cli."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
import requests

from .live_server import ROOT, LiveServer

pytestmark = [pytest.mark.live, pytest.mark.slow]
PHP = shutil.which("php")
DEMO = ROOT / "examples" / "php" / "demo.php"


def _php_has_curl() -> bool:
    if PHP is None:
        return False
    modules = subprocess.run([PHP, "-m"], capture_output=True, text=True, check=True).stdout
    return "curl" in modules.lower().split()


@pytest.mark.skipif(not _php_has_curl(), reason="php-cli with the curl extension is not installed")
def test_php_demo_exports_polls_and_downloads(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    with LiveServer(tmp_path / "data", workers=2, YBB_API_KEY="php-demo-key") as live:
        result = subprocess.run(
            [str(PHP), str(DEMO), live.url, str(out_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            env={"YBB_API_KEY": "php-demo-key", "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        signed_url = next(
            line.removeprefix("signed_link:").strip()
            for line in result.stdout.splitlines()
            if line.startswith("signed_link:")
        )
        fetched = requests.get(signed_url, timeout=30)  # no API key
        assert fetched.status_code == 200, fetched.text
        fetched_signed = fetched.content
        assert requests.get(signed_url.split("?")[0], timeout=30).status_code == 401
    assert "state: completed (100%)" in result.stdout
    path = out_dir / "participants_export.xlsx"
    size_line = next(line for line in result.stdout.splitlines() if line.startswith("file_size:"))
    assert int(size_line.split(":")[1]) == path.stat().st_size
    link = next(line for line in result.stdout.splitlines() if line.startswith("signed_link:"))
    signed = link.removeprefix("signed_link:").strip()
    assert "signature=" in signed and "php-demo-key" not in signed
    # the signed link is served without the key (fetched while the server still runs, above)
    assert fetched_signed == path.read_bytes()
    sheet = openpyxl.load_workbook(path).active
    assert [c.value for c in sheet[1]][:3] == ["ID", "Form ID", "First Name"]
    assert sheet["C4"].value == "Zoë"
    assert sheet.max_row == 4


@pytest.mark.skipif(not _php_has_curl(), reason="php-cli with the curl extension is not installed")
def test_php_client_reports_api_errors(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "data", workers=1) as live:
        code = (
            "require $argv[1];"
            "$c = new YbbExportClient($argv[2], ['max_attempts' => 1]);"
            "try { $c->export('participants', []); } catch (YbbApiException $e) {"
            " echo $e->httpCode, ' ', $e->getMessage(); }"
        )
        result = subprocess.run(
            [str(PHP), "-r", code, str(DEMO.with_name("YbbExportClient.php")), live.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.stdout == "400 No data provided for export", result.stderr


@pytest.mark.skipif(not _php_has_curl(), reason="php-cli with the curl extension is not installed")
def test_php_client_waits_out_a_429_and_exports_once(tmp_path: Path) -> None:
    """A slot held by another process (this test, through the shared SQLite store) makes the
    server answer 429; the client honours Retry-After, retries with the same Idempotency-Key
    and gets its export once the slot is free."""
    import threading

    import requests

    from export_core.model import ExportOptions
    from export_core.settings import Settings
    from export_core.store import open_store

    data_dir = tmp_path / "data"
    with LiveServer(data_dir, workers=2, YBB_MAX_CONCURRENT_EXPORTS="1") as live:
        store = open_store(Settings.from_env({"YBB_DATA_DIR": str(data_dir)}))
        held = store.begin(ExportOptions("participants"), 1)
        blocked = requests.post(
            f"{live.url}/api/ybb/export/participants", json={"data": [{"id": 1}]}, timeout=30
        )
        assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "5"
        release = threading.Timer(1.0, store.delete, args=(held.export_id,))
        release.start()
        code = (
            "require $argv[1];"
            "$c = new YbbExportClient($argv[2], ['base_delay' => 0.2]);"
            "$r = $c->export('participants', [['id' => 7, 'first_name' => 'Ann']]);"
            "echo $r['data']['export_id'];"
        )
        result = subprocess.run(
            [str(PHP), "-r", code, str(DEMO.with_name("YbbExportClient.php")), live.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        release.join()
        listing = requests.get(f"{live.url}/api/ybb/exports", timeout=30).json()["data"]
    assert result.returncode == 0, result.stderr
    assert [e["export_id"] for e in listing["exports"]] == [result.stdout.strip()]
