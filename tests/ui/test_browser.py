"""Browser tests in real headless Chromium (dash[testing]'s dash_br on selenium 4.2) against
the app under gunicorn: what a person clicks through."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import psutil
import pytest
import redis
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from components.samples import sample_csv, sample_json
from export_core.settings import Settings
from export_core.store.sqlite import SQLiteStore
from tests.processes import stop
from tests.redis_server import redis_server
from tests.ui.conftest import ROOT, run_gunicorn
from tests.ui.helpers import (
    UPLOAD_REFUSED,
    open_page,
    set_value,
    severe_logs,
    text_of,
    wait_for_download,
    wait_for_text,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.live]


def _load_paste(br: Any, text: str) -> None:
    br.driver.find_element(By.CSS_SELECTOR, "#data-tabs a[href]")  # tabs rendered
    br.driver.find_element(By.LINK_TEXT, "Paste").click()
    set_value(br, "#data-paste-text", text)
    br.find_element("#data-paste-button").click()


def _upload(br: Any, path: Path) -> None:
    br.driver.find_element(By.CSS_SELECTOR, "#data-upload input[type=file]").send_keys(str(path))


def _plan(br: Any, expected: str) -> str:
    return wait_for_text(br, "#plan-text", expected, f"plan '{expected}'")


def _grid_cells(br: Any) -> list[str]:
    cells = br.driver.find_elements(By.CSS_SELECTOR, "#preview-grid .ag-cell")
    return [c.text for c in cells]


def _click(br: Any, css: str) -> bool:
    element = br.find_element(css)
    br.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()  # raises while an overlay (e.g. the loading spinner) covers it
    return True


def _export(br: Any) -> None:
    wait_until(lambda: br.find_element("#export-button").is_enabled(), "the Export button")
    wait_until(lambda: _click(br, "#export-button"), "a clickable Export button")


def test_paste_preview_export_download_xlsx(dash_br: Any, live_server: str) -> None:
    open_page(dash_br, live_server + "/")
    _load_paste(dash_br, sample_json("participants"))
    _plan(dash_br, "25 records -> 1 Excel file")
    wait_until(
        lambda: "Submitted" in _grid_cells(dash_br) or "Approved" in _grid_cells(dash_br),
        "translated statuses in the grid",
    )
    headers = [
        h.text
        for h in dash_br.driver.find_elements(By.CSS_SELECTOR, "#preview-grid .ag-header-cell-text")
    ]
    assert headers[:4] == ["ID", "Form ID", "First Name", "Last Name"]
    Select(dash_br.find_element("#opt-template")).select_by_value("detailed")
    wait_until(
        lambda: (
            "Birth Date"
            in [
                h.text
                for h in dash_br.driver.find_elements(
                    By.CSS_SELECTOR, "#preview-grid .ag-header-cell-text"
                )
            ]
        ),
        "the detailed headers",
    )
    assert "Contains personal data" in text_of(dash_br, "#opt-template-card")
    _export(dash_br)
    link = wait_until(
        lambda: dash_br.driver.find_elements(By.ID, "result-download"), "the download link"
    )[0]
    assert link.get_attribute("href").endswith("/download")
    link.click()
    path = wait_for_download(Path(dash_br.download_path), ".xlsx")
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = list(book.active.iter_rows(values_only=True))
    finally:
        book.close()  # read-only workbooks keep the file open until closed
    assert rows[0][:3] == ("ID", "Form ID", "First Name")
    assert "Birth Date" in rows[0] and len(rows) == 26
    assert severe_logs(dash_br) == []


def test_upload_csv_detects_payments(dash_br: Any, live_server: str, tmp_path: Path) -> None:
    path = tmp_path / "payments.csv"
    path.write_text(sample_csv("payments"), encoding="utf-8")
    open_page(dash_br, live_server + "/")
    _upload(dash_br, path)
    _plan(dash_br, "25 records -> 1 Excel file")
    assert Select(dash_br.find_element("#opt-type")).first_selected_option.text == "Payments"
    assert "Detected" in text_of(dash_br, "#opt-type-hint")
    wait_until(
        lambda: any(c.endswith(".00") or c.endswith(".50") for c in _grid_cells(dash_br)),
        "money shown as 1,500.00",
    )
    assert "file payments.csv" in text_of(dash_br, "#data-summary-text")
    assert severe_logs(dash_br) == []


def test_invalid_input_shows_where(dash_br: Any, live_server: str) -> None:
    open_page(dash_br, live_server + "/")
    _load_paste(dash_br, '[{"id": 1, "first_name": "Amina"},\n {"id": 2, "first_name": }]')
    alert = wait_until(lambda: text_of(dash_br, "#data-alert .alert"), "the error alert")
    assert "Could not read your data" in alert and "line 2" in alert
    assert "Traceback" not in alert
    assert text_of(dash_br, "#plan-text") == ""  # nothing loaded, nothing previewed
    assert severe_logs(dash_br) == []


def test_broken_uploads_alert_and_the_page_keeps_working(
    dash_br: Any, live_server: str, tmp_path: Path
) -> None:
    fake = tmp_path / "people.xlsx"
    fake.write_text("id,first_name\n1,Amina\n", encoding="utf-8")  # text with an .xlsx name
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,first_name,last_name\n1,A,B\n2,C,D,E,F\n", encoding="utf-8")
    open_page(dash_br, live_server + "/")
    for path, expected in (
        (fake, "Not a valid .xlsx file"),
        (empty, "The file empty.csv is empty (0 bytes)"),
        (ragged, "at line 3 of the file ragged.csv"),
    ):
        _upload(dash_br, path)
        alert = wait_for_text(dash_br, "#data-alert .alert", expected, f"the alert for {path.name}")
        assert "Traceback" not in alert and "Something went wrong" not in alert
    assert text_of(dash_br, "#plan-text") == ""
    _load_paste(dash_br, sample_json("ambassadors"))  # a valid paste right after works
    _plan(dash_br, "25 records -> 1 Excel file")
    assert "Data loaded." in text_of(dash_br, "#data-alert .alert")
    assert severe_logs(dash_br, allow=(UPLOAD_REFUSED,)) == []


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn with YBB_MAX_UPLOAD_MB=1, so "over the limit" is a few MB, not 51 MB (a 51 MB
    textarea alone takes Chromium over a minute to take in)."""
    data_dir = tmp_path_factory.mktemp("ui-small") / "data"
    with run_gunicorn(data_dir, {"YBB_MAX_UPLOAD_MB": "1"}) as url:
        yield url


def test_huge_single_line_paste_is_refused_in_the_browser(
    dash_br: Any, small_limit_server: str
) -> None:
    open_page(dash_br, small_limit_server + "/")
    wait_until(lambda: dash_br.driver.find_elements(By.LINK_TEXT, "Paste"), "tabs")[0].click()
    dash_br.driver.execute_script(
        _FILL_HUGE, dash_br.find_element("#data-paste-text"), 3 * 1024 * 1024
    )
    dash_br.find_element("#data-paste-button").click()
    alert = wait_for_text(dash_br, "#data-alert .alert", "the limit is 1 MB", "the size alert")
    assert "The pasted text is 3.0 MB" in alert
    _load_paste(dash_br, sample_json("payments"))
    _plan(dash_br, "25 records -> 1 Excel file")
    assert severe_logs(dash_br) == []


# One long line built in the page (sending it over WebDriver would take minutes).
_FILL_HUGE = """
const el = arguments[0];
const text = '[{"id": 1, "note": "' + 'x'.repeat(arguments[1]) + '"}]';
Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value').set.call(el, text);
el.dispatchEvent(new Event('input', { bubbles: true }));
"""


def test_6000_rows_progress_zip_and_batches(dash_br: Any, live_server: str, tmp_path: Path) -> None:
    path = tmp_path / "participants.json"
    path.write_text(sample_json("participants", 6000), encoding="utf-8")
    open_page(dash_br, live_server + "/")
    _upload(dash_br, path)
    plan = _plan(dash_br, "6,000 records ->")
    assert "+ ZIP" in plan
    _export(dash_br)
    wait_until(
        lambda: (
            "d-none" not in (dash_br.find_element("#export-progress-wrap").get_attribute("class"))
        ),
        "the progress bar",
    )
    wait_until(
        lambda: dash_br.driver.find_elements(By.ID, "result-download-zip"),
        "the ZIP link",
        timeout=60,
    )
    zip_href = dash_br.find_element("#result-download-zip").get_attribute("href")
    batches = dash_br.driver.find_elements(By.CSS_SELECTOR, ".batch-list a")
    assert len(batches) >= 2
    assert batches[0].get_attribute("href").endswith("/download/batch/1")
    with urllib.request.urlopen(zip_href, timeout=30) as response:
        archive = zipfile.ZipFile(io.BytesIO(response.read()))
    assert len(archive.namelist()) == len(batches)
    with urllib.request.urlopen(batches[-1].get_attribute("href"), timeout=30) as response:
        book = openpyxl.load_workbook(io.BytesIO(response.read()), read_only=True)
    assert book.active.max_row > 1
    assert severe_logs(dash_br) == []


def _create_via_api(base: str) -> str:
    body = json.dumps(
        {"data": json.loads(sample_json("ambassadors")), "template": "detailed"}
    ).encode()
    request = urllib.request.Request(
        base + "/api/ybb/export/ambassadors",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.load(response)["data"]["export_id"])


def test_history_lists_and_deletes(dash_br: Any, live_server: str) -> None:
    export_id = _create_via_api(live_server)
    open_page(dash_br, live_server + "/exports")
    row_css = f'#history-grid .ag-row[row-id="{export_id}"]'
    row = wait_until(
        lambda: dash_br.driver.find_elements(By.CSS_SELECTOR, row_css),
        "the export in the history grid",
    )[0]
    assert "ambassadors" in row.text and "detailed" in row.text and "completed" in row.text
    row.find_element(By.CSS_SELECTOR, "[col-id=template]").click()
    wait_until(lambda: dash_br.find_element("#history-delete").is_enabled(), "Delete enabled")
    dash_br.find_element("#history-delete").click()
    wait_until(lambda: dash_br.find_element("#history-confirm-yes").is_displayed(), "confirm")
    dash_br.find_element("#history-confirm-yes").click()
    wait_until(lambda: "Export deleted" in text_of(dash_br, "#history-alert"), "deleted")
    wait_until(lambda: not dash_br.driver.find_elements(By.CSS_SELECTOR, row_css), "row gone")
    assert severe_logs(dash_br) == []


def test_templates_page_lists_all_eight(dash_br: Any, live_server: str) -> None:
    open_page(dash_br, live_server + "/templates")
    entries = wait_until(
        lambda: (
            (found := dash_br.driver.find_elements(By.CSS_SELECTOR, ".template-entry"))
            and len(found) == 8
            and found
        ),
        "eight templates",
    )
    assert "Contains personal data" in entries[1].text  # participants / detailed
    assert "form_status" in text_of(dash_br, "#status-mappings ~ .row")
    dash_br.find_element("#nav-api").click()
    wait_until(lambda: dash_br.driver.find_elements(By.ID, "openapi-link"), "the API page")
    assert len(dash_br.driver.find_elements(By.CSS_SELECTOR, ".api-route")) >= 10
    assert severe_logs(dash_br) == []


def test_keyboard_only_paste_to_preview(dash_br: Any, live_server: str) -> None:
    """Tab to the Paste tab, open it with Enter, type, and read the data without a mouse."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(dash_br, live_server + "/")
    driver = dash_br.driver
    driver.find_element(By.CSS_SELECTOR, "#data-tabs a[href]")  # tabs rendered

    def press(key: str) -> Any:
        ActionChains(driver).send_keys(key).perform()
        return driver.switch_to.active_element

    focused = [press(Keys.TAB).text.strip() for _ in range(12)]
    assert "Paste" in focused, f"the Paste tab is not reachable with Tab: {focused}"
    while driver.switch_to.active_element.text.strip() != "Paste":
        press(Keys.SHIFT + Keys.TAB)
    press(Keys.ENTER)
    wait_until(lambda: dash_br.find_element("#data-paste-text").is_displayed(), "the paste box")
    after_tabs = [press(Keys.TAB).get_attribute("id") for _ in range(2)]  # past "Sample"
    assert "data-paste-text" in after_tabs, after_tabs
    while driver.switch_to.active_element.get_attribute("id") != "data-paste-text":
        press(Keys.SHIFT + Keys.TAB)
    set_value(dash_br, "#data-paste-text", sample_json("payments"))
    assert press(Keys.TAB).get_attribute("id") == "data-paste-button"
    press(Keys.ENTER)
    _plan(dash_br, "25 records -> 1 Excel file")
    assert severe_logs(dash_br) == []


# One `complete` xlsx of these takes ~3 s to write here: time to press Cancel. Above the default
# record limit (50,000 in ~1 s would leave too little), so the test server allows more.
CANCEL_ROWS = 150_000
CANCEL_LIMITS = {"YBB_MAX_RECORDS": str(CANCEL_ROWS), "YBB_MAX_UPLOAD_MB": "80"}


def _export_processes(data_dir: Path) -> list[psutil.Process]:
    """The export processes of the server over `data_dir` (they inherit its env): fresh
    interpreters (`components.export_job`: Celery workers, or no launcher) and the children of
    its export launcher (forked: the launcher's command line, the launcher as parent)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            command = " ".join(proc.info["cmdline"] or [])
            forked = "components.export_launcher" in command and (
                "components.export_launcher" in " ".join(proc.parent().cmdline())
            )
            if ("components.export_job" in command or forked) and (
                proc.environ().get("YBB_DATA_DIR") == str(data_dir)
            ):
                found.append(proc)
        except (psutil.Error, AttributeError):  # gone meanwhile, or no parent
            continue
    return found


def _cancel_a_long_export(
    br: Any, url: str, data_dir: Path, upload: Path, *, at_once: bool = False
) -> None:
    """Upload `upload` (CANCEL_ROWS participants), export it as one `complete` xlsx, press
    Cancel while it is written (or `at_once`, as soon as the button can be pressed: before the
    export process has started); then the page says so, the export process is gone and no
    record or file is left, also a moment later."""
    open_page(br, url + "/")
    _upload(br, upload)
    _plan(br, f"{CANCEL_ROWS:,} records ->")
    Select(br.find_element("#opt-template")).select_by_value("complete")
    wait_until(
        lambda: "All participant data" in text_of(br, "#opt-template-card"),
        "the complete template",
    )
    wait_until(lambda: _click(br, "#opt-chunking input[value=off]"), "'one file'")
    _plan(br, "-> 1 Excel file")
    _export(br)
    if at_once:
        wait_until(lambda: br.find_element("#export-cancel").is_enabled(), "Cancel enabled")
    else:  # the record exists and the file is being written
        wait_until(
            lambda: f"Writing {CANCEL_ROWS:,} records" in text_of(br, "#export-progress-text"),
            "the export under way",
        )
        running = _export_processes(data_dir)
        assert running, "no export process while the export runs"
        # Forked by the export launcher that gunicorn's master (or the Celery worker) started.
        assert all("components.export_launcher" in " ".join(p.cmdline()) for p in running)
    br.find_element("#export-cancel").click()
    wait_until(lambda: "Export cancelled" in text_of(br, "#export-result"), "the cancel note")
    wait_until(lambda: br.find_element("#export-button").is_enabled(), "Export again")
    wait_until(lambda: not _export_processes(data_dir), "the export process gone")
    store = SQLiteStore(
        Settings.from_env({"YBB_DATA_DIR": str(data_dir), "YBB_SECRET_KEY": "ui-tests"})
    )
    exports = data_dir / "exports"
    for moment in ("now", "a moment later"):  # a writer left running would have finished
        if moment != "now":
            time.sleep(3)
        assert store.list() == ([], 0), moment  # no record left, processing or failed
        assert not exports.exists() or list(exports.iterdir()) == [], moment  # no file
    assert "Your export is ready" not in text_of(br, "#export-result")
    assert severe_logs(br) == []


def test_cancel_stops_the_export_and_keeps_nothing(dash_br: Any, tmp_path: Path) -> None:
    path = tmp_path / "participants.json"
    path.write_text(sample_json("participants", CANCEL_ROWS), encoding="utf-8")
    data_dir = tmp_path / "data"
    with run_gunicorn(data_dir, CANCEL_LIMITS) as url:
        _cancel_a_long_export(dash_br, url, data_dir, path)


def test_cancel_at_once_leaves_nothing_either(dash_br: Any, tmp_path: Path) -> None:
    """Cancel pressed before the export process has even started: the id the page chose is
    refused when the process would record it, so no "failed" export appears later."""
    path = tmp_path / "participants.json"
    path.write_text(sample_json("participants", CANCEL_ROWS), encoding="utf-8")
    data_dir = tmp_path / "data"
    with run_gunicorn(data_dir, CANCEL_LIMITS) as url:
        _cancel_a_long_export(dash_br, url, data_dir, path, at_once=True)


def test_uploads_cached_in_redis_preview_and_export(dash_br: Any, tmp_path: Path) -> None:
    """CACHE_REDIS_URL (a real redis-server): the worker that parses the paste, the one that
    pages the preview and the spawned export process all read the frame from Redis."""
    data_dir = tmp_path / "data"
    with (
        redis_server(tmp_path / "redis") as redis_url,
        run_gunicorn(data_dir, {"CACHE_REDIS_URL": redis_url}) as url,
    ):
        open_page(dash_br, url + "/")
        _load_paste(dash_br, sample_json("participants"))
        _plan(dash_br, "25 records -> 1 Excel file")
        wait_until(lambda: len(_grid_cells(dash_br)) > 0, "the preview grid")
        _export(dash_br)
        wait_until(
            lambda: "Your export is ready" in text_of(dash_br, "#export-result"), "the result"
        )
        assert redis.Redis.from_url(redis_url).dbsize() >= 1
    uploads = data_dir / "cache" / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
    assert severe_logs(dash_br) == []


CELERY_WORKER = ["-A", "app.celery_worker", "worker", "--concurrency", "1", "--loglevel", "INFO"]


@contextlib.contextmanager
def _celery_worker(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A app.celery_worker worker` (as docs/UI.md says to run it), stopped after."""
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), *CELERY_WORKER, "--without-gossip"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: b" ready." in log_path.read_bytes(), "the Celery worker", timeout=60)
        yield worker
    finally:
        stop(worker, grace_seconds=20)


def test_background_exports_on_celery_workers(dash_br: Any, tmp_path: Path) -> None:
    """YBB_CELERY_BROKER_URL (a real redis-server as broker and result store, a real Celery
    worker): the export runs in the worker, with progress, and its files download."""
    data_dir = tmp_path / "data"
    with redis_server(tmp_path / "redis") as redis_url:
        env = {
            "YBB_CELERY_BROKER_URL": redis_url,
            "YBB_DATA_DIR": str(data_dir),
            "YBB_SECRET_KEY": "ui-tests",
        }
        with (
            _celery_worker(env, tmp_path / "celery.log"),
            run_gunicorn(data_dir, {"YBB_CELERY_BROKER_URL": redis_url}) as url,
        ):
            path = tmp_path / "participants.json"
            path.write_text(sample_json("participants", 6000), encoding="utf-8")
            open_page(dash_br, url + "/")
            _upload(dash_br, path)
            _plan(dash_br, "6,000 records ->")
            _export(dash_br)
            wait_until(
                lambda: dash_br.driver.find_elements(By.ID, "result-download-zip"),
                "the ZIP link",
                timeout=60,
            )
            zip_href = dash_br.find_element("#result-download-zip").get_attribute("href")
            with urllib.request.urlopen(zip_href, timeout=30) as response:
                archive = zipfile.ZipFile(io.BytesIO(response.read()))
            assert archive.testzip() is None and len(archive.namelist()) >= 2
        log = (tmp_path / "celery.log").read_text(encoding="utf-8", errors="replace")
        assert "succeeded" in log  # the task ran in the worker, not in the web server
    assert severe_logs(dash_br) == []


def test_cancel_on_celery_workers_stops_the_export_process(dash_br: Any, tmp_path: Path) -> None:
    """Celery stops a cancelled task by signalling its pool process only: the export process
    it started must end with it (PR_SET_PDEATHSIG), and nothing be left."""
    path = tmp_path / "participants.json"
    path.write_text(sample_json("participants", CANCEL_ROWS), encoding="utf-8")
    data_dir = tmp_path / "data"
    with redis_server(tmp_path / "redis") as redis_url:
        env = {"YBB_CELERY_BROKER_URL": redis_url, **CANCEL_LIMITS}
        with (
            _celery_worker(
                {**env, "YBB_DATA_DIR": str(data_dir), "YBB_SECRET_KEY": "ui-tests"},
                tmp_path / "celery.log",
            ),
            run_gunicorn(data_dir, env) as url,
        ):
            _cancel_a_long_export(dash_br, url, data_dir, path)
