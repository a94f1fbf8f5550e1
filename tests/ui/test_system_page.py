"""The /system page in real headless Chromium against gunicorn: after real exports (one of them
failed for real, by a data dir that could not take its files) it shows the checks, the last
24 hours' counts and chart, disk and retention; a broken file storage turns it "Not ready:
files" on Refresh. Screenshots at 1366x768 and 390 wide (looked at; see docs/UI.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.api.conftest import participants

from .conftest import run_gunicorn
from .helpers import open_page, severe_logs, text_of, wait_for_text, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.slow]


@contextlib.contextmanager
def exports_dir_replaced_by_a_file(data_dir: Path) -> Iterator[None]:
    """The exports dir swapped for a plain file (no export can be written, even by root)."""
    exports, saved = data_dir / "exports", data_dir / "exports.saved"
    exports.rename(saved)
    exports.write_text("not a directory")
    try:
        yield
    finally:
        exports.unlink()
        saved.rename(exports)


def _export(url: str, n: int) -> Any:
    return requests.post(
        f"{url}/api/ybb/export/participants", json={"data": participants(n)}, timeout=120
    )


def _no_horizontal_scroll(br: Any) -> bool:
    width = br.driver.execute_script("return document.documentElement.scrollWidth")
    inner = br.driver.execute_script("return window.innerWidth")
    return bool(width <= inner)


def test_system_page_shows_health_activity_and_disk(dash_br: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with run_gunicorn(data_dir) as url:
        for n in (25, 30, 6000):
            assert _export(url, n).status_code == 200
        with exports_dir_replaced_by_a_file(data_dir):
            assert _export(url, 10).status_code >= 500  # recorded as a failed export

        dash_br.driver.set_window_size(1366, 768)
        open_page(dash_br, url + "/system")
        wait_until(lambda: text_of(dash_br, "#system-exports") == "4", "4 exports counted")
        assert text_of(dash_br, "#system-failed") == "1"
        assert text_of(dash_br, "#system-records") == f"{25 + 30 + 6000 + 10:,}"
        assert text_of(dash_br, "#system-status") == "Ready"
        health = text_of(dash_br, "#system-health")
        for check in ("metadata", "files", "disk"):
            assert check in health
        storage = text_of(dash_br, "#system-storage")
        assert "Retention\n24 hours" in storage and "% used" in storage
        bars = wait_until(
            lambda: dash_br.driver.find_elements(By.CSS_SELECTOR, "#system-chart .bars path"),
            "the chart's bars",
        )
        assert len(bars) >= 2  # completed and failed bars
        assert (
            dash_br.driver.find_element(By.ID, "nav-system")
            .get_attribute("href")
            .endswith("/system")
        )
        dash_br.driver.save_screenshot(str(tmp_path / "system-1366.png"))

        with exports_dir_replaced_by_a_file(data_dir):
            dash_br.find_element("#system-refresh").click()
            status = wait_for_text(
                dash_br, "#system-status", "Not ready", "the page to say Not ready"
            )
            assert status == "Not ready: files"
            dash_br.driver.save_screenshot(str(tmp_path / "system-not-ready.png"))
        dash_br.find_element("#system-refresh").click()
        wait_until(lambda: text_of(dash_br, "#system-status") == "Ready", "Ready again")

        dash_br.driver.set_window_size(390, 844)
        wait_until(lambda: _no_horizontal_scroll(dash_br), "the page to fit 390 px")
        dash_br.driver.save_screenshot(str(tmp_path / "system-390.png"))
        dash_br.driver.execute_script(  # instant: Bootstrap makes scrolling smooth (slow)
            "document.getElementById('system-activity').scrollIntoView({behavior: 'instant'})"
        )
        dash_br.driver.save_screenshot(str(tmp_path / "system-390-chart.png"))
        assert severe_logs(dash_br) == []
    for name in (
        "system-1366.png",
        "system-not-ready.png",
        "system-390.png",
        "system-390-chart.png",
    ):
        assert (tmp_path / name).stat().st_size > 10_000
