"""benchmarks/streaming_floor.py measures a streaming export against the product's path; its
figures mean something only while its versions write the same files (every xlsx member but
the creation time). Run as the benchmark runs (its own process: it sets polars' allocator up
before loading polars), with groups small enough that slices are carried across groups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_streaming_prototype_writes_the_products_files() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.streaming_floor", "--check", "--rows", "12000",
         "--group-rows", "2000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "12 files, 0 differ" in done.stdout, done.stdout
