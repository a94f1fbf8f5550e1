"""Browser tests (real headless Chromium against the app under gunicorn) for the data-in, preview,
alert and result-card behaviour of issue 16: uploads through the upload route with a progress
bar, a file dropped anywhere on the data card, paste read without a click, every template column
in view and sized to its content with the first one pinned, alerts only in answer to an action,
formula-like cells reported only for CSV, and the result card's next steps. Each test saves
screenshots at 1366x768 and 390 wide (in the test's tmp dir; YBB_SCREENSHOT_DIR to keep them)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from components.samples import sample_csv, sample_json, sample_records
from export_core.catalog import get_catalog
from tests.ui.helpers import (
    open_page,
    set_value,
    severe_logs,
    text_of,
    wait_for_text,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.live]

# Every text the upload progress line shows, in order (recorded by a MutationObserver, so a
# fast loopback upload cannot slip past the test between two polls).
_RECORD_PROGRESS = """
window.__progressTexts = [];
new MutationObserver(function () {
    var el = document.getElementById('data-upload-progress-text');
    if (el && el.textContent) { window.__progressTexts.push(el.textContent); }
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""
_RECORD_ALERTS = """
window.__alertsSeen = [];
new MutationObserver(function () {
    document.querySelectorAll('.alert').forEach(function (a) {
        window.__alertsSeen.push(a.textContent);
    });
}).observe(document.body, {subtree: true, childList: true});
"""
_DRAG_OVER = """
const transfer = new DataTransfer();
transfer.items.add(new File(['id'], 'x.csv', {type: 'text/csv'}));
arguments[0].dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true,
    dataTransfer: transfer}));
"""
# A file dropped on `arguments[0]` the way a browser delivers one (DataTransfer with a File).
_DROP_FILE = """
const target = arguments[0], name = arguments[1], text = arguments[2];
const transfer = new DataTransfer();
transfer.items.add(new File([text], name, {type: 'text/csv'}));
for (const type of ['dragenter', 'dragover']) {
    target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,
        dataTransfer: transfer}));
}
window.__dropActive = document.getElementById('data-card').classList.contains('drop-active');
target.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true,
    dataTransfer: transfer}));
"""


def _shots(br: Any, tmp_path: Path, name: str, show: str = "") -> list[Path]:
    """Screenshots at 1366x768 and 390 wide, scrolled to the element at `show` (else the
    top); the window is put back."""
    directory = Path(os.environ.get("YBB_SCREENSHOT_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    saved = []
    for width, height in ((1366, 768), (390, 844)):
        br.driver.set_window_size(width, height)
        br.driver.execute_script(
            "const el = arguments[0] && document.querySelector(arguments[0]);"
            "if (el) { el.scrollIntoView({block: 'start', behavior: 'instant'}); }"
            "else { window.scrollTo({top: 0, behavior: 'instant'}); }",
            show,
        )
        path = directory / f"{name}-{width}.png"
        assert br.driver.save_screenshot(str(path))
        saved.append(path)
    br.driver.set_window_size(1366, 768)
    return saved


def _alerts(br: Any) -> list[str]:
    found = br.driver.find_elements(By.CSS_SELECTOR, ".alert")
    return [a.text for a in found if a.is_displayed()]


def _plan(br: Any, expected: str) -> str:
    return wait_for_text(br, "#plan-text", expected, f"plan '{expected}'")


def _paste(br: Any, text: str) -> None:
    br.driver.find_element(By.CSS_SELECTOR, "#data-tabs a[href]")  # tabs rendered
    br.driver.find_element(By.LINK_TEXT, "Paste").click()
    set_value(br, "#data-paste-text", text)


def _click(br: Any, css: str) -> bool:
    element = br.find_element(css)
    # Bootstrap scrolls smoothly; an instant scroll leaves nothing moving under the click.
    br.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element
    )
    element.click()
    return True


def test_page_load_is_quiet_and_an_upload_shows_progress(
    dash_br: Any, live_server: str, tmp_path: Path
) -> None:
    open_page(dash_br, live_server + "/")
    wait_until(lambda: "Nothing to preview yet." in text_of(dash_br, "#preview-plan"), "page")
    dash_br.driver.execute_script("return new Promise(r => setTimeout(r, 1500))")  # settle
    assert _alerts(dash_br) == [], "no alert before anyone did anything"
    assert not dash_br.find_element("#export-button").is_enabled(), "nothing to export yet"
    _shots(dash_br, tmp_path, "01-page-load")
    path = tmp_path / "people.csv"
    rows = sample_records("participants", 6000)
    header = list(rows[0])
    lines = [";".join(header)] + [";".join(str(r[h]) for h in header) for r in rows]
    path.write_text("\ufeff" + "\n".join(lines), encoding="utf-8")  # BOM + semicolons
    dash_br.driver.execute_script(_RECORD_PROGRESS)
    dash_br.driver.find_element(By.CSS_SELECTOR, "#data-upload input[type=file]").send_keys(
        str(path)
    )
    _plan(dash_br, "6,000 records")
    texts = dash_br.driver.execute_script("return window.__progressTexts")
    assert any(t.startswith("Uploading people.csv") for t in texts), texts
    assert any("Reading people.csv on the server" in t for t in texts), texts
    assert "d-none" in dash_br.find_element("#data-upload-progress").get_attribute("class")
    assert "file people.csv" in text_of(dash_br, "#data-summary-text")
    assert _alerts(dash_br) == ["Data loaded.\n6,000 records are ready to preview."]
    assert "Nothing to export yet" not in text_of(dash_br, "#export-result")
    _shots(dash_br, tmp_path, "02-uploaded")
    assert severe_logs(dash_br) == []


def test_the_progress_bar_follows_a_slow_upload(
    dash_br: Any, live_server: str, tmp_path: Path
) -> None:
    path = tmp_path / "slow.json"
    path.write_text(sample_json("participants", 8000), encoding="utf-8")  # ~2.5 MB
    open_page(dash_br, live_server + "/")
    dash_br.driver.execute_cdp_cmd("Network.enable", {})
    dash_br.driver.execute_cdp_cmd(  # a slow uplink, so the bar is seen moving
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 800_000},
    )
    try:
        dash_br.driver.find_element(By.CSS_SELECTOR, "#data-upload input[type=file]").send_keys(
            str(path)
        )
        width = wait_until(
            lambda: (
                0 < (w := _bar_percent(dash_br)) < 100
                and "Uploading slow.json" in text_of(dash_br, "#data-upload-progress-text")
                and w
            ),
            "the bar part way",
        )
        assert " MB of 2." in text_of(dash_br, "#data-upload-progress-text")
        _shots(dash_br, tmp_path, "08-uploading")
        later = wait_until(lambda: (w := _bar_percent(dash_br)) > width and w, "the bar moving")
        assert later > width
    finally:
        dash_br.driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
    _plan(dash_br, "8,000 records")
    assert severe_logs(dash_br) == []


def _bar_percent(br: Any) -> float:
    return float(
        br.driver.execute_script(
            "const b = document.querySelector('#data-upload-progress .progress-bar');"
            "const wrap = document.getElementById('data-upload-progress');"
            "return wrap.classList.contains('d-none') ? -1 : parseFloat(b.style.width);"
        )
    )


def test_a_file_dropped_anywhere_on_the_data_card_is_uploaded(
    dash_br: Any, live_server: str, tmp_path: Path
) -> None:
    open_page(dash_br, live_server + "/")
    dash_br.driver.find_element(By.CSS_SELECTOR, "#data-tabs a[href]")
    dash_br.driver.find_element(By.LINK_TEXT, "Sample").click()  # the dashed box is hidden
    header = dash_br.find_element("#data-card .card-header")  # far from the dashed box
    dash_br.driver.execute_script(_DRAG_OVER, header)  # a file held over the card
    _shots(dash_br, tmp_path, "09-dragging-over-card")
    dash_br.driver.execute_script(_DROP_FILE, header, "pay.csv", sample_csv("payments"))
    assert dash_br.driver.execute_script("return window.__dropActive") is True

    _plan(dash_br, "25 records -> 1 Excel file")
    assert "file pay.csv" in text_of(dash_br, "#data-summary-text")
    assert Select(dash_br.find_element("#opt-type")).first_selected_option.text == "Payments"
    card = dash_br.find_element("#data-card").get_attribute("class")
    assert "drop-active" not in card
    assert "active" in dash_br.driver.find_element(By.LINK_TEXT, "Upload a file").get_attribute(
        "class"
    ), "the upload tab (with its progress bar) is shown"
    assert severe_logs(dash_br) == []


def test_a_file_over_the_limit_is_refused_without_sending_it(dash_br: Any, tmp_path: Path) -> None:
    from tests.ui.conftest import run_gunicorn

    with run_gunicorn(tmp_path / "data", {"YBB_MAX_UPLOAD_MB": "1"}) as url:
        open_page(dash_br, url + "/")
        header = dash_br.find_element("#data-card .card-header")
        big = "id,first_name\n" + "1,Amina\n" * 200_000  # 1.6 MB
        dash_br.driver.execute_script(_DROP_FILE, header, "big.csv", big)
        wait_until(lambda: "the limit is 1 MB" in text_of(dash_br, "#data-alert"), "alert")
        assert "The file big.csv is 1.5 MB" in text_of(dash_br, "#data-alert")
        assert not (tmp_path / "data" / "cache" / "incoming").exists(), "nothing was sent"
        assert severe_logs(dash_br) == []


def test_pasted_text_is_read_without_a_click(
    dash_br: Any, live_server: str, tmp_path: Path
) -> None:
    open_page(dash_br, live_server + "/")
    dash_br.driver.execute_script(_RECORD_ALERTS)
    text = sample_json("participants")
    _paste(dash_br, text[:10])
    for end in range(20, 200, 10):  # typing: a change every ~0.1 s, each restarts the wait
        time.sleep(0.1)
        set_value(dash_br, "#data-paste-text", text[:end])
    set_value(dash_br, "#data-paste-text", text)  # the rest pasted at once
    _plan(dash_br, "25 records -> 1 Excel file")
    assert "from pasted text" in text_of(dash_br, "#data-summary-text")
    seen = dash_br.driver.execute_script("return window.__alertsSeen")
    assert not [a for a in seen if "Could not read" in a], "half-typed text was never read"
    assert dash_br.find_element("#data-paste-button").is_displayed()  # kept for keyboards
    _shots(dash_br, tmp_path, "03-pasted")
    assert severe_logs(dash_br) == []


_COLUMNS = """
const grid = document.querySelector('#preview-grid');
const cells = Array.from(grid.querySelectorAll('.ag-header-cell'));
return cells.map(c => {
    const text = c.querySelector('.ag-header-cell-text');
    return {name: text.textContent, width: c.getBoundingClientRect().width,
            clipped: text.scrollWidth > text.clientWidth + 1,
            pinned: !!c.closest('.ag-pinned-left-header')};
});
"""
_CLIPPED_CELLS = """
return Array.from(document.querySelectorAll('#preview-grid .ag-cell-value'))
    .filter(c => c.textContent.length <= 40 && c.scrollWidth > c.clientWidth + 1)
    .map(c => c.textContent);
"""


@pytest.mark.parametrize("template", ["standard", "complete"])
def test_every_template_column_is_in_view_and_sized_to_content(
    dash_br: Any, live_server: str, tmp_path: Path, template: str
) -> None:
    open_page(dash_br, live_server + "/")
    _paste(dash_br, sample_json("participants"))
    _plan(dash_br, "25 records")
    Select(dash_br.find_element("#opt-template")).select_by_value(template)
    headers = list(get_catalog().template("participants", template).headers)
    columns = wait_until(
        lambda: (
            [c for c in dash_br.driver.execute_script(_COLUMNS)]
            if [c["name"] for c in dash_br.driver.execute_script(_COLUMNS)] == headers
            and dash_br.driver.find_elements(By.CSS_SELECTOR, "#preview-grid .ag-cell-value")
            else None
        ),
        f"the {template} columns and rows",
    )
    assert columns[0]["name"] == "ID" and columns[0]["pinned"], "the first column is pinned"
    assert columns[0]["width"] < 100, columns[0]  # not a third of the grid any more
    assert [c["name"] for c in columns if c["clipped"]] == [], "every header readable"
    assert dash_br.driver.execute_script(_CLIPPED_CELLS) == [], "every short value whole"
    viewport = dash_br.driver.execute_script(
        "return document.querySelector('#preview-grid .ag-body-horizontal-scroll-viewport')"
        ".scrollWidth"
    )
    assert viewport <= sum(c["width"] for c in columns) + 2  # at most a horizontal scroll
    _shots(dash_br, tmp_path, f"04-grid-{template}", "#preview-plan")
    assert severe_logs(dash_br) == []


def test_formula_like_cells_are_reported_only_for_csv(dash_br: Any, live_server: str) -> None:
    records = sample_records("participants", 25)
    for record in records:
        record["phone"] = "+62 812 5555 0101"
    open_page(dash_br, live_server + "/")
    _paste(dash_br, json.dumps(records))
    _plan(dash_br, "25 records -> 1 Excel file")
    wait_until(lambda: "25 records" in text_of(dash_br, "#quality-panel"), "quality panel")
    assert "Formula-like" not in text_of(dash_br, "#quality-panel"), "nothing changes in xlsx"
    csv_label = dash_br.driver.find_element(
        By.XPATH, "//*[@id='opt-format']//label[normalize-space()='CSV']"
    )
    dash_br.driver.execute_script("arguments[0].click();", csv_label)
    _plan(dash_br, "CSV")
    panel = wait_for_text(dash_br, "#quality-panel", "Formula-like cells: 25", "the CSV report")
    assert "start with a ' so that spreadsheet programs show them as text" in panel
    assert severe_logs(dash_br) == []


def test_the_result_card_offers_the_other_format_and_start_over(
    dash_br: Any, live_server: str, tmp_path: Path
) -> None:
    open_page(dash_br, live_server + "/")
    _paste(dash_br, sample_json("participants"))
    _plan(dash_br, "25 records -> 1 Excel file")
    wait_until(lambda: dash_br.find_element("#export-button").is_enabled(), "Export enabled")
    wait_until(lambda: _click(dash_br, "#export-button"), "a clickable Export button")
    link = wait_until(lambda: dash_br.driver.find_elements(By.ID, "result-download"), "result")
    assert ".xlsx" in link[0].text
    _shots(dash_br, tmp_path, "05-result-xlsx", "#export-result")
    first_id = text_of(dash_br, "#result-export-id")
    wait_until(lambda: _click(dash_br, "[id*='result-next-format']"), "the other-format button")
    wait_until(
        lambda: (
            ".csv" in text_of(dash_br, "#result-download")
            and text_of(dash_br, "#result-export-id") != first_id
        ),
        "a CSV export of the same data",
    )
    assert "Export the same data as Excel" in text_of(dash_br, "#result-card")
    assert dash_br.find_element("#plan-text").text.endswith("1 CSV file")
    _shots(dash_br, tmp_path, "06-result-csv", "#export-result")
    wait_until(lambda: _click(dash_br, "#result-start-over"), "the start-over button")
    wait_until(lambda: text_of(dash_br, "#data-summary-text") == "No data loaded yet.", "reset")
    assert text_of(dash_br, "#export-result") == ""
    assert _alerts(dash_br) == []
    assert "Nothing to preview yet." in text_of(dash_br, "#preview-plan")
    assert not dash_br.find_element("#export-button").is_enabled()
    _shots(dash_br, tmp_path, "07-started-over")
    _paste(dash_br, sample_json("payments"))  # the same page keeps working
    _plan(dash_br, "25 records -> 1 CSV file")
    assert severe_logs(dash_br) == []


def test_a_result_goes_when_other_data_is_loaded(dash_br: Any, live_server: str) -> None:
    open_page(dash_br, live_server + "/")
    _paste(dash_br, sample_json("participants"))
    _plan(dash_br, "25 records")
    wait_until(lambda: dash_br.find_element("#export-button").is_enabled(), "Export enabled")
    wait_until(lambda: _click(dash_br, "#export-button"), "a clickable Export button")
    wait_until(lambda: dash_br.driver.find_elements(By.ID, "result-download"), "result")
    wait_until(lambda: _click(dash_br, "#data-tabs .nav-item:nth-child(3) a"), "the Sample tab")
    Select(dash_br.find_element("#data-sample-type")).select_by_value("ambassadors")
    wait_until(lambda: _click(dash_br, "#data-sample-button"), "Load sample")
    wait_until(lambda: "ambassadors" in text_of(dash_br, "#data-summary-text"), "the sample")
    wait_until(lambda: text_of(dash_br, "#export-result") == "", "the old result gone")
    assert severe_logs(dash_br) == []
