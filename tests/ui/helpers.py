"""Small helpers for the browser tests: typing into React inputs, bounded waits, downloads and
the console check every test ends with."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium.webdriver.common.by import By

T = TypeVar("T")
WAIT_SECONDS = 30

# React tracks an input's value itself; setting .value alone is ignored, so use the native
# setter and fire an input event (what typing would do, without typing megabytes of text).
_SET_VALUE = """
const el = arguments[0];
const proto = el.tagName === 'TEXTAREA'
    ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, arguments[1]);
el.dispatchEvent(new Event('input', { bubbles: true }));
"""


def set_value(br: Any, css: str, text: str) -> None:
    """Put `text` into the React-controlled input/textarea at `css`."""
    br.driver.execute_script(_SET_VALUE, br.find_element(css), text)


def wait_until(check: Callable[[], T | None], what: str, timeout: float = WAIT_SECONDS) -> T:
    """Poll `check` until it returns something truthy (bounded), and return that."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # element not there yet, stale element, ...
            last_error = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} ({last_error})")


def text_of(br: Any, css: str) -> str:
    """The visible text of the first element at `css` ('' when absent)."""
    found = br.driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def wait_for_text(br: Any, css: str, needle: str, what: str) -> str:
    """Wait until the element at `css` shows `needle`; its whole text."""
    return wait_until(lambda: needle in text_of(br, css) and text_of(br, css), what)


def wait_for_download(directory: Path, suffix: str, timeout: float = WAIT_SECONDS) -> Path:
    """The first completely downloaded file ending in `suffix` in `directory`."""

    def done() -> Path | None:
        files = [p for p in directory.glob(f"*{suffix}") if p.stat().st_size > 0]
        partial = list(directory.glob("*.crdownload"))
        return files[0] if files and not partial else None

    return wait_until(done, f"a {suffix} download in {directory}", timeout)


# Chromium logs every 4xx answer to an XHR as a SEVERE "Failed to load resource" entry; for an
# upload of a broken file, 400 with the error envelope is the designed answer.
UPLOAD_REFUSED = "/ui/upload - Failed to load resource: the server responded with a status of 4"


def severe_logs(br: Any, allow: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """SEVERE entries in the browser console since the test started, except those containing
    one of `allow`."""
    entries = [e for e in br.driver.get_log("browser") if e.get("level") == "SEVERE"]
    return [e for e in entries if not any(a in str(e.get("message")) for a in allow)]


def open_page(br: Any, url: str) -> None:
    """Navigate and wait for Dash to render the navigation bar."""
    br.driver.get(url)
    wait_until(lambda: br.driver.find_elements(By.ID, "navbar"), f"the page {url}")
