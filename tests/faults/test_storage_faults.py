"""The data directory fails during an export - really full (a 1 MB tmpfs mounted over the
exports dir) or unwritable (the exports dir replaced by a plain file): a clear 5xx envelope,
the export marked failed, no partial or temporary file left behind, and the service (and the
space) usable again afterwards."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from export_core.settings import Settings
from tests.api.conftest import BufferedClient, participants
from tests.api.envelope import assert_error_envelope
from tests.processes import python_child

EXPORT = "/api/ybb/export/participants"


def _client(data_dir: Path) -> Any:
    settings = Settings.from_env({"YBB_DATA_DIR": str(data_dir), "YBB_SECRET_KEY": "faults"})
    server = create_app(settings).server
    server.test_client_class = BufferedClient
    return server.test_client()


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A data dir whose exports dir is a 1 MB tmpfs (skipped where mounting is not allowed)."""
    data_dir = tmp_path / "data"
    exports = data_dir / "exports"
    exports.mkdir(parents=True)
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(exports)]
    done = subprocess.run(mount, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield data_dir
    finally:
        subprocess.run(["umount", "-l", str(exports)], check=False)


def _only_failed_exports(client: Any) -> list[dict[str, Any]]:
    listing = client.get("/api/ybb/exports").get_json()["data"]["exports"]
    assert listing and all(e["state"] == "failed" for e in listing), listing
    return list(listing)


# Run in a child process: the engine leaks file handles on a full disk (reported: writers/xlsx.py
# write() calls workbook.close() in its error path, which fails again with ENOSPC before closing
# the worksheets' constant_memory spill files; archive.py leaves a ZipFile to __del__), and those
# handles - and the blocks of their unlinked files - wait for the cyclic garbage collector.
# In a child, gc.collect() frees them and the test can check that the space really comes back.
CHILD = """
import gc, json, os, shutil, sys, time
from app import create_app
from export_core.settings import Settings
from tests.api.conftest import participants

data_dir = sys.argv[1]
exports = os.path.join(data_dir, "exports")
env = {"YBB_DATA_DIR": data_dir, "YBB_SECRET_KEY": "faults"}
client = create_app(Settings.from_env(env)).server.test_client()
big = {"data": participants(20_000), "template": "complete"}
out = {}
resp = client.post("/api/ybb/export/participants", json=big)
out["sync"] = [resp.status_code, resp.get_json()]
out["after_sync"] = os.listdir(exports)
out["listing"] = client.get("/api/ybb/exports").get_json()["data"]["exports"]
out["downloads"] = [
    client.get(f"/api/ybb/export/{e['export_id']}/{s}").status_code
    for e in out["listing"] for s in ("download", "download/zip", "download/batch/1")
]
accepted = client.post("/api/ybb/export/participants", json={**big, "async": True}).get_json()
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    status = client.get(accepted["data"]["status_url"]).get_json()
    if status["state"] != "processing":
        break
    time.sleep(0.05)
out["async"] = status
out["after_async"] = os.listdir(exports)
gc.collect()
out["free_after_gc"] = shutil.disk_usage(exports).free
small = client.post("/api/ybb/export/participants", json={"data": participants(3)})
data = small.get_json()["data"]
out["small"] = [small.status_code, len(client.get(data["download_url"]).data), data["file_size"]]
out["health"] = client.get("/health").get_json()["status"]
print(json.dumps(out))
"""


def test_disk_full_during_sync_and_async_exports(full_disk: Path) -> None:
    done = python_child(CHILD, str(full_disk), timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    status, body = out["sync"]
    assert status == 507 and body["status"] == "error", out["sync"]
    assert body["error_code"] == "STORAGE_ERROR"
    assert body["message"].startswith(
        "Export failed: Could not write export files: No space left on device"
    )
    assert str(full_disk) not in body["message"]
    assert out["after_sync"] == [] and out["after_async"] == []  # no .partial, no half file
    (failed,) = out["listing"]
    assert failed["state"] == "failed"
    assert failed["error"].startswith("Could not write export files")
    assert out["downloads"] == [404, 404, 404]
    assert out["async"]["state"] == "failed" and "No space left" in out["async"]["error"]
    assert out["free_after_gc"] == 1024 * 1024  # every block given back
    assert out["small"][0] == 200 and out["small"][1] == out["small"][2]
    assert out["health"] == "healthy"


def test_unwritable_exports_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    client = _client(data_dir)
    exports = data_dir / "exports"
    shutil.rmtree(exports, ignore_errors=True)
    exports.write_text("not a directory")  # every mkdir below it now fails (ENOTDIR)
    body = assert_error_envelope(client.post(EXPORT, json={"data": participants(3)}), 500)
    assert body["message"] == "Export failed: Could not write export files: Not a directory"
    assert str(data_dir) not in body["message"]
    (failed,) = _only_failed_exports(client)
    assert failed["error"] == "Could not write export files: Not a directory"
    assert exports.read_text() == "not a directory"  # nothing written around it

    exports.unlink()  # repaired: the next export works
    again = client.post(EXPORT, json={"data": participants(3)})
    assert again.status_code == 200
    assert client.get(again.get_json()["data"]["download_url"]).status_code == 200
