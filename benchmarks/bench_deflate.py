"""Deflate of an xlsx sheet member: zlib vs zlib-ng vs zlib-ng in parallel pieces (what
`export_core/writers/deflate.py` does), wall and CPU time, compressed size. Not in `make bench`.

The sheet XML is a real one: participants (complete template, seeded) exported into one xlsx
with chunking off, its `sheet1.xml` read back. Each variant is timed `--repeat` times,
interleaved; medians are printed.

    .venv/bin/python -m benchmarks.bench_deflate [--rows 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from zlib_ng import zlib_ng

from benchmarks.datagen import records
from export_core.model import ExportOptions
from export_core.readers import records_to_frame
from export_core.service import write_export
from export_core.writers.deflate import ParallelDeflater

FEED = 64 * 1024  # what zipfile hands a compressor at a time when it reads a file


def sheet_xml(rows: int) -> bytes:
    """The sheet XML of `rows` participants exported into one xlsx."""
    frame = records_to_frame(records("participants", rows, seed=7))
    options = ExportOptions("participants", "complete", chunking="off")
    with tempfile.TemporaryDirectory() as tmp:
        result = write_export(frame, options, Path(tmp), max_records=rows)
        with zipfile.ZipFile(Path(tmp) / result.files[0].file_name) as package:
            return package.read("xl/worksheets/sheet1.xml")


def _stream(make: Callable[[], object], data: bytes) -> int:
    compressor: object = make()
    size = 0
    for begin in range(0, len(data), FEED):
        size += len(compressor.compress(data[begin : begin + FEED]))  # type: ignore[attr-defined]
    return size + len(compressor.flush())  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = sheet_xml(args.rows)
    variants: dict[str, Callable[[], object]] = {
        "zlib 6 (before)": lambda: zlib.compressobj(6, zlib.DEFLATED, -15),
        "zlib-ng 6": lambda: zlib_ng.compressobj(6, zlib_ng.DEFLATED, -15),
        "zlib-ng 6, parallel pieces (now)": lambda: ParallelDeflater(6),
        "zlib 1": lambda: zlib.compressobj(1, zlib.DEFLATED, -15),
        "zlib-ng 1": lambda: zlib_ng.compressobj(1, zlib_ng.DEFLATED, -15),
    }
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in variants}
    for _ in range(args.repeat):
        for name, make in variants.items():
            wall, cpu = time.perf_counter(), time.process_time()
            size = _stream(make, data)
            runs[name].append((time.perf_counter() - wall, time.process_time() - cpu, size))
    print(f"sheet XML of {args.rows:,} rows: {len(data) / 1e6:.1f} MB; medians of {args.repeat}")
    print(f"{'variant':34} {'wall s':>7} {'cpu s':>7} {'MB':>7} {'size vs zlib 6':>15}")
    base = runs["zlib 6 (before)"][0][2]
    for name, got in runs.items():
        wall = statistics.median(r[0] for r in got)
        cpu = statistics.median(r[1] for r in got)
        size = got[0][2]
        print(f"{name:34} {wall:7.3f} {cpu:7.3f} {size / 1e6:7.2f} {size / base:14.1%}")


if __name__ == "__main__":
    main()
