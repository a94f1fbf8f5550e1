"""The mapping step in real headless Chromium against gunicorn: a partner's file is matched,
a dropdown changed, the preview follows, the export has the column; saved mappings come back
for the same header set; team templates are made on /templates and used on the export page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.ui.helpers import (
    open_page,
    set_value,
    severe_logs,
    text_of,
    wait_for_download,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.live]
SCROLL_TO_MIDDLE = "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});"

PARTNER_CSV = (
    "No,Form ID,First Name,Last Name,Email Address,Contact,Status\n"
    "1,F-1,Ann,Lee,ann@example.org,0812-111,Approved\n"
    "2,F-2,Bo,Kim,bo@example.org,0813-222,rejected\n"
    "3,F-3,Cy,Ng,cy@example.org,0814-333,APPROVED\n"
)


def _upload(br: Any, path: Path) -> None:
    br.driver.find_element(By.CSS_SELECTOR, "#data-upload input[type=file]").send_keys(str(path))


def _row_of(br: Any, source: str) -> tuple[Any, str]:
    """The dropdown and confidence text of the mapping row for `source`."""
    for item in br.driver.find_elements(By.CSS_SELECTOR, "#colmap-table .colmap-item"):
        if item.find_element(By.CSS_SELECTOR, ".colmap-source").text == source:
            badge = item.find_element(By.CSS_SELECTOR, ".colmap-confidence").text
            return item.find_element(By.TAG_NAME, "select"), badge
    raise AssertionError(f"no mapping row for {source}")


def _click(br: Any, target: Any, what: str) -> None:
    """Scroll `target` (an element, or a function finding it) to the middle of the window and
    click it (retried while an overlay, e.g. the loading spinner, is in the way). The scroll is
    instant: Bootstrap makes scrolling smooth, and a click during the animation lands where
    the element was (each retry restarted the animation: it never arrived)."""

    def attempt() -> bool:
        element = target() if callable(target) else target
        br.driver.execute_script(SCROLL_TO_MIDDLE, element)
        element.click()
        return True

    try:
        wait_until(attempt, what)
    except AssertionError:  # keep what the page looked like for whoever reads the failure
        br.driver.save_screenshot(str(Path(br.download_path) / "click-failed.png"))
        raise


def _grid_cells(br: Any) -> list[str]:
    return [c.text for c in br.driver.find_elements(By.CSS_SELECTOR, "#preview-grid .ag-cell")]


def _download_rows(br: Any) -> list[tuple[Any, ...]]:
    wait_until(lambda: br.find_element("#export-button").is_enabled(), "the Export button")
    _click(br, br.find_element("#export-button"), "a clickable Export button")
    link = wait_until(lambda: br.driver.find_elements(By.ID, "result-download"), "the link")[0]
    _click(br, link, "a clickable download link")
    path = wait_for_download(Path(br.download_path), ".xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book.active
    assert sheet is not None
    rows = [tuple(r) for r in sheet.iter_rows(values_only=True)]
    path.unlink()
    return rows


def test_change_a_dropdown_preview_follows_export_has_the_column(
    dash_br: Any, live_server: str, tmp_path: Path
) -> None:
    path = tmp_path / "partner.csv"
    path.write_text(PARTNER_CSV, encoding="utf-8")
    open_page(dash_br, live_server + "/")
    _upload(dash_br, path)
    wait_until(lambda: _row_of(dash_br, "Contact"), "the mapping table")
    email, email_badge = _row_of(dash_br, "Email Address")
    assert Select(email).first_selected_option.get_attribute("value") == "email"
    assert email_badge == "synonym 95%"
    contact, contact_badge = _row_of(dash_br, "Contact")
    assert Select(contact).first_selected_option.text == "— not used —"
    assert contact_badge == "no match"
    wait_until(lambda: "ann@example.org" in _grid_cells(dash_br), "the matched e-mail")
    assert "0812-111" not in _grid_cells(dash_br)
    assert "Phone" in text_of(dash_br, "#quality-panel")  # empty cells in Phone

    Select(contact).select_by_value("phone")
    wait_until(lambda: "0812-111" in _grid_cells(dash_br), "the phone in the preview")
    wait_until(lambda: _row_of(dash_br, "Contact")[1] == "your choice", "the badge")
    wait_until(lambda: "Phone" not in text_of(dash_br, "#quality-panel"), "the quality panel")
    assert "Approved" in _grid_cells(dash_br) and "Rejected" in _grid_cells(dash_br)
    # Another template keeps the person's choice.
    Select(dash_br.find_element("#opt-template")).select_by_value("detailed")
    wait_until(lambda: "Birth Date" in text_of(dash_br, "#preview-grid"), "detailed headers")
    wait_until(lambda: "0812-111" in _grid_cells(dash_br), "the phone kept in the preview")
    assert _row_of(dash_br, "Contact")[1] == "your choice"

    rows = _download_rows(dash_br)
    header = list(rows[0])
    assert [r[header.index("Phone")] for r in rows[1:]] == ["0812-111", "0813-222", "0814-333"]
    assert rows[1][header.index("Email")] == "ann@example.org"
    assert [r[header.index("Status")] for r in rows[1:]] == ["Approved", "Rejected", "Approved"]

    # Save the choices; the same header set is offered them again after a reload.
    summary = dash_br.driver.find_element(By.CSS_SELECTOR, "#colmap-card details summary")
    _click(dash_br, summary, "the save summary")
    set_value(dash_br, "#colmap-save-name", "Partner A")
    _click(dash_br, dash_br.find_element("#colmap-save"), "the save button")
    wait_until(lambda: "Saved as" in text_of(dash_br, "#colmap-save-note"), "the save note")
    open_page(dash_br, live_server + "/")
    _upload(dash_br, path)
    offer = wait_until(
        lambda: dash_br.driver.find_elements(By.CSS_SELECTOR, "#colmap-offer button"),
        "the saved mapping offer",
    )
    assert offer[0].text == "Use “Partner A”"
    wait_until(lambda: _row_of(dash_br, "Contact")[1] == "no match", "a fresh table")
    button = "#colmap-offer button"  # found again on each try: the offer may be re-rendered
    _click(dash_br, lambda: dash_br.driver.find_element(By.CSS_SELECTOR, button), "the offer")
    wait_until(lambda: _row_of(dash_br, "Contact")[1] == "your choice", "the saved choice")
    wait_until(lambda: "0812-111" in _grid_cells(dash_br), "the saved mapping in the preview")
    assert severe_logs(dash_br) == []


def test_team_template_made_on_templates_page_is_used_for_export(
    dash_br: Any, live_server: str, tmp_path: Path
) -> None:
    open_page(dash_br, live_server + "/templates")
    # The whole page first: the catalog's eight templates above the form (they move it).
    wait_until(
        lambda: len(dash_br.driver.find_elements(By.CSS_SELECTOR, ".template-entry")) == 8,
        "the catalog's templates",
    )
    wait_until(lambda: "No team templates yet" in text_of(dash_br, "#team-list"), "the list")
    Select(dash_br.find_element("#team-type")).select_by_value("participants")
    set_value(dash_br, "#team-name", "Outreach")
    set_value(dash_br, "#team-columns", "email: E-mail\nfirst_name: Given name\nform_status: Stage")
    _click(dash_br, dash_br.find_element("#team-save"), "the save button")
    wait_until(lambda: "Saved" in text_of(dash_br, "#team-note"), "the saved note")
    wait_until(lambda: "team:Outreach" in text_of(dash_br, "#team-list"), "the team list")
    # The seed's eight are still listed, unchanged.
    assert len(dash_br.driver.find_elements(By.CSS_SELECTOR, ".template-entry")) == 8

    path = tmp_path / "partner.csv"
    path.write_text(PARTNER_CSV, encoding="utf-8")
    open_page(dash_br, live_server + "/")
    _upload(dash_br, path)
    wait_until(lambda: _row_of(dash_br, "Contact"), "the mapping table")
    Select(dash_br.find_element("#opt-template")).select_by_value("team:Outreach")
    wait_until(
        lambda: (
            [
                h.text
                for h in dash_br.driver.find_elements(
                    By.CSS_SELECTOR, "#preview-grid .ag-header-cell-text"
                )
            ]
            == ["E-mail", "Given name", "Stage"]
        ),
        "the team template's headers",
    )
    rows = _download_rows(dash_br)
    assert rows[0] == ("E-mail", "Given name", "Stage")
    assert rows[1] == ("ann@example.org", "Ann", "Approved")
    assert severe_logs(dash_br) == []
