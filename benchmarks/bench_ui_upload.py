"""UI upload benchmark in headless Chromium against the Procfile's gunicorn (2 workers).

1. A 50,000-row participants JSON chosen in the upload box -> the first grid page shown: the
   moments the upload finished (the progress line says "Reading ... on the server"), the plan
   line appeared and the first grid cell appeared, measured in the page (performance.now()).
2. A large CSV (default 200 MB) chosen the same way, three times: with the default limits
   (refused in the browser, nothing sent), with YBB_MAX_UPLOAD_MB raised (streamed to disk, read
   until the record after YBB_MAX_RECORDS, refused), and with both raised (accepted) -- each with
   the serving worker's peak RSS over its RSS before.

    .venv/bin/python -m benchmarks.bench_ui_upload [--rows 50000] [--runs 3] [--csv-mb 200]
        [--old-root /tmp/old]   # the JSON runs also against another checkout, in turns

Writes benchmarks/results/ui_upload.json. Not a test: it prints figures."""

from __future__ import annotations

import argparse
import contextlib
import csv
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from selenium import webdriver
from selenium.webdriver.common.by import By

from benchmarks.datagen import records
from benchmarks.harness import save_json
from benchmarks.live_server import ROOT, WorkerMemoryWatch, live_server
from tests.ui.conftest import pytest_setup_options

RESULTS = Path(__file__).resolve().parent / "results" / "ui_upload.json"
_WATCH = """
window.__marks = {};
const mark = (name) => { if (!window.__marks[name]) window.__marks[name] = performance.now(); };
new MutationObserver(() => {
    const progress = document.getElementById('data-upload-progress-text');
    if (progress && progress.textContent.startsWith('Reading')) mark('uploaded');
    const plan = document.getElementById('plan-text');
    if (plan && plan.textContent) mark('plan');
    if (document.querySelector('#preview-grid .ag-cell-value')) mark('first_cell');
    const alert = document.querySelector('#data-alert .alert-danger');
    if (alert) { mark('alert'); window.__alert = alert.textContent; }
}).observe(document.body, {subtree: true, childList: true, characterData: true});
return performance.now();
"""


def _choose(driver: Any, base: str, path: Path, timeout: float) -> dict[str, Any]:
    """Open the page, choose `path`, wait for the first grid cell or an alert; the marks in
    seconds after the file was chosen."""
    driver.get(base + "/")
    driver.execute_script("sessionStorage.clear()")  # the page keeps the last data's summary
    driver.get(base + "/")
    deadline = time.monotonic() + 30
    while not driver.find_elements(By.CSS_SELECTOR, "#data-upload input[type=file]"):
        if time.monotonic() > deadline:
            raise RuntimeError("the page did not render")
        time.sleep(0.1)
    start = driver.execute_script(_WATCH)
    driver.find_element(By.CSS_SELECTOR, "#data-upload input[type=file]").send_keys(str(path))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        marks = driver.execute_script("return window.__marks")
        if "first_cell" in marks or "alert" in marks:
            out = {k: round((v - start) / 1000, 3) for k, v in marks.items()}
            out["alert"] = driver.execute_script("return window.__alert || null")
            return out
        time.sleep(0.02)
    raise RuntimeError(f"no grid and no alert within {timeout}s")


def _write_csv(path: Path, target_mb: int) -> int:
    """Participants as CSV until the file reaches `target_mb`; the number of records."""
    batch = records("participants", 10_000, seed=3)
    header = list(batch[0])
    count = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        while out.tell() < target_mb * 1_048_576:
            for record in batch:
                count += 1
                writer.writerow([count, *(record.get(h, "") for h in header[1:])])
    return count


def _big_csv_run(driver: Any, path: Path, data: Path, **env: str) -> dict[str, Any]:
    with live_server(data, workers=2, **env) as (base, master):
        with WorkerMemoryWatch(master) as watch:
            marks = _choose(driver, base, path, timeout=600)
        worker = watch.serving_worker()
        grown = watch.worker_peak[worker] - watch.baseline[worker]
    return {"env": env, **marks, "worker_rss_growth_mb": round(grown / 2**20, 1)}


def _side_by_side(driver: Any, upload: Path, work: Path, runs: int, old: Path | None) -> Any:
    """The JSON runs against this checkout and, when `old` is given, against that checkout
    (e.g. `git archive 8e3b036 | tar -x -C /tmp/old`) in turns, so both see the same load."""
    roots = {"this": ROOT, **({"old": old} if old else {})}
    timings: dict[str, list[dict[str, Any]]] = {name: [] for name in roots}
    with contextlib.ExitStack() as stack:
        bases = {
            name: stack.enter_context(live_server(work / f"data-{name}", workers=2, root=root))[0]
            for name, root in roots.items()
        }
        for base in bases.values():
            _choose(driver, base, upload, timeout=60)  # warm the page and a worker
        for _ in range(runs):
            for name, base in bases.items():
                timings[name].append(_choose(driver, base, upload, timeout=60))
    return timings


def run(rows: int, runs: int, csv_mb: int, old: Path | None = None) -> dict[str, Any]:
    """All the figures (see the module docstring)."""
    work = Path(tempfile.mkdtemp(prefix="ybb-bench-upload-"))
    driver = webdriver.Chrome(options=pytest_setup_options())
    try:
        upload = work / "participants.json"
        upload.write_bytes(orjson.dumps(records("participants", rows, seed=7)))
        both = _side_by_side(driver, upload, work, runs, old)
        timings = both["this"]
        big = work / "big.csv"
        big_rows = _write_csv(big, csv_mb)
        limits = {"YBB_MAX_UPLOAD_MB": str(csv_mb + 50)}
        big_runs = [
            _big_csv_run(driver, big, work / "d1"),
            _big_csv_run(driver, big, work / "d2", **limits),
            _big_csv_run(driver, big, work / "d3", **limits, YBB_MAX_RECORDS=str(big_rows)),
        ]
    finally:
        driver.quit()
    first = [t["first_cell"] for t in timings]
    old_first = [t["first_cell"] for t in both.get("old", [])]
    return {
        "old_checkout_first_grid_page_s": old_first or None,
        "json_rows": rows,
        "json_mb": round(upload.stat().st_size / 2**20, 1),
        "first_grid_page_s": {"median": statistics.median(first), "all": first},
        "json_runs": timings,
        "csv_mb": round(big.stat().st_size / 2**20, 1),
        "csv_rows": big_rows,
        "csv_runs": big_runs,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--csv-mb", type=int, default=200)
    parser.add_argument("--old-root", type=Path, help="a checkout to compare the JSON runs with")
    args = parser.parse_args(argv)
    result = run(args.rows, args.runs, args.csv_mb, args.old_root)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    save_json(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
