"""Mapping benchmark: RSS growth and time of `mapping.map_frame`, and a differential check.

Memory is measured in fresh processes (polars' jemalloc keeps freed pages, so a second run in
the same process reuses them and shows nothing). Each child builds the seeded frame
(`datagen.records` -> `readers.records_to_frame`), drops the records, then maps once while a
thread samples its RSS every millisecond. Printed: median over the children of the RSS growth at
the peak and after mapping (the mapped frame is kept alive, so its own size is in both), that
growth split into anonymous memory (heap) and file pages (mostly polars' code, paged in the first
time a code path runs: a worker pays it once), the mapping time, and the mapped frame's
`estimated_size` for scale.

    .venv/bin/python -m benchmarks.bench_mapping [--rows 50000] [--runs 5] [--type participants]
        [--template complete] [--env POLARS_MAX_THREADS=1 ...] [--warm 5] [--of REV]
    .venv/bin/python -m benchmarks.bench_mapping --check [--baseline REV]

`--of REV` measures `export_core/mapping.py` as of git revision REV (e.g. the baseline).
`--warm N` also times N further mappings in one warm child (the time a web worker sees).
`--check` maps seeded data of every type and template (plus hostile variants: unicode, blanks,
odd dates and numbers, header-named and missing columns) with the working tree's `map_frame`
and with `export_core/mapping.py` as of git revision `--baseline`, and fails unless every mapped
frame is `equals` and every QualityReport identical.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE_REV = "a824fd2"  # mapping.py before the memory work of issue 5


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _status_mb(key: str) -> float:
    """A field of /proc/self/status in MB (RssAnon: heap; RssFile: mapped code and files)."""
    with open("/proc/self/status", encoding="ascii") as f:
        line = next(line for line in f if line.startswith(key + ":"))
    return int(line.split()[1]) / 1024


def child(
    export_type: str, template_name: str, rows: int, warm: int, rev: str | None
) -> dict[str, Any]:
    """One fresh-process measurement (run via `--child`); `rev`: map with that git revision's
    mapping.py instead of the working tree's."""
    from benchmarks.datagen import records
    from export_core.catalog import get_catalog
    from export_core.readers import records_to_frame

    if rev:
        map_frame = baseline_module(rev).map_frame
    else:
        from export_core.mapping import map_frame

    template = get_catalog().template(export_type, template_name)
    frame = records_to_frame(records(export_type, rows, seed=7))
    gc.collect()
    time.sleep(0.2)
    before = peak = _rss_mb()
    anon, files = _status_mb("RssAnon"), _status_mb("RssFile")
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_mb())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    began = time.perf_counter()
    mapped = map_frame(frame, template)
    seconds = time.perf_counter() - began
    done.set()
    sampler.join()
    after = _rss_mb()
    warm_times = []
    for _ in range(warm):
        began = time.perf_counter()
        map_frame(frame, template)
        warm_times.append(time.perf_counter() - began)
    return {
        "seconds": seconds,
        "rss_before_mb": before,
        "peak_growth_mb": max(peak, after) - before,
        "after_growth_mb": after - before,
        "anon_growth_mb": _status_mb("RssAnon") - anon,
        "file_growth_mb": _status_mb("RssFile") - files,
        "input_mb": frame.estimated_size() / 2**20,
        "mapped_mb": mapped.frame.estimated_size() / 2**20,
        "warm_s": statistics.median(warm_times) if warm_times else None,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run `args.runs` fresh children and print the medians."""
    env = dict(os.environ)
    env.update(kv.split("=", 1) for kv in args.env)
    results = []
    for i in range(args.runs):
        cmd = [sys.executable, "-m", "benchmarks.bench_mapping", "--child"]
        cmd += ["--type", args.type, "--template", args.template, "--rows", str(args.rows)]
        cmd += ["--warm", str(args.warm if i == 0 else 0)]
        cmd += ["--of", args.of] if args.of else []
        out = subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True)
        results.append(json.loads(out.stdout))

    def med(key: str) -> float:
        return round(statistics.median(r[key] for r in results), 3)

    summary = {
        "workload": f"{args.type}/{args.template} x {args.rows}",
        "mapping.py": args.of or "working tree",
        "env": args.env,
        "runs": args.runs,
        "seconds": med("seconds"),
        "peak_growth_mb": med("peak_growth_mb"),
        "after_growth_mb": med("after_growth_mb"),
        "anon_growth_mb": med("anon_growth_mb"),
        "file_growth_mb": med("file_growth_mb"),
        "rss_before_mb": med("rss_before_mb"),
        "input_mb": med("input_mb"),
        "mapped_mb": med("mapped_mb"),
        "all_peak_growth_mb": [round(r["peak_growth_mb"], 1) for r in results],
        "all_seconds": [round(r["seconds"], 3) for r in results],
        "warm_median_s": round(results[0]["warm_s"], 3) if args.warm else None,
    }
    print(json.dumps(summary, indent=2))
    return summary


# --- differential check ----------------------------------------------------------------


def baseline_module(rev: str) -> ModuleType:
    """`export_core/mapping.py` as of git `rev`, imported as a sibling of export_core.mapping."""
    source = subprocess.run(
        ["git", "show", f"{rev}:export_core/mapping.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "mapping_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("export_core._mapping_baseline", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# Values a field may hold besides what datagen writes: every form the grammar accepts or must
# refuse, blanks, unicode digits, formula-like text, overlong text.
# fmt: off
ODD_VALUES = (
    "", " ", "\t", "  \n ", "N/A", "null", "None", "0", "1", " 1 ", "1.0", "1.00", "-1", "+1",
    "1e3", "1E3", "-0", "0.5", "1,500.00", "-$1,234.50", "$ 12", "US$3", "Rp. 1500", "IDR 5",
    "€ 99.5", "£3", "1,50", "12,34,567", "NaN", "inf", "-Infinity", "99999999999999999999",
    "9007199254740993", "9007199254740992.0", "1e20", "١٢٣", "１２", "2024-01-15",
    " 2024-01-15 ", "2024/01/15", "2024-01-15 10:30", "2024-01-15T10:30:00",
    "2024-01-15T10:30:00.123456Z", "2024-01-15T10:30:00+07:00", "2024-01-15 10:30:00 -0500",
    "2024-01-15T10:30:00.5+07", "2024-01-15t10:30:00z", "2024-02-30", "2024-13-01",
    "15/05/1995", "2024-01-15 25:00:00", "2024-1-5", "20240115", "yesterday", "Approved",
    "approved", "APPROVED", "true", "FALSE", "yes", "No", "9", "9.0", "university",
    "University", "alumni", '=HYPERLINK("http://x","y")', "+62 812", "@SUM(A1)", "\tindent",
    "\rcr", "Zoë 世界 🎉", "línea\nnueva", "x" * 33_000, "=" + "9" * 40_000,
)
# fmt: on


def hostile(frame: Any, seed: int, rate: float) -> Any:
    """`frame` with a share of its cells replaced by ODD_VALUES (seeded)."""
    import polars as pl

    rng = random.Random(seed)
    columns = {}
    for name in frame.columns:
        values = frame[name].to_list()
        for i in range(len(values)):
            if rng.random() < rate:
                values[i] = rng.choice((*ODD_VALUES, None))
        columns[name] = pl.Series(name, values, dtype=pl.String)
    return pl.DataFrame(columns)


def check_frames(rows: int) -> list[tuple[str, Any, Any]]:
    """(label, frame, template) for every type and template, clean and hostile variants."""
    import polars as pl

    from benchmarks.datagen import records
    from export_core.catalog import get_catalog
    from export_core.readers import records_to_frame

    cases = []
    for export_type, data_type in get_catalog().types.items():
        base = records_to_frame(records(export_type, rows, seed=7))
        odd = hostile(base, seed=11, rate=0.3)
        for name, template in data_type.templates.items():
            label = f"{export_type}/{name}"
            headers = {c.field: c.header for c in template.columns if c.field in base.columns}
            renamed = base.rename({f: h.upper().replace(" ", "_") for f, h in headers.items()})
            partial = base.select(base.columns[::2])
            typed = base.with_columns(  # a caller may pass typed columns: cast to text first
                pl.col(c.field).cast(pl.Int64, strict=False)
                if c.kind == "integer"
                else pl.col(c.field).str.to_date(strict=False)
                for c in template.columns
                if c.field in base.columns and c.kind in ("integer", "date")
            )
            cases += [
                (f"{label} clean", base, template),
                (f"{label} hostile", odd, template),
                (f"{label} all odd", hostile(base.head(2_000), seed=13, rate=1.0), template),
                (f"{label} header-named", renamed, template),
                (f"{label} half the columns", partial, template),
                (f"{label} typed columns", typed, template),
                (f"{label} no columns", pl.DataFrame(height=7), template),
                (f"{label} empty", base.clear(), template),
                (f"{label} one row", odd.head(1), template),
            ]
    return cases


def check(rev: str, rows: int) -> int:
    """Compare the working tree's map_frame with revision `rev`'s; 0 when all equal."""
    from export_core.mapping import map_frame

    old = baseline_module(rev)
    failures = 0
    cases = check_frames(rows)
    for label, frame, template in cases:
        new_mapped, old_mapped = map_frame(frame, template), old.map_frame(frame, template)
        same_frame = new_mapped.frame.equals(old_mapped.frame, null_equal=True)
        same_schema = new_mapped.frame.schema == old_mapped.frame.schema
        same_quality = new_mapped.quality == old_mapped.quality
        if not (same_frame and same_schema and same_quality):
            failures += 1
            print(f"DIFFERS {label}: frame={same_frame} schema={same_schema} q={same_quality}")
    print(f"{len(cases) - failures}/{len(cases)} cases identical to {rev}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """Measure in fresh processes, or run one child, or the differential check."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--type", default="participants")
    parser.add_argument("--template", default="complete")
    parser.add_argument("--env", nargs="*", default=[], help="NAME=VALUE for the children")
    parser.add_argument("--warm", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--baseline", default=BASELINE_REV)
    parser.add_argument("--of", help="measure mapping.py as of this git revision instead")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.type, args.template, args.rows, args.warm, args.of)))
        return 0
    if args.check:
        return check(args.baseline, min(args.rows, 20_000))
    measure(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
