"""CSV (and xlsx) export writing benchmark: 50,000 participants, `complete` template.

Each format runs in a fresh child process: seeded records (benchmarks.datagen, seed 7),
`readers.records_to_frame`, then `service.write_export` into a fresh temporary directory,
`--repeat` times (median shown). The write phase alone (files + ZIP, the mapping done once
beforehand) is timed the same way. Prints a table with the load average; `--digest FILE`
also writes a digest of every output (CSV bytes, ZIP member names / methods / levels / CRCs)
so that two versions of the code can be compared for identical results.

    .venv/bin/python -m benchmarks.bench_csv_write                 # csv and excel, 5 runs
    .venv/bin/python -m benchmarks.bench_csv_write --format csv --repeat 7 --digest /tmp/d.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from benchmarks.harness import run_child

MB = 1024 * 1024


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MB


def _digest(out: Path, fmt: str) -> dict[str, Any]:
    """What must stay identical: CSV bytes, and the ZIP's members, methods, levels and CRCs."""
    digest: dict[str, Any] = {}
    for path in sorted(out.iterdir()):
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                assert zf.testzip() is None
                digest[path.name] = [
                    [i.filename, i.compress_type, i.flag_bits, i.CRC, i.file_size]
                    for i in zf.infolist()
                ]
        elif fmt == "csv":
            digest[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            digest[path.name] = path.stat().st_size > 0  # xlsx holds creation timestamps
    return digest


def run(records: int, fmt: str, repeat: int) -> dict[str, Any]:
    """All the measurements of one format, in this process (the parent starts a child)."""
    from benchmarks.datagen import records as make_records
    from export_core import service
    from export_core.catalog import get_catalog
    from export_core.mapping import map_frame
    from export_core.model import ExportOptions
    from export_core.plan import plan_export
    from export_core.readers import records_to_frame

    frame = records_to_frame(make_records("participants", records, seed=7))
    options = ExportOptions("participants", "complete", format=fmt)
    catalog = get_catalog()
    rss_before = _rss_mb()
    totals, writes, cpus, digest = [], [], [], {}
    for _ in range(repeat):
        out = Path(tempfile.mkdtemp(prefix="ybb-bench-csv-"))
        try:
            began, cpu = time.perf_counter(), time.process_time()
            service.write_export(frame, options, out)
            totals.append(time.perf_counter() - began)
            cpus.append(time.process_time() - cpu)
            digest = _digest(out, fmt)
        finally:
            shutil.rmtree(out, ignore_errors=True)
    template = catalog.template("participants", "complete")
    mapped = map_frame(frame, template, catalog)
    plan = plan_export(mapped.height, template, options, catalog.limits)
    for _ in range(repeat):
        out = Path(tempfile.mkdtemp(prefix="ybb-bench-csv-"))
        try:
            began = time.perf_counter()
            service._write_all(mapped, plan, options, out, None, [])
            writes.append(time.perf_counter() - began)
        finally:
            shutil.rmtree(out, ignore_errors=True)
    return {
        "format": fmt,
        "records": records,
        "write_export_s": statistics.median(totals),
        "write_export_runs": totals,
        "write_export_cpu_s": statistics.median(cpus),
        "write_phase_s": statistics.median(writes),
        "write_phase_runs": writes,
        "rss_before_mb": rss_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "digest": digest,
    }


def _child(records: int, fmt: str, repeat: int) -> dict[str, Any]:
    args = ("--child", fmt, "--records", str(records), "--repeat", str(repeat))
    return run_child("benchmarks.bench_csv_write", *args)


def main(argv: list[str] | None = None) -> int:
    """Measure each format in a fresh child process; print a table (and the digest)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--format", action="append", choices=["csv", "excel"])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--digest", type=Path, help="write the outputs' digest as JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run(args.records, args.child, args.repeat)))
        return 0
    load = os.getloadavg()
    rows = [_child(args.records, fmt, args.repeat) for fmt in args.format or ["csv", "excel"]]
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("format  write_export s (runs) [CPU s, all threads]  write phase s (runs)  peak RSS MB")
    for r in rows:
        total = ", ".join(f"{s:.3f}" for s in r["write_export_runs"])
        write = ", ".join(f"{s:.3f}" for s in r["write_phase_runs"])
        print(
            f"{r['format']:<6}  {r['write_export_s']:.3f} ({total}) "
            f"[{r['write_export_cpu_s']:.3f}]  "
            f"{r['write_phase_s']:.3f} ({write})  "
            f"{r['peak_rss_mb']:.0f} (before {r['rss_before_mb']:.0f})"
        )
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.digest:
        args.digest.write_text(json.dumps({r["format"]: r["digest"] for r in rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
