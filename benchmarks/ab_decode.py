"""A/B of the JSON body decode (export_core.jsonslices.decode_records) by CPU time.

    .venv/bin/python -m benchmarks.ab_decode --ref <git ref> [--rows 50000] [--rounds 8]
                                             [--repeat 7]

The working tree (A) and `--ref` checked out into a temporary git worktree (B; its C
extension built there when it has one, export_core/_build.py) run alternately, each in a child
process of its own that generates the `complete` participants body with benchmarks.datagen,
decodes it `--repeat` times and prints the median CPU time (time.process_time) of one decode;
the frames of both are checked equal to the whole orjson decode. Prints each round and the
medians and ranges over the rounds.

    .venv/bin/python -m benchmarks.ab_decode --threads [--repeat 25] [--no-trim]

compares instead, in one process, the slices decoded one at a time (threads=1) with the
slices decoded ahead on two threads (the default), interleaved call by call: wall and CPU
time (time.process_time, all threads) and minor page faults of decode_records on the 50k and
10k participants bodies and the 50k payments body (benchmarks.datagen, seed=7, as the API
gets them: {"data": rows, "template": "complete", "format": "excel"}), medians over
`--repeat` calls each. As in a gunicorn worker, glibc's malloc gets the workers' settings
(app.gunicorn_conf.tune_glibc_malloc), the calls run on a thread other than the main one and
malloc_trim(0) follows each (the workers' post_request; `--no-trim` leaves it out)."""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
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


THREAD_BODIES = [("participants", 50_000), ("participants", 10_000), ("payments", 50_000)]


def compare_threads(repeat: int, trim: bool) -> None:
    """threads=1 and threads=2 interleaved on each of THREAD_BODIES (see the docstring)."""
    import orjson

    from app.gunicorn_conf import tune_glibc_malloc
    from benchmarks.datagen import records
    from export_core.jsonslices import decode_records

    tune_glibc_malloc()
    libc = ctypes.CDLL("libc.so.6") if trim else None

    def one(raw: bytes, threads: int, into: list[tuple[float, float, int]]) -> None:
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        wall, cpu = time.perf_counter(), time.process_time()
        got = decode_records(raw, threads=threads)
        into.append((time.perf_counter() - wall, time.process_time() - cpu,
                     resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults))  # fmt: skip
        assert got is not None
        del got
        if libc is not None:
            libc.malloc_trim(0)

    for kind, n in THREAD_BODIES:
        rows = records(kind, n, seed=7)
        raw = orjson.dumps({"data": rows, "template": "complete", "format": "excel"})
        del rows
        one_at_a_time = decode_records(raw, threads=1)
        ahead = decode_records(raw, threads=2)
        assert one_at_a_time is not None and ahead is not None
        assert ahead.frame.equals(one_at_a_time.frame)
        assert ahead.frame.columns == one_at_a_time.frame.columns
        del one_at_a_time, ahead
        runs: dict[int, list[tuple[float, float, int]]] = {1: [], 2: []}

        def calls(raw: bytes = raw, runs: dict[int, list[tuple[float, float, int]]] = runs) -> None:
            for _ in range(repeat):
                for threads in (1, 2):
                    one(raw, threads, runs[threads])

        request = threading.Thread(target=calls)  # a gunicorn gthread worker's request thread
        request.start()
        request.join()
        print(f"{n} {kind} ({len(raw) / 1e6:.1f} MB), {repeat} interleaved calls each:")
        for threads, label in ((1, "one slice at a time"), (2, "slices on two threads")):
            walls, cpus, faults = zip(*runs[threads], strict=True)
            print(
                f"  {label:22s} wall {statistics.median(walls) * 1000:6.1f} ms"
                f" ({min(walls) * 1000:.1f}-{max(walls) * 1000:.1f}),"
                f" CPU {statistics.median(cpus) * 1000:6.1f} ms,"
                f" faults {statistics.median(faults):,.0f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", help="git ref to compare the working tree with")
    parser.add_argument("--threads", action="store_true",
                        help="compare one slice at a time with two threads instead")  # fmt: skip
    parser.add_argument("--no-trim", action="store_true", help="with --threads: no malloc_trim")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        compare_threads(args.repeat or 25, not args.no_trim)
        return
    if args.ref is None:
        parser.error("--ref or --threads is required")
    args.repeat = args.repeat or 7
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
