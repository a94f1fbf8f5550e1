"""UI login in real headless Chromium against gunicorn with YBB_UI_USERS and YBB_API_KEY set:
sign in through the form, paste, preview, export, download through a signed link, sign out."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from werkzeug.security import generate_password_hash

from components.samples import sample_json
from tests.ui.conftest import run_gunicorn
from tests.ui.helpers import open_page, set_value, severe_logs, text_of, wait_until
from tests.ui.test_browser import _click, _export, _grid_cells, _load_paste, _plan

pytestmark = [pytest.mark.browser, pytest.mark.live]
PASSWORD = "correct horse battery"
API_KEY = "ui-login-tests-key"


@pytest.fixture(scope="module")
def login_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn with the UI login on (one user, a real scrypt hash) and an API key."""
    users = f"alice:{generate_password_hash(PASSWORD)}"
    env = {"YBB_UI_USERS": users, "YBB_API_KEY": API_KEY}
    with run_gunicorn(tmp_path_factory.mktemp("ui-login") / "data", env) as url:
        yield url


def _sign_in(br: Any, password: str) -> None:
    wait_until(lambda: br.driver.find_elements(By.ID, "login-form"), "the sign-in form")
    set_value(br, "#login-user", "alice")
    set_value(br, "#login-password", password)
    br.find_element("#login-submit").click()


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_sign_in_paste_preview_export_signed_download_sign_out(
    dash_br: Any, login_server: str
) -> None:
    dash_br.driver.get(login_server + "/")
    redirected = urlsplit(dash_br.driver.current_url)
    assert redirected.path == "/login" and parse_qs(redirected.query) == {"next": ["/"]}
    _sign_in(dash_br, "not the password")
    error = wait_until(lambda: text_of(dash_br, "#login-error"), "the sign-in error")
    assert error == "Wrong user name or password."
    _sign_in(dash_br, PASSWORD)
    open_page(dash_br, login_server + "/")
    assert text_of(dash_br, "#nav-signed-in-as") == "alice"
    _load_paste(dash_br, sample_json("participants"))
    _plan(dash_br, "25 records -> 1 Excel file")
    wait_until(lambda: "Submitted" in _grid_cells(dash_br), "translated statuses in the grid")
    _export(dash_br)
    link = wait_until(lambda: dash_br.driver.find_elements(By.ID, "result-download"), "link")[0]
    href = link.get_attribute("href")
    assert "?expires=" in href and "&signature=" in href
    status, body = _fetch(href)  # no API key, no session cookie: the signature suffices
    assert status == 200
    sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).active
    assert sheet.cell(1, 1).value == "ID" and sheet.max_row == 26
    assert _fetch(href.split("?", 1)[0])[0] == 401  # the plain route still needs the key
    wait_until(lambda: _click(dash_br, "#logout-button"), "a clickable Sign out button")
    wait_until(lambda: "You are signed out." in text_of(dash_br, "main"), "signed out")
    dash_br.driver.get(login_server + "/exports")
    assert urlsplit(dash_br.driver.current_url).path == "/login"
    assert [e for e in severe_logs(dash_br) if "status of 401" not in e["message"]] == []


def test_an_ended_session_sends_the_page_to_sign_in(dash_br: Any, login_server: str) -> None:
    dash_br.driver.get(login_server + "/templates")
    _sign_in(dash_br, PASSWORD)
    wait_until(lambda: dash_br.driver.find_elements(By.ID, "navbar"), "the templates page")
    assert urlsplit(dash_br.driver.current_url).path == "/templates"  # back where it started
    open_page(dash_br, login_server + "/")
    wait_until(lambda: dash_br.driver.find_elements(By.LINK_TEXT, "Sample"), "the tabs")

    def at_sign_in() -> bool:
        if urlsplit(dash_br.driver.current_url).path == "/login":
            return True
        # The session ends (expiry, sign-out elsewhere). Again on every try: the session is
        # refreshed by each response, so a callback still in flight when the cookie went
        # would bring it back (this test once waited 30 s for a 401 that never came).
        dash_br.driver.delete_all_cookies()
        try:  # "Load sample" runs a callback, which now gets 401
            dash_br.driver.find_element(By.LINK_TEXT, "Sample").click()
            dash_br.driver.find_element(By.ID, "data-sample-button").click()
        except WebDriverException:
            pass  # the page is re-rendering or already leaving
        return False

    wait_until(at_sign_in, "the sign-in page")
    assert parse_qs(urlsplit(dash_br.driver.current_url).query) == {"next": ["/"]}
    refused = [e for e in severe_logs(dash_br) if "status of 401" not in e["message"]]
    assert refused == []


def test_page_scripts_are_not_served_before_sign_in(login_server: str) -> None:
    assert _fetch(login_server + "/_dash-layout")[0] == 401
    assert _fetch(login_server + "/_dash-dependencies")[0] == 401
    assert _fetch(login_server + "/health")[0] == 200
    assert _fetch(login_server + "/assets/00-bootstrap.min.css")[0] == 200
