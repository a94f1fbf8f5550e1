"""Preview benchmark: what the UI does with a 50,000-row upload before showing it.

Parse the uploaded JSON file (readers.read_any), map it, and build the first page of display
rows, the quality report and the plan (service.preview) — timed end to end, median of several
runs in one warm process (as a web worker is). Writes benchmarks/results/preview.json.

    .venv/bin/python -m benchmarks.bench_preview [--rows 50000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks.datagen import records
from benchmarks.harness import save_json
from export_core.model import ExportOptions
from export_core.readers import read_any
from export_core.service import preview

RESULTS = Path(__file__).resolve().parent / "results" / "preview.json"


def run(rows: int, runs: int, template: str = "complete") -> dict[str, Any]:
    """Median seconds for parse + map + first page + quality report, and the split."""
    upload = orjson.dumps(records("participants", rows, seed=7))
    options = ExportOptions("participants", template)
    totals, parses = [], []
    for _ in range(runs):
        began = time.perf_counter()
        frame = read_any(upload, "participants.json")
        parsed = time.perf_counter()
        result = preview(frame, options, limit=100)
        totals.append(time.perf_counter() - began)
        parses.append(parsed - began)
        assert result.total_rows == rows and len(result.rows) == 100
    return {
        "rows": rows,
        "upload_mb": round(len(upload) / 2**20, 1),
        "runs": runs,
        "median_s": round(statistics.median(totals), 3),
        "parse_median_s": round(statistics.median(parses), 3),
        "all_s": [round(t, 3) for t in totals],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    result = run(args.rows, args.runs)
    print(json.dumps(result, indent=2))
    save_json(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
