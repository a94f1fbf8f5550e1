"""CLI benchmark: 1,000,000 participants into one xlsx file (`--chunking off`), peak RSS.

The input is generated (seeded, benchmarks.datagen) into a temporary CSV file 50,000 records
at a time, then `python -m export_core export ...` runs in a child process; its wall time and
peak RSS (ru_maxrss of the child) are reported. Writes benchmarks/results/cli.json.

    .venv/bin/python -m benchmarks.bench_cli [--rows 1000000] [--format csv|json]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from benchmarks.datagen import records
from benchmarks.harness import save_json

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "cli.json"
GENERATE_BLOCK = 50_000
MB = 1024 * 1024


def generate(path: Path, rows: int, fmt: str) -> int:
    """Write `rows` participants to `path` as CSV or JSON, a block at a time (the generator's
    dicts for a million rows would not fit the memory this benchmark measures)."""
    with path.open("wb") as out:
        if fmt == "json":
            out.write(b"[")
        for begin in range(0, rows, GENERATE_BLOCK):
            block = records("participants", min(GENERATE_BLOCK, rows - begin), seed=begin)
            for offset, record in enumerate(block):
                record["id"] = begin + offset + 1
            if fmt == "json":
                body = orjson.dumps(block)[1:-1]
                out.write((b"," if begin else b"") + body)
                continue
            frame = pl.DataFrame(
                [{k: None if v is None else str(v) for k, v in r.items()} for r in block],
                infer_schema_length=None,
            )
            frame.write_csv(out, include_header=begin == 0)
        if fmt == "json":
            out.write(b"]")
    return path.stat().st_size


def run(rows: int, fmt: str) -> dict[str, Any]:
    """Generate, then time the CLI in a child process; the child's peak RSS is reported."""
    tmp = Path(tempfile.mkdtemp(prefix="ybb-cli-bench-"))
    try:
        source = tmp / f"participants.{fmt}"
        size = generate(source, rows, fmt)
        command = [
            sys.executable, "-m", "export_core", "export", "participants", str(source),
            "--template", "complete", "--chunking", "off", "--max-records", str(rows),
            "--out", str(tmp / "out"), "--json",
        ]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        began = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - began
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result: dict[str, Any] = {
            "rows": rows,
            "input_format": fmt,
            "input_mb": round(size / MB, 1),
            "exit_code": done.returncode,
            "wall_s": round(seconds, 2),
            "peak_rss_mb": round(peak / 1024, 1),
            "peak_rss_is_this_run": peak > before,
        }
        if done.returncode == 0:
            out = json.loads(done.stdout)
            result["export_s"] = out["seconds"]
            result["xlsx_mb"] = round(out["files"][0]["file_size"] / MB, 1)
        else:
            result["error"] = done.stderr.strip()[-500:]
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    args = parser.parse_args(argv)
    result = run(args.rows, args.format)
    print(json.dumps(result, indent=2))
    save_json(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
