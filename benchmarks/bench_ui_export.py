"""UI export benchmark in headless Chromium against the Procfile's gunicorn (2 workers).

A 50,000-row participants JSON is chosen in the upload box; once its preview is shown, Export is
clicked, and the page marks (performance.now(), seconds after the click) when:

* `starting`: the progress line first shows something (the background job runs and has
  reported "Starting…"),
* `writing`: it says "Writing ... records…" (the export process has started, imported the
  engine and recorded the export),
* `result`: the result card's download link is there (what the user waits for).

Each run is a new Export of the same data (the page is not reloaded), so every run but the
first of each worker is what a user who exports again sees.

    .venv/bin/python -m benchmarks.bench_ui_export [--rows 50000] [--runs 6] [--format excel]
        [--no-launcher]   # each export in a fresh interpreter (YBB_UI_EXPORT_LAUNCHER=0)

Writes benchmarks/results/ui_export.json. Not a test: it prints figures."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from selenium import webdriver
from selenium.webdriver.common.by import By

from benchmarks.bench_ui_upload import _choose
from benchmarks.datagen import records
from benchmarks.harness import save_json
from benchmarks.live_server import live_server
from tests.ui.conftest import pytest_setup_options

RESULTS = Path(__file__).resolve().parent / "results" / "ui_export.json"
_WATCH = """
window.__xmarks = {};
const old = document.querySelector('#result-download, #result-download-zip');
const before = old ? old.href : null;  // the last run's link: a new export has a new one
const mark = (name) => { if (!window.__xmarks[name]) window.__xmarks[name] = performance.now(); };
const observer = new MutationObserver(() => {
    const text = document.getElementById('export-progress-text');
    if (text && text.textContent) mark('starting');
    if (text && text.textContent.startsWith('Writing')) mark('writing');
    const link = document.querySelector('#result-download, #result-download-zip');
    if (link && link.href !== before) mark('result');
    const alert = document.querySelector('#export-result .alert');
    if (alert) { mark('alert'); window.__xalert = alert.textContent; }
});
observer.observe(document.body, {subtree: true, childList: true, characterData: true});
window.__xobserver = observer;
document.getElementById('export-button').click();
return performance.now();
"""


def _export(driver: Any, timeout: float) -> dict[str, Any]:
    """Click Export; the marks in seconds after the click."""
    deadline = time.monotonic() + timeout
    while driver.find_element(By.ID, "export-button").get_attribute("disabled"):
        if time.monotonic() > deadline:
            raise RuntimeError("Export stayed disabled")
        time.sleep(0.05)
    start = driver.execute_script(_WATCH)
    while time.monotonic() < deadline:
        marks = driver.execute_script("return window.__xmarks")
        if "result" in marks or "alert" in marks:
            driver.execute_script("window.__xobserver.disconnect()")
            out = {k: round((v - start) / 1000, 3) for k, v in marks.items()}
            if "alert" in marks:
                out["alert_text"] = driver.execute_script("return window.__xalert")
            return out
        time.sleep(0.01)
    raise RuntimeError(f"no result within {timeout}s")


def run(rows: int, runs: int, fmt: str, **env: str) -> dict[str, Any]:
    """All the figures (see the module docstring)."""
    work = Path(tempfile.mkdtemp(prefix="ybb-bench-export-"))
    upload = work / "participants.json"
    upload.write_bytes(orjson.dumps(records("participants", rows, seed=7)))
    driver = webdriver.Chrome(options=pytest_setup_options())
    try:
        with live_server(work / "data", workers=2, **env) as (base, _master):
            marks = _choose(driver, base, upload, timeout=60)
            if "first_cell" not in marks:
                raise RuntimeError(f"the upload failed: {marks}")
            if fmt != "excel":  # the default
                driver.find_element(By.CSS_SELECTOR, f"#opt-format input[value='{fmt}']").click()
            timings = [_export(driver, timeout=120) for _ in range(runs)]
    finally:
        driver.quit()
    results = [t["result"] for t in timings if "result" in t]
    return {
        "rows": rows,
        "format": fmt,
        "env": env,
        "click_to_download_link_s": {
            "median": round(statistics.median(results), 3) if results else None,
            "all": results,
        },
        "runs": timings,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--format", default="excel", choices=["excel", "csv"])
    parser.add_argument(
        "--no-launcher",
        action="store_true",
        help="YBB_UI_EXPORT_LAUNCHER=0: each export starts a fresh interpreter",
    )
    args = parser.parse_args(argv)
    env = {"YBB_UI_EXPORT_LAUNCHER": "0"} if args.no_launcher else {}
    result = run(args.rows, args.runs, args.format, **env)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    save_json(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
