"""CLI benchmark: 1,000,000 participants into one xlsx file (`--chunking off`), peak RSS.

The input is generated (seeded, benchmarks.datagen) into a temporary CSV file 50,000 records
at a time, then `python -m export_core export ...` runs in a child process; its wall time and
peak RSS (wait4's ru_maxrss of that child alone; the input is generated in another child, so
that the parent stays small) are reported. Writes benchmarks/results/cli.json.

    .venv/bin/python -m benchmarks.bench_cli [--rows 1000000] [--format csv|json]
"""

from __future__ import annotations

import argparse
import json
import os
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
        # Generated in a child: Linux starts a child's peak RSS at its parent's (the exec
        # keeps the high-water mark), so a parent grown to ~260 MB by generating the input
        # made that the CLI's reported peak.
        script = "import sys; from pathlib import Path; from benchmarks.bench_cli import generate"
        script += "; generate(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])"
        subprocess.run([sys.executable, "-c", script, str(source), str(rows), fmt], cwd=ROOT,
                       check=True)  # fmt: skip
        size = source.stat().st_size
        command = [
            sys.executable, "-m", "export_core", "export", "participants", str(source),
            "--template", "complete", "--chunking", "off", "--max-records", str(rows),
            "--out", str(tmp / "out"), "--json",
        ]  # fmt: skip
        began = time.perf_counter()
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            child = subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=stderr)
            _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS
            seconds = time.perf_counter() - began
            stdout.seek(0)
            stderr.seek(0)
            done = subprocess.CompletedProcess(
                command, os.waitstatus_to_exitcode(status), stdout.read().decode(),
                stderr.read().decode(),
            )  # fmt: skip
        child.returncode = done.returncode
        peak = usage.ru_maxrss
        result: dict[str, Any] = {
            "rows": rows,
            "input_format": fmt,
            "input_mb": round(size / MB, 1),
            "exit_code": done.returncode,
            "wall_s": round(seconds, 2),
            "peak_rss_mb": round(peak / 1024, 1),
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
