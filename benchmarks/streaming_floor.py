"""What a 50,000-row `complete` Excel export's memory would be if the request never held every
decoded row at once: a measurement for the next round, not the product's path
(docs/PERFORMANCE.md, twelfth round, "What a 150 MB peak would take").

In one process set up as a gunicorn worker is (app/gunicorn_conf.py: polars' allocator setting
and purge, glibc's malloc settings), with the body spooled as the API spools it
(export_core.spool), each run after two warm-up runs, alternating:

* `product`: the body decoded whole (export_core.jsonslices.decode_records, its pages released
  behind the decoder), then export_core.service.write_export: what the API does.
* `streaming`: a first pass over the spooled body counts the records and collects the field
  names, dropping each slice's columns at once; a second pass decodes it again and, every
  service.PREPARE_ROWS rows, maps those rows (mapping.map_values), renders them
  (writers.xlsxrows.prepare) and writes their files on two writer threads with the ZIP built
  alongside (the product's own functions), then drops them. No group is prepared ahead and
  the quality report is left out: both would add to its memory and time.

Prints, per version, the median time and the process's peak RSS over its RSS before the run
(VmHWM reset through /proc/self/clear_refs before each run).

    .venv/bin/python -m benchmarks.streaming_floor [--rows 50000] [--runs 5] [--group-rows 5000]
    .venv/bin/python -m benchmarks.streaming_floor --check   # both write the same files?

Both versions use service.PREPARE_ROWS (`--group-rows`) for their groups of files.
tests/unit/test_streaming_floor.py runs `--check`: the figures compare like with like only while
the two write the same files, byte for byte."""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
import zipfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _worker_setup() -> Any:
    """app/gunicorn_conf.py loaded by path before polars (it sets polars' allocator up), glibc
    tuned as in a worker's post_fork; returns the module."""
    spec = importlib.util.spec_from_file_location("ybb_conf", ROOT / "app" / "gunicorn_conf.py")
    assert spec is not None and spec.loader is not None
    conf = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = conf
    spec.loader.exec_module(conf)
    conf.tune_glibc_malloc()
    located = conf.locate_polars_mallctl(conf.polars_libraries())
    if located is not None:
        conf.POLARS_MALLCTL.append(located)
    return conf


CONF = _worker_setup()

import orjson  # noqa: E402
import polars as pl  # noqa: E402

from benchmarks.datagen import records  # noqa: E402
from export_core import jsondoc, jsonslices, service  # noqa: E402
from export_core.ahead import Ahead  # noqa: E402
from export_core.archive import ZipBuilder  # noqa: E402
from export_core.catalog import get_catalog  # noqa: E402
from export_core.mapping import map_values  # noqa: E402
from export_core.model import ExportOptions, MappedFrame, QualityReport  # noqa: E402
from export_core.plan import plan_export  # noqa: E402
from export_core.spool import release_behind, spool  # noqa: E402
from export_core.writers import get_writer, xlsxrows  # noqa: E402

MB = 1 << 20
OPTIONS = ExportOptions("participants", "complete", "excel")


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _slice_frames(raw: Any) -> Iterator[tuple[pl.DataFrame, dict[str, None]]]:
    """Each slice's columns as the sliced decoder makes them (well-formed bodies only), with
    the field names seen so far; the pages behind it released."""
    release = release_behind(raw)
    _, start = jsondoc.locate(raw)
    keys: dict[str, None] = {}
    parser = jsonslices._Parser(keys)
    ahead = jsonslices._Ahead(raw, jsonslices.SLICE_BYTES, parser)
    first = jsonslices.FIRST_SLICE_BYTES
    slices = jsonslices._slices(raw, start, jsonslices.SLICE_BYTES, parser.parse, first, ahead)
    with closing(slices):
        for rows, (_, after) in slices:
            frame = rows if isinstance(rows, pl.DataFrame) else jsonslices._slice_frame(rows, keys)
            yield frame, keys
            if release is not None:
                release(after)


def product(raw: Any, out: Path) -> None:
    sliced = jsonslices.decode_records(raw, release=release_behind(raw))
    assert sliced is not None
    frame = sliced.frame
    del sliced
    service.write_export(frame, OPTIONS, out)


def _prepared_groups(raw: Any) -> Iterator[tuple[list[Any], int, MappedFrame]]:
    """Each group of batch files with its first row and its rows mapped and rendered: a
    first pass over `raw` for the record count and field names, a second for the rows."""
    count, names = 0, {}
    for frame, keys in _slice_frames(raw):
        count, names = count + frame.height, keys
    catalog = get_catalog()
    template = catalog.template(OPTIONS.export_type, OPTIONS.template)
    plan = plan_export(count, template, OPTIONS, catalog.limits)
    pending: list[pl.DataFrame] = []
    held = 0
    frames = _slice_frames(raw)
    for group in service._groups(plan.batches):
        begin, end = group[0].start, group[-1].stop
        while held < end - begin:
            frame, _ = next(frames)
            pending.append(frame)
            held += frame.height
        rows = pl.concat(
            [f.select(pl.col(k) if k in f.columns else pl.lit(None, pl.String).alias(k)
                      for k in names) for f in pending],
            rechunk=False,
        )  # fmt: skip
        carry = rows.slice(end - begin)
        rows = rows.slice(0, end - begin)
        pending, held = ([carry], carry.height) if carry.height else ([], 0)
        values, _ = map_values(rows, template, catalog, {})
        mapped = MappedFrame(template, values, QualityReport(rows=values.height))
        del rows, values
        yield (
            group,
            begin,
            xlsxrows.prepare(mapped, [(b.start - begin, b.stop - begin) for b in group]),
        )
        del mapped


def streaming(raw: Any, out: Path, ahead: bool = False) -> None:
    """With `ahead`, the next group is decoded, mapped and rendered on a thread of its own
    while this one's files are written (as the product prepares its next group)."""
    render = get_writer(OPTIONS.format).render
    out.mkdir(parents=True, exist_ok=True)
    builder = ZipBuilder(out / "export.zip")
    groups = _prepared_groups(raw)
    source = Ahead(groups, "stream-preparer") if ahead else groups
    in_flight: deque[tuple[Any, Future[Any]]] = deque()
    with closing(source), ThreadPoolExecutor(service.WRITE_THREADS) as pool:
        for group, begin, prepared in source:
            for batch in group:
                part = prepared.frame.slice(batch.start - begin, batch.record_count)
                one = MappedFrame(prepared.template, part, prepared.quality, prepared.prepared)
                task = pool.submit(service._write_one, one, batch, OPTIONS, out, render)
                in_flight.append((batch, task))
                if len(in_flight) > service.WRITE_THREADS:  # as service._write_in_threads
                    done, task = in_flight.popleft()
                    builder.add(out / done.file_name, task.result()[1])
            del prepared, part, one
        while in_flight:
            done, task = in_flight.popleft()
            builder.add(out / done.file_name, task.result()[1])
    builder.finish()


def _members(path: Path) -> dict[str, bytes]:
    """An xlsx file's members but docProps/core.xml (it carries the time it was made)."""
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n != "docProps/core.xml"}


def same_files(body: bytes) -> bool:
    """Whether the versions write the same batch files: the same names, and every member but
    the creation time the same, byte for byte (printed if not)."""
    with tempfile.TemporaryDirectory() as tmp:
        outs = {name: Path(tmp) / name for name in ("product", "streaming", "ahead")}
        product(spool([body]), outs["product"])
        streaming(spool([body]), outs["streaming"])
        streaming(spool([body]), outs["ahead"], ahead=True)
        names = {
            n: sorted(p.name for p in o.iterdir() if p.suffix == ".xlsx") for n, o in outs.items()
        }
        if not names["product"] or any(n != names["product"] for n in names.values()):
            print("different files:", names)
            return False
        differ = [
            f"{version}: {name}"
            for version in ("streaming", "ahead")
            for name in names["product"]
            if _members(outs["product"] / name) != _members(outs[version] / name)
        ]
        print(f"{len(names['product'])} files, {len(differ)} differ: {differ[:5]}")
        return not differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--group-rows",
        type=int,
        default=service.PREPARE_ROWS,
        help="rows per group (service.PREPARE_ROWS, which both versions use)",
    )
    parser.add_argument(
        "--check", action="store_true", help="run each version once; exit 1 unless the files match"
    )
    args = parser.parse_args()
    service.PREPARE_ROWS = args.group_rows  # _groups reads it
    allocator = CONF.polars_allocator()
    body = orjson.dumps({"data": records("participants", args.rows, seed=7)})
    if args.check:
        sys.exit(0 if same_files(body) else 1)
    versions = {
        "product": product,
        "streaming": streaming,
        "streaming, next group ahead": lambda raw, out: streaming(raw, out, ahead=True),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in versions}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs + 2):
            for name, version in versions.items():
                raw = spool([body])
                out = Path(tmp) / f"{name}-{run}"
                Path("/proc/self/clear_refs").write_text("5")
                before = _status("VmRSS")
                start = time.perf_counter()
                version(raw, out)
                elapsed = time.perf_counter() - start
                peak = _status("VmHWM") - before
                del raw
                if allocator is not None:
                    allocator.purge()
                CONF.release_free_heap()
                if run >= 2:
                    results[name].append((elapsed, peak / MB))
    for name, runs in results.items():
        times, peaks = [r[0] for r in runs], [r[1] for r in runs]
        print(f"{name:28} median {statistics.median(times):.3f} s, peak over the RSS before "
              f"{statistics.median(peaks):.1f} MB (max {max(peaks):.1f})")  # fmt: skip
    print(f"RSS now {_status('VmRSS') / MB:.1f} MB")


if __name__ == "__main__":
    main()
