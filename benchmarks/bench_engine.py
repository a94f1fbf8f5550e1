"""Engine benchmark: participants (complete template) through `service.write_export`.

Each case runs in a fresh child process so that peak RSS belongs to that case alone. The child
generates seeded records (benchmarks.datagen), builds the reader's frame, then times
write_export (mapping, planning, every file and the ZIP). Prints a table and writes
benchmarks/results/engine.json.

    .venv/bin/python -m benchmarks.bench_engine            # 1k, 10k, 50k excel; 50k csv
    .venv/bin/python -m benchmarks.bench_engine --case 50000:excel --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import run_child, save_json

RESULTS = Path(__file__).resolve().parent / "results" / "engine.json"
DEFAULT_CASES = ("1000:excel", "10000:excel", "50000:excel", "50000:csv", "50000:baseline")
MB = 1024 * 1024


def _rss_mb() -> float:
    """Current resident set size of this process."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MB


def _baseline(frame: Any, out: Path, template: str) -> tuple[int, None]:
    """The floor to compare with: the same cells through bare xlsxwriter (constant_memory,
    one file, no styles, no widths, no ZIP), as notes/performance.md measured it."""
    import xlsxwriter

    from export_core.catalog import get_catalog
    from export_core.cells import iter_cells
    from export_core.mapping import map_frame
    from export_core.writers.xlsx import WORKBOOK_OPTIONS

    mapped = map_frame(frame, get_catalog().template("participants", template))
    workbook = xlsxwriter.Workbook(str(out / "baseline.xlsx"), WORKBOOK_OPTIONS)
    sheet = workbook.add_worksheet()
    for index, row in enumerate(iter_cells(mapped)):
        sheet.write_row(index, 0, row)
    workbook.close()
    return 1, None


def run_case(records: int, fmt: str, template: str = "complete") -> dict[str, Any]:
    """One measurement, in this process (the parent calls it in a fresh child)."""
    from benchmarks.datagen import records as make_records
    from export_core.model import ExportOptions
    from export_core.readers import records_to_frame
    from export_core.service import write_export

    rows = make_records("participants", records, seed=1)
    began = time.perf_counter()
    frame = records_to_frame(rows)
    frame_seconds = time.perf_counter() - began
    del rows
    rss_before = _rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = Path(tempfile.mkdtemp(prefix="ybb-bench-"))
    try:
        began = time.perf_counter()
        if fmt == "baseline":
            files, archive = _baseline(frame, out, template)
        else:
            result = write_export(frame, ExportOptions("participants", template, fmt), out)
            files, archive = result.plan.total_files, result.archive
        seconds = time.perf_counter() - began
        total_bytes = sum(p.stat().st_size for p in out.iterdir())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "records": records,
        "format": fmt,
        "template": template,
        "files": files,
        "zip": archive is not None,
        "zip_bytes": archive.zip_file_size if archive else 0,
        "bytes_written": total_bytes,
        "frame_seconds": round(frame_seconds, 3),
        "write_export_seconds": round(seconds, 3),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_before_write_mb": round(peak_before, 1),
    }


def _child(case: str) -> dict[str, Any]:
    return run_child("benchmarks.bench_engine", "--child", case)


def _median_case(case: str, repeat: int) -> dict[str, Any]:
    runs = [_child(case) for _ in range(repeat)]
    best = dict(runs[0])
    for key in ("write_export_seconds", "frame_seconds", "peak_rss_mb", "rss_before_mb"):
        best[key] = round(statistics.median(r[key] for r in runs), 3)
    best["runs"] = [r["write_export_seconds"] for r in runs]
    return best


def _table(rows: list[dict[str, Any]]) -> str:
    head = "records  format  files  write_export s  runs (s)            peak RSS MB  RSS before MB"
    lines = [head, "-" * len(head)]
    for r in rows:
        runs = ", ".join(f"{s:.2f}" for s in r["runs"])
        lines.append(
            f"{r['records']:>7,}  {r['format']:<6}  {r['files']:>5}  "
            f"{r['write_export_seconds']:>14.2f}  {runs:<18}  {r['peak_rss_mb']:>11.0f}  "
            f"{r['rss_before_mb']:>13.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the cases (each in fresh child processes), print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", help="RECORDS:FORMAT, e.g. 50000:excel")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median shown)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        records, fmt = args.child.split(":")
        print(json.dumps(run_case(int(records), fmt)))
        return 0
    rows = [_median_case(case, args.repeat) for case in args.case or DEFAULT_CASES]
    print(_table(rows))
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()}
    save_json(RESULTS, {"machine": meta, "cases": rows})
    print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
