"""CSV files rendered natively (export_core/_sheetrows.c, `csv`) against polars, by CPU.

    .venv/bin/python -m benchmarks.bench_csvrows [--rows 50000] [--template complete]
                                                 [--group 5000] [--file 1000] [--rounds 7]

The rows of `--rows` generated participants (benchmarks.datagen, seed 7) are made into CSV
files the way the service makes them: in groups of `--group` rows (`prepare`), each group's
files of `--file` rows rendered in memory (`render`, header in every file). Polars: the
group's output_frame (neutralised text, raw-text fallbacks), then write_csv per file into a
BytesIO and its bytes; native: one C call per group, a memoryview per file. Per round, both
in turn (interleaved, for a shared machine): CPU time (time.process_time) and wall time; then
the medians. The bytes of both are checked equal first, in a pass of their own."""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable

from benchmarks.datagen import records
from export_core.catalog import get_catalog
from export_core.mapping import map_frame
from export_core.model import ExportOptions
from export_core.readers import records_to_frame
from export_core.writers import csv, csvnative


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--template", default="complete")
    parser.add_argument("--group", type=int, default=5_000)
    parser.add_argument("--file", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    template = get_catalog().template("participants", args.template)
    mapped = map_frame(records_to_frame(records("participants", args.rows, seed=7)), template)
    options = ExportOptions("participants", args.template, format="csv")
    groups = [
        mapped.frame.slice(start, args.group) for start in range(0, mapped.height, args.group)
    ]

    def sizes(height: int) -> list[int]:
        return [min(args.file, height - s) for s in range(0, height, args.file)]

    def polars_files(keep: Callable[[bytes | memoryview], None]) -> None:
        for group in groups:
            out = csv.output_frame(mapped, group)
            offset = 0
            for n in sizes(group.height):
                buffer = io.BytesIO()
                csv._write_csv(out.slice(offset, n), buffer, options, header=True)
                keep(buffer.getvalue())
                offset += n

    def native_files(keep: Callable[[bytes | memoryview], None]) -> None:
        for group in groups:
            got = csvnative.render(group, template.columns, sizes(group.height))
            if got is None:
                raise SystemExit("the native renderer declined a group of the benchmark data")
            for file in got:
                keep(file.content(options))

    polars_out: list[bytes] = []
    native_out: list[bytes] = []
    polars_files(lambda data: polars_out.append(bytes(data)))
    native_files(lambda data: native_out.append(bytes(data)))
    if polars_out != native_out:
        raise SystemExit("the native files differ from polars'")
    total = sum(len(data) for data in native_out)
    cpu: dict[str, list[float]] = {"polars": [], "native": []}
    for round_ in range(1, args.rounds + 1):
        line = []
        for name, render in (("polars", polars_files), ("native", native_files)):
            began, wall = time.process_time(), time.perf_counter()
            render(lambda data: None)
            used, wall = time.process_time() - began, time.perf_counter() - wall
            cpu[name].append(used)
            line.append(f"{name} cpu {used * 1000:.1f} ms wall {wall * 1000:.1f} ms")
        print(f"round {round_}: " + ", ".join(line), flush=True)
    p, n = statistics.median(cpu["polars"]), statistics.median(cpu["native"])
    print(
        f"{args.rows} {args.template} rows ({total / 1e6:.1f} MB of CSV): median CPU "
        f"polars {p * 1000:.1f} ms, native {n * 1000:.1f} ms ({n / p:.0%})"
    )


if __name__ == "__main__":
    main()
