"""The UI on two machines behind nginx (tests/scaleout/cluster.py): a paste parsed by one
machine's worker is previewed and exported through whichever machine nginx picks (the upload
cache is Redis), the export runs on a Celery worker (a third data dir), and its file, stored
in S3 with its row in PostgreSQL, downloads through nginx."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import requests

from components.samples import sample_json
from tests.pg_server import fresh_database
from tests.s3_server import S3Server
from tests.scaleout.cluster import two_machines
from tests.ui.helpers import open_page, severe_logs, text_of, wait_until
from tests.ui.test_browser import _celery_worker, _export, _grid_cells, _load_paste, _plan

CALLBACK = "path=/_dash-update-component"


def test_paste_preview_and_export_across_two_machines(
    dash_br: Any, tmp_path: Path, postgres_admin: str, s3: S3Server
) -> None:
    broker = {"YBB_CELERY_BROKER_URL": "{redis}"}
    with (
        fresh_database(postgres_admin) as url,
        two_machines(tmp_path / "cluster", url, s3, **broker) as cluster,
    ):
        machine_env = cluster.machines["A"].extra_env
        worker_env = {
            **machine_env,
            "YBB_DATA_DIR": str(tmp_path / "celery-data"),
            "YBB_SECRET_KEY": "live-test",  # the machines' (tests/api/live_server.py)
        }
        with _celery_worker(worker_env, tmp_path / "celery.log"):
            open_page(dash_br, cluster.nginx.url + "/")
            _load_paste(dash_br, sample_json("participants"))
            _plan(dash_br, "25 records -> 1 Excel file")
            wait_until(lambda: len(_grid_cells(dash_br)) > 0, "the preview grid")
            _export(dash_br)
            wait_until(
                lambda: "Your export is ready" in text_of(dash_br, "#export-result"),
                "the result",
                timeout=60,
            )
            href = dash_br.find_element("#result-download").get_attribute("href")
            assert href.startswith(cluster.nginx.url)
            got = requests.get(href, timeout=30)
            assert got.status_code == 200
            sheet = openpyxl.load_workbook(io.BytesIO(got.content)).active
            assert sheet is not None and sheet.max_row == 26  # header + 25 pasted records
        stored = s3.keys(machine_env["YBB_S3_BUCKET"])
        assert len(stored) == 1 and stored[0].endswith(".xlsx")  # the file is in object storage
        callbacks = {
            name: live.log_path.read_text(errors="replace").count(CALLBACK)
            for name, live in cluster.machines.items()
        }
        log = (tmp_path / "celery.log").read_text(encoding="utf-8", errors="replace")
    print(f"\nUI callbacks answered per machine: {callbacks}")
    assert all(n > 0 for n in callbacks.values()), callbacks  # both machines served the page
    assert "succeeded" in log  # the export ran on the Celery worker
    assert severe_logs(dash_br) == []
