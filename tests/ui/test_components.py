"""UI callbacks and layouts without a browser: the callback bodies are called directly with the
real upload cache, the real engine and a real store on a temporary data dir."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import dash
import openpyxl
import psutil
import pytest
from dash.development.base_component import Component

from app.factory import create_app
from components import (
    api_reference,
    catalog_view,
    data_in,
    export_job,
    export_run,
    history,
    preview,
    runtime,
)
from components.links import download_url
from components.samples import sample_csv, sample_json, sample_records, sample_types
from export_core import service
from export_core.catalog import get_catalog
from export_core.errors import NotFound
from export_core.model import ExportOptions
from export_core.readers import read_json
from export_core.settings import Settings
from tests.ui.test_upload_route import upload_request


@pytest.fixture
def ui(settings: Settings) -> Settings:
    runtime.configure(settings)
    return settings


def _ids(component: Any) -> list[str]:
    found: list[str] = []
    if isinstance(component, Component):
        cid = getattr(component, "id", None)
        if isinstance(cid, str):
            found.append(cid)
        found += _ids(getattr(component, "children", None))
    elif isinstance(component, list | tuple):
        for child in component:
            found += _ids(child)
    return found


def _texts(component: Any) -> str:
    if isinstance(component, Component):
        return _texts(getattr(component, "children", None))
    if isinstance(component, list | tuple):
        return " ".join(_texts(c) for c in component)
    return "" if component is None else str(component)


def test_every_page_renders_with_unique_ids(ui: Settings) -> None:
    app = create_app(ui)
    client = app.server.test_client()
    for path in ("/", "/exports", "/templates", "/api"):
        assert client.get(path).status_code == 200
    # The page as Dash registered it (importing pages.export here would register it a second
    # time under another module name, and every later app's router would then refuse).
    export_page = next(p for p in dash.page_registry.values() if p["path"] == "/")
    for tree in (
        export_page["layout"](),
        history.layout(),
        catalog_view.layout(),
        api_reference.layout(),
        app.layout,
    ):
        ids = _ids(tree)
        assert ids and not [i for i, n in Counter(ids).items() if n > 1]


def test_samples_are_deterministic_and_detected(ui: Settings) -> None:
    for export_type in sample_types():
        assert sample_records(export_type) == sample_records(export_type)
        summary = data_in.load_bytes(sample_json(export_type).encode(), None, "sample")
        assert summary["rows"] == 25 and summary["detected_type"] == export_type


def test_paste_invalid_json_says_where(ui: Settings) -> None:
    summary, alert = data_in.load_data(data_in.PASTE_BUTTON, None, '[{"id": 1,\n  "x": }]', None)
    assert summary is not None and summary.__class__.__name__ == "NoUpdate"
    text = _texts(alert)
    assert "Could not read your data at line 2" in text and "Traceback" not in text


def test_upload_csv_and_size_limit(ui: Settings) -> None:
    client = create_app(ui).server.test_client()
    request = upload_request(client, "p.csv", sample_csv("payments").encode())
    summary, _ = data_in.load_data(data_in.UPLOAD_REQUEST, request, None, None)
    assert summary["detected_type"] == "payments" and summary["source"] == "file p.csv"
    too_big = {"filename": "big.csv", "too_large": ui.max_upload_bytes + 1}
    _, alert = data_in.load_data(data_in.UPLOAD_REQUEST, too_big, None, None)
    assert "the limit is 50 MB" in _texts(alert)


def test_preview_pages_match_service_preview(ui: Settings) -> None:
    summary = data_in.load_bytes(sample_json("participants", 250).encode(), None, "paste")
    grid, state, _quality, plan, alert = preview.build_preview(
        summary, "participants", "detailed", "excel", "auto"
    )
    assert alert is None and state["rows"] == 250
    assert "250 records -> 1 Excel file" in _texts(plan)
    assert "Contains personal data" in _texts(plan)
    page = preview.rows_response({"startRow": 100, "endRow": 200}, state)
    assert page["rowCount"] == 250 and len(page["rowData"]) == 100
    frame = runtime.get_upload_cache().get_frame(summary["key"])
    assert frame is not None
    # The mapping step reads the column names alone: the frame's, in its order.
    assert runtime.get_upload_cache().get_columns(summary["key"]) == frame.columns
    assert runtime.get_upload_cache().get_columns("f" * 32) is None
    expected = service.preview(
        frame, ExportOptions("participants", "detailed"), offset=100, limit=100
    )
    headers = [c["headerName"] for c in grid.columnDefs]
    assert headers == list(expected.headers)
    assert page["rowData"] == [
        {f"c{i}": row[h] for i, h in enumerate(headers)} for row in expected.rows
    ]


def test_export_job_result_card_and_history(ui: Settings) -> None:
    summary = data_in.load_bytes(sample_json("participants", 6000).encode(), None, "paste")
    _, state, *_ = preview.build_preview(summary, "participants", "standard", "excel", "auto")
    progress: list[tuple[int, int, str]] = []
    chosen = str(uuid.uuid4())  # what the page's Export click chooses (assets/ybb.js exportRequest)
    card = export_run.run_export(
        progress.append, state, "participants", "standard", "excel", False, "people", None,
        "auto", export_id=chosen,
    )  # fmt: skip
    assert progress[0] == (0, 1, "Starting…")
    assert progress[1] == (0, 1, "Writing 6,000 records…")
    assert progress[-1][0] == progress[-1][1] > 1
    text = _texts(card)
    assert "Your export is ready" in text and "6,000" in text
    export_id = card.children[1].children[1].children[0].children[1].children.children
    assert export_id == chosen  # recorded under the id Cancel would use
    record = runtime.get_store().get(export_id)
    assert record.record_count == 6000 and record.archive is not None
    opened = runtime.get_store().open_file(export_id, 1)
    book = openpyxl.load_workbook(Path(opened.path), read_only=True)
    try:
        assert book.active.cell(1, 1).value == "ID"
    finally:
        book.close()  # read-only workbooks keep the file open until closed
    rows = history.history_rows()
    assert rows[0]["export_id"] == export_id
    assert rows[0]["download"] == f"[Download]({download_url(export_id)})"
    assert "Export deleted" in _texts(history.delete_export(export_id))
    assert history.history_rows() == [] and history.empty_state([]) is not None


ROOT = Path(__file__).resolve().parents[2]
# Begins an export in the store of YBB_DATA_DIR and exits without finishing it.
_BEGIN_AND_EXIT = """
from export_core.model import ExportOptions
from export_core.settings import Settings
from export_core.store.sqlite import SQLiteStore
store = SQLiteStore(Settings.from_env())
print(store.begin(ExportOptions("participants", "standard"), 3).export_id)
"""


def test_cancel_removes_an_unfinished_export_and_keeps_a_finished_one(ui: Settings) -> None:
    store = runtime.get_store()
    options = ExportOptions("participants", "standard")
    begun = store.begin(options, 3)  # what the export process records before writing
    assert store.get(begun.export_id).state == "processing"
    assert export_job.cancel(begun.export_id) is True
    assert export_job.was_removed(begun.export_id)
    assert store.list()[1] == 0 and not list(ui.exports_dir.glob(f"{begun.export_id}*"))
    assert export_job.cancel(begun.export_id) is True  # again: still nothing to see
    assert store.list()[1] == 0 and export_job.was_removed(begun.export_id)
    # One whose process was killed (as Dash kills it on Cancel) reads as failed: removed too.
    dead = subprocess.run(
        [sys.executable, "-c", _BEGIN_AND_EXIT],
        env={**os.environ, "YBB_DATA_DIR": str(ui.data_dir), "YBB_SECRET_KEY": "x" * 32},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert store.get(dead).state == "failed"
    assert export_job.cancel(dead) is True and export_job.was_removed(dead)
    done = store.run_export(read_json(sample_json("participants", 3)), options)
    assert export_job.cancel(done.export_id) is False  # finished first: it stays
    assert store.get(done.export_id).state == "completed"
    assert not export_job.was_removed(done.export_id)
    assert "Export cancelled" in _texts(export_run.cancelled_view())


def test_cancel_before_the_export_began_keeps_it_from_beginning(ui: Settings) -> None:
    """Cancel within the export process's start-up: its id (chosen by the page) is refused
    when the process gets to record it, and the page says "cancelled", not an error."""
    store = runtime.get_store()
    chosen = str(uuid.uuid4())
    assert export_job.cancel(chosen) is True
    with pytest.raises(NotFound, match="Export cancelled"):
        store.begin(ExportOptions("participants", "standard"), 3, export_id=chosen)
    assert store.list() == ([], 0) and export_job.was_removed(chosen)
    summary = data_in.load_bytes(sample_json("participants", 30).encode(), None, "paste")
    _, state, *_ = preview.build_preview(summary, "participants", "standard", "csv", "auto")
    result = export_run.run_export(
        lambda _p: None, state, "participants", "standard", "csv", False, None, None, "auto",
        export_id=chosen,
    )  # fmt: skip
    assert "Export cancelled" in _texts(result)
    assert store.list() == ([], 0) and not any(ui.exports_dir.glob("*"))
    # An id already in use is refused as well, with the ordinary message.
    done = store.run_export(read_json(sample_json("participants", 3)), ExportOptions("payments"))
    with pytest.raises(NotFound, match="Export not found or expired"):
        store.begin(ExportOptions("payments"), 3, export_id=done.export_id)
    assert export_run.requested_id({"export_id": chosen}) == chosen
    for bad in (
        None,
        {},
        {"export_id": "../x"},
        {"export_id": chosen.upper()},
        "x",
        {"export_id": 5},
    ):
        assert export_run.requested_id(bad) is None


# A parent that starts a child armed with export_job._die_with_parent, then waits forever.
_ARMED_CHILD = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(__import__("os").getpid())])
print(child.pid, flush=True)
time.sleep(120)
"""
_CHILD = """
import sys, time
from components.export_job import _die_with_parent
_die_with_parent(int(sys.argv[1]))
print("armed", flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_export_process_ends_with_the_job_that_started_it() -> None:
    """Celery stops a cancelled task by killing its pool process only: the export process
    must not write on for minutes, orphaned (it would only notice at its next message)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _ARMED_CHILD, _CHILD], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    assert parent.stdout.readline().strip() == "armed"  # the child shares the parent's stdout
    parent.kill()
    parent.wait(timeout=10)
    parent.stdout.close()
    gone, _alive = psutil.wait_procs([child], timeout=10)  # it would sleep 120 s otherwise
    assert gone, "the export process outlived the job that started it"


def test_export_without_preview_is_refused(ui: Settings) -> None:
    alert = export_run.run_export(
        lambda _p: None, None, "participants", "standard", "excel", False, None, None, "auto"
    )
    assert "Nothing to export yet" in _texts(alert)


def test_catalog_page_lists_every_template() -> None:
    text = _texts(catalog_view.layout())
    for data_type in get_catalog().types.values():
        for template in data_type.templates.values():
            assert template.description in text
            assert all(c.header in text for c in template.columns)
    assert sum(len(t.templates) for t in get_catalog().types.values()) == 8


def test_download_links_are_built_in_one_place(ui: Settings) -> None:
    assert download_url("abc") == "/api/ybb/export/abc/download"
    assert download_url("abc", "zip") == "/api/ybb/export/abc/download/zip"
    assert download_url("abc", 3) == "/api/ybb/export/abc/download/batch/3"
    with pytest.raises(ValueError):
        download_url("abc", 0)


def test_the_celery_worker_entry_refuses_to_start_without_celery_configured(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YBB_CELERY")}
    run = subprocess.run(
        [sys.executable, "-c", "import app.celery_worker"],
        env={**env, "YBB_DATA_DIR": str(tmp_path / "data"), "YBB_SECRET_KEY": "x" * 32},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "YBB_CELERY_BROKER_URL is not set" in run.stderr


def test_a_stale_export_alert_goes_and_a_result_stays_with_its_data() -> None:
    state = {"key": "k1", "type": "participants", "template": "standard"}
    shown_alert = export_run.cancelled_view().to_plotly_json()
    assert export_run.stale_result_update(state, shown_alert, "k1") is None
    card = {"type": "Card", "namespace": "dash_bootstrap_components", "props": {}}
    assert export_run.stale_result_update(state, card, "k1") is dash.no_update
    assert export_run.stale_result_update({**state, "key": "k2"}, card, "k1") is None
    assert export_run.stale_result_update(None, card, "k1") is None
    assert export_run.stale_result_update(state, None, None) is dash.no_update


def test_activity_axis_counts_whole_exports() -> None:
    """The /system plot's y axis steps by whole exports: on a quiet day (0-1) and a busy one."""
    from datetime import UTC, datetime, timedelta

    from components.system_view import activity_figure
    from export_core.store import ExportRecord

    now = datetime(2026, 12, 5, 12, 30, tzinfo=UTC)

    def record(n: int) -> ExportRecord:
        created = now - timedelta(minutes=n)
        return ExportRecord(f"id{n}", "participants", "standard", "excel", "completed", 100, 1,
                            "single_file", (), None, None, created, created)  # fmt: skip

    assert activity_figure([], now).layout.yaxis.dtick == 1
    busy = activity_figure([record(n) for n in range(23)], now)  # 23 in the last hour
    assert busy.layout.yaxis.dtick == 5 and sum(busy.data[0].y) == 23
