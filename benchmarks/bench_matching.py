"""Header matching benchmark: how long `matching.match_columns` takes per header set (it runs
on every map_frame call: every preview, every export, every 20,000-row batch of a streamed CSV).

    .venv/bin/python -m benchmarks.bench_matching [--repeat 200]

Prints, for each real-world header set of tests/unit/test_matching.py and for a 60-column
sheet of unmatched names (the similarity score's worst case), the median time per call."""

from __future__ import annotations

import argparse
import statistics
import time

from export_core.catalog import get_catalog
from export_core.matching import match_columns
from tests.unit.test_matching import HEADER_SETS


def _median_ms(columns: list[str], export_type: str, repeat: int) -> float:
    catalog = get_catalog()
    template = catalog.template(export_type, "standard")
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        match_columns(columns, template, catalog)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    cases = [(source, t, list(expected)) for source, t, expected in HEADER_SETS]
    cases.append(("60 unknown columns", "participants", [f"Column {i} extra" for i in range(60)]))
    for source, export_type, columns in cases:
        ms = _median_ms(columns, export_type, args.repeat)
        print(f"{source:<62} {len(columns):>3} columns  {ms:7.2f} ms per match")


if __name__ == "__main__":
    main()
