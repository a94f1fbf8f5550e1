"""Sheet rows rendered natively (export_core/_sheetrows.c) against polars (sheetxml), by CPU.

    .venv/bin/python -m benchmarks.bench_sheetrows [--rows 50000] [--template complete]
                                                   [--group 5000] [--file 1000] [--rounds 7]

The rows of `--rows` generated participants (benchmarks.datagen, seed 7) are rendered the way
the service's `prepare` renders them: in groups of `--group` rows, each group's files of
`--file` rows numbered from sheet row 2, then each file's XML handed to a binary sink as
`pack` does. Per round, both renderers in turn (interleaved, for a shared machine): CPU time
(time.process_time) and wall time; then the medians. The bytes of both are checked equal
first, in a pass of their own."""

from __future__ import annotations

import argparse
import io
import statistics
import time
from typing import Any

import polars as pl

from benchmarks.datagen import records
from export_core.catalog import get_catalog
from export_core.mapping import map_frame
from export_core.readers import records_to_frame
from export_core.writers import sheetnative, sheetxml
from export_core.writers.xlsxrows import template_styles


class _Sink:
    """Keeps the size of what is written (as pack's _Kept keeps the objects)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: Any) -> int:
        self.size += len(data)
        return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--template", default="complete")
    parser.add_argument("--group", type=int, default=5_000)
    parser.add_argument("--file", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    template = get_catalog().template("participants", args.template)
    frame = map_frame(records_to_frame(records("participants", args.rows, seed=7)), template).frame
    columns, styles = list(template.columns), template_styles(template.columns)
    groups = [frame.slice(start, args.group) for start in range(0, frame.height, args.group)]

    def files(group: pl.DataFrame) -> list[int]:
        return [min(args.file, group.height - s) for s in range(0, group.height, args.file)]

    def polars_rows(sink: Any) -> None:
        for group in groups:
            sizes = files(group)
            numbers = pl.concat([pl.int_range(2, n + 2, eager=True) for n in sizes])
            rendered = sheetxml.render_xml(group, columns, numbers, styles)
            offset = 0
            for n in sizes:
                sheetxml.RenderedRows.of(rendered.slice(offset, n)).write_to(sink)
                offset += n

    def native_rows(sink: Any) -> None:
        for group in groups:
            got = sheetnative.render(group, columns, [(n, 1) for n in files(group)], styles)
            if got is None:
                raise SystemExit("the native renderer declined a group of the benchmark data")
            for rows in got:
                rows.write_to(sink)

    polars_xml, native_xml = io.BytesIO(), io.BytesIO()
    polars_rows(polars_xml)
    native_rows(native_xml)
    if polars_xml.getvalue() != native_xml.getvalue():
        raise SystemExit("the native rows differ from polars'")
    cpu: dict[str, list[float]] = {"polars": [], "native": []}
    sizes: dict[str, int] = {}
    for round_ in range(1, args.rounds + 1):
        line = []
        for name, render in (("polars", polars_rows), ("native", native_rows)):
            sink = _Sink()
            began, wall = time.process_time(), time.perf_counter()
            render(sink)
            used, wall = time.process_time() - began, time.perf_counter() - wall
            cpu[name].append(used)
            sizes[name] = sink.size
            line.append(f"{name} cpu {used * 1000:.1f} ms wall {wall * 1000:.1f} ms")
        print(f"round {round_}: " + ", ".join(line), flush=True)
    if sizes["polars"] != sizes["native"]:
        raise SystemExit(f"different sizes: {sizes}")
    p, n = statistics.median(cpu["polars"]), statistics.median(cpu["native"])
    print(
        f"{args.rows} {args.template} rows ({sizes['native'] / 1e6:.1f} MB of XML): median CPU "
        f"polars {p * 1000:.1f} ms, native {n * 1000:.1f} ms ({n / p:.0%})"
    )


if __name__ == "__main__":
    main()
