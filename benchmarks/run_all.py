"""Every benchmark, then one table of the issue's targets: `make bench`.

Runs, each in its own process: the engine benchmark (bench_engine), the UI preview
(bench_preview), the 1,000,000-row CLI export (bench_cli) and the end-to-end API benchmark
against the Procfile server with 2 workers (bench_api). Each writes its JSON to
benchmarks/results/; this script adds results/summary.json with the targets and verdicts: the
first round's, then issue 17's. Before and after, it times a fixed piece of CPU work
(`machine_speed`): on this VM the same code's times moved by 20-40% within the hour, and
these figures tell a slower machine from slower code.

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
import zlib
from collections.abc import Callable
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


def _api_target(seconds: float, rss: float | None) -> str:
    """An API workload's target as the tables print it."""
    return f"<= {seconds} s" + (f", worker RSS <= {rss:.0f} MB" if rss else "")


def _api_met(got: Row, seconds: float, rss: float | None) -> bool:
    """Whether a measured API workload's median time (and worker peak, if `rss`) is in bounds."""
    return bool(got["median_s"] <= seconds and (rss is None or got["worker_peak_rss_mb"] <= rss))


def _targets(api: Row, preview: Row, cli: Row) -> list[Row]:
    work = api.get("workloads", {})

    def api_row(label: str, seconds: float, rss: float | None = None) -> dict[str, Any]:
        got = work.get(label, {})
        ok = bool(got) and _api_met(got, seconds, rss)
        target = _api_target(seconds, rss)
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


def _issue17_targets(api: Row, cli: Row) -> list[Row]:
    """Issue 17's targets (medians of `make bench`, the worker's highest peak of 5 requests);
    "met" is None where the figure was not measured this run."""
    work = api.get("workloads", {})

    def row(workload: str, target: str, measured: str, met: bool | None) -> Row:
        return {"workload": workload, "target": target, "measured": measured, "met": met}

    def api_row(label: str, seconds: float, rss: float | None = None) -> Row:
        got = work.get(label)
        target = _api_target(seconds, rss)
        if not got:
            return row(label + " (API)", target, "n/a", None)
        met = _api_met(got, seconds, rss)
        measured = f"{got['median_s']} s" + (
            f", worker RSS {got['worker_peak_rss_mb']} MB" if rss else ""
        )
        return row(label + " (API)", target, measured, met)

    rows = [
        api_row("50k participants complete excel", 0.45, 150.0),
        api_row("50k participants complete csv", 0.2),
        api_row("10k participants standard excel", 0.07),
    ]
    cli_target = "<= 10 s, peak RSS <= 200 MB"
    if cli and cli.get("exit_code") == 0:
        measured = f"{cli['wall_s']} s, peak RSS {cli['peak_rss_mb']} MB"
        met = cli["wall_s"] <= 10 and cli["peak_rss_mb"] <= 200
        rows.append(row("1,000,000 rows, one xlsx, CLI", cli_target, measured, met))
    else:
        rows.append(row("1,000,000 rows, one xlsx, CLI", cli_target, "n/a", None))
    pair = api.get("concurrent_50k_pair")
    pair_target = "<= 0.9 s, both 200"
    if pair:
        measured = f"{pair['wall_s']} s, statuses {pair['statuses']}"
        met = pair["wall_s"] <= 0.9 and pair["statuses"] == [200, 200]
        rows.append(row("2 concurrent 50k excel (API)", pair_target, measured, met))
    else:
        rows.append(row("2 concurrent 50k excel (API)", pair_target, "n/a", None))
    return rows


def _print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}\n{'workload':42} {'target':36} {'measured':48} met")
    for r in rows:
        print(
            f"{r['workload']:42} {r['target']:36} {r['measured']:48} "
            + ("not run" if r["met"] is None else "yes" if r["met"] else "NO")
        )


SPEED_BYTES = 8 << 20


def machine_speed() -> dict[str, float]:
    """Milliseconds of two fixed pieces of work on one core: zlib level 6 over 8 MB of
    repetitive text (C, like deflate and the decoders), and 2,000,000 turns of a Python loop
    (the interpreter, like the request's glue). The best of 3 each."""
    text = b"".join(b"%d,participant %d,user%d@example.com\r\n" % (i, i, i) for i in range(240_000))
    data = (text * (SPEED_BYTES // len(text) + 1))[:SPEED_BYTES]

    def best(work: Callable[[], object]) -> float:
        times = []
        for _ in range(3):
            began = time.perf_counter()
            work()
            times.append(time.perf_counter() - began)
        return round(min(times) * 1000, 1)

    def loop() -> int:
        total = 0
        for i in range(2_000_000):
            total += i
        return total

    return {"zlib6_8mb_ms": best(lambda: zlib.compress(data, 6)), "python_loop_ms": best(loop)}


def main(argv: list[str] | None = None) -> int:
    """Run everything (engine, preview, CLI, API) and print the targets table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    speed_before = machine_speed()
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
    issue17 = _issue17_targets(_load("api.json"), _load("cli.json"))
    _print_table("First round's targets", rows)
    _print_table("Issue 17's targets", issue17)
    speed_after = machine_speed()
    print(
        f"\nmachine speed (ms, lower is faster; before / after): zlib level 6 over 8 MB "
        f"{speed_before['zlib6_8mb_ms']} / {speed_after['zlib6_8mb_ms']}, Python loop "
        f"{speed_before['python_loop_ms']} / {speed_after['python_loop_ms']}"
    )
    meta = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_after": os.getloadavg(),
        "minutes": round((time.perf_counter() - began) / 60, 1),
        "speed_before": speed_before,
        "speed_after": speed_after,
    }
    summary = {"machine": meta, "targets": rows, "issue17_targets": issue17}
    save_json(RESULTS / "summary.json", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
