"""Every benchmark, then one table of the issue's targets: `make bench`.

Runs, each in its own process: the engine benchmark (bench_engine), the UI preview
(bench_preview), the 1,000,000-row CLI export (bench_cli) and the end-to-end API benchmark
against the Procfile server with 2 workers (bench_api). Each writes its JSON to
benchmarks/results/; this script adds results/summary.json with the targets and verdicts.

    .venv/bin/python -m benchmarks.run_all [--quick]   # --quick: fewer runs, no 1M rows
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import save_json

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _run(module: str, *args: str) -> None:
    print(f"\n=== {module} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], cwd=ROOT, check=True)


def _load(name: str) -> dict[str, Any]:
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


Row = dict[str, Any]


def _targets(api: Row, preview: Row, cli: Row) -> list[Row]:
    work = api.get("workloads", {})

    def api_row(label: str, seconds: float, rss: float | None = None) -> dict[str, Any]:
        got = work.get(label, {})
        ok = bool(got) and got["median_s"] <= seconds
        if rss is not None and got:
            ok = ok and got["worker_peak_rss_mb"] <= rss
        target = f"<= {seconds} s" + (f", worker RSS <= {rss:.0f} MB" if rss else "")
        measured = (
            f"{got['median_s']} s, worker RSS {got['worker_peak_rss_mb']} MB" if got else "n/a"
        )
        return {"workload": label + " (API)", "target": target, "measured": measured, "met": ok}

    rows = [
        api_row("50k participants complete excel", 4.0, 200.0),
        api_row("10k participants standard excel", 0.8),
        api_row("1k participants standard excel", 0.15),
        api_row("50k participants complete csv", 0.5),
    ]
    rows.append(
        {
            "workload": "UI preview of a 50k upload",
            "target": "<= 1 s",
            "measured": f"{preview.get('median_s', 'n/a')} s",
            "met": bool(preview) and preview["median_s"] <= 1.0,
        }
    )
    cli_ok = (cli.get("exit_code") == 0 and cli["peak_rss_mb"] <= 400) if cli else None
    rows.append(
        {
            "workload": "1,000,000 rows, one file, CLI",
            "target": "peak RSS <= 400 MB; time reported",
            "measured": f"{cli.get('wall_s', 'n/a')} s, peak RSS {cli.get('peak_rss_mb', 'n/a')}"
            f" MB, exit {cli.get('exit_code', 'n/a')}",
            "met": cli_ok,
        }
    )
    zip_dl = api.get("zip_download", {})
    rows.append(
        {
            "workload": "download of a ~100 MB ZIP",
            "target": "worker RSS growth < 20 MB",
            "measured": f"{zip_dl.get('zip_mb', 'n/a')} MB ZIP, growth "
            f"{zip_dl.get('worker_rss_growth_mb', 'n/a')} MB",
            "met": zip_dl["worker_rss_growth_mb"] < 20 if zip_dl else None,
        }
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run everything (engine, preview, CLI, API) and print the targets table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    _run("bench_engine", "--repeat", "1" if args.quick else "3")
    _run("bench_preview", "--runs", "3" if args.quick else "5")
    if not args.quick:
        _run("bench_cli")
    _run("bench_api", "--runs", "3" if args.quick else "5", *(["--quick"] if args.quick else []))
    if args.quick:  # not run this time: older figures must not pass for fresh ones
        (RESULTS / "cli.json").unlink(missing_ok=True)
        api = {k: v for k, v in _load("api.json").items() if k != "zip_download"}
        save_json(RESULTS / "api.json", api)
    rows = _targets(_load("api.json"), _load("preview.json"), _load("cli.json"))
    print(f"\n{'workload':42} {'target':36} {'measured':48} met")
    for r in rows:
        print(
            f"{r['workload']:42} {r['target']:36} {r['measured']:48} "
            + ("not run" if r["met"] is None else "yes" if r["met"] else "NO")
        )
    meta = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_after": os.getloadavg(),
        "minutes": round((time.perf_counter() - began) / 60, 1),
    }
    summary = {"machine": meta, "targets": rows}
    save_json(RESULTS / "summary.json", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
