"""deploy/nginx-site.conf: `nginx -t` accepts it, and the app served through it answers a
50,000-row export and streams its 50-file ZIP intact (real nginx, TLS, real gunicorn)."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
import requests

from tests.api.conftest import participants
from tests.api.live_server import LiveServer

from .site import NGINX, RunningNginx, nginx_test, render

pytestmark = pytest.mark.skipif(
    shutil.which(NGINX) is None, reason="nginx is not installed (make system-deps installs it)"
)


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    result = nginx_test(render(tmp_path / "nginx", app_port=5000))
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_refuses_a_broken_site(tmp_path: Path) -> None:
    # the check above can fail: a site with a typo does not pass `nginx -t`
    site = render(tmp_path / "nginx", app_port=5000)
    conf = site.root / "site.conf"
    conf.write_text(conf.read_text().replace("proxy_buffering off;", "proxy_buffering of;"))
    result = nginx_test(site)
    assert result.returncode != 0 and "proxy_buffering" in result.stderr


@pytest.mark.live
@pytest.mark.slow
def test_fifty_file_zip_downloads_through_the_nginx_site(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "data", workers=2) as live:
        site = render(tmp_path / "nginx", app_port=live.port)
        with RunningNginx(site):
            session = requests.Session()
            session.trust_env = False  # REQUESTS_CA_BUNDLE would override our certificate
            session.verify = str(site.cert)
            body = {"data": participants(50_000), "template": "complete", "format": "excel"}
            resp = session.post(
                f"{site.url}/api/ybb/export/participants",
                json=body,
                headers={"X-Request-ID": "nginx-zip-1"},
                timeout=300,
            )
            assert resp.status_code == 200, resp.text[:500]
            assert resp.headers["X-Request-ID"] == "nginx-zip-1"  # the caller's id, kept
            data = resp.json()["data"]
            assert data["total_files"] == 50
            download = session.get(site.url + data["archive"]["download_url"], timeout=300)
            assert download.status_code == 200
            assert download.headers["Content-Type"] == "application/zip"
            assert len(download.content) == data["archive"]["zip_file_size"]
            # no id from the caller: nginx's own $request_id reaches the app and comes back
            health = session.get(f"{site.url}/health", timeout=30)
            assert re.fullmatch(r"[0-9a-f]{32}", health.headers["X-Request-ID"])
            plain = requests.get(
                f"http://127.0.0.1:{site.http_port}/health", timeout=30, allow_redirects=False
            )
            assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert len(names) == 50
        rows = 0
        for name in (names[0], names[-1]):
            sheet = openpyxl.load_workbook(io.BytesIO(archive.read(name)), read_only=True).active
            values = list(sheet.iter_rows(values_only=True))
            assert values[0][0] == "ID"
            rows += len(values) - 1
    assert rows == 2 * 1000  # 50,000 complete records: 50 files of 1,000
