"""A/B of the JSON body decode (export_core.jsonslices.decode_records) by CPU time.

    .venv/bin/python -m benchmarks.ab_decode --ref <git ref> [--rows 50000] [--rounds 8]
                                             [--repeat 7]

The working tree (A) and `--ref` checked out into a temporary git worktree (B; its C
extension built there when it has one, export_core/_build.py) run alternately, each in a child
process of its own that generates the `complete` participants body with benchmarks.datagen,
decodes it `--repeat` times and prints the median CPU time (time.process_time) of one decode;
the frames of both are checked equal to the whole orjson decode. Prints each round and the
medians and ranges over the rounds."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import ref_checkout

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import statistics, sys, time
import orjson
from benchmarks.datagen import records
from export_core.jsonslices import decode_records
from export_core.readers import records_to_frame
raw = orjson.dumps({"data": records("participants", int(sys.argv[1]), seed=7)})
expected = records_to_frame(orjson.loads(raw)["data"])
times = []
for _ in range(int(sys.argv[2])):
    start = time.process_time()
    got = decode_records(raw)
    times.append(time.process_time() - start)
assert got is not None and got.frame.equals(expected) and got.frame.columns == expected.columns
print(statistics.median(times))
"""


def _decode_cpu(cwd: Path, rows: int, repeat: int) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(rows), str(repeat)],
        cwd=cwd, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", required=True, help="git ref to compare the working tree with")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="ybb-ab-decode-") as tmp:
        tree = Path(tmp) / "ref"
        with ref_checkout(args.ref, tree):
            for round_ in range(1, args.rounds + 1):
                for version, cwd in (("A", ROOT), ("B", tree)):
                    load = os.getloadavg()[0]
                    used = _decode_cpu(cwd, args.rows, args.repeat)
                    cpu[version].append(used)
                    print(f"round {round_} {version}: {used * 1000:.1f} ms, load {load:.1f}")
    for version, name in (("A", "working tree"), ("B", args.ref)):
        values = cpu[version]
        print(
            f"{version} {name}: median {statistics.median(values) * 1000:.1f} ms "
            f"({min(values) * 1000:.1f}-{max(values) * 1000:.1f})"
        )
    share = statistics.median(cpu["A"]) / statistics.median(cpu["B"])
    print(f"A's median decode CPU is {share:.0%} of B's ({args.rows} rows)")


if __name__ == "__main__":
    main()
