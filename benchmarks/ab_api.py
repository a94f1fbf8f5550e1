"""A/B of two versions of the code through the API, their requests interleaved.

    .venv/bin/python -m benchmarks.ab_api --ref main [--workload "50k participants complete csv"]
                                          [--rounds 8]

On this machine the time of an unchanged request drifts by 15-30% within minutes (the same
server gave 50k CSV exports of 0.8 s and 1.2 s an hour apart), so two versions timed one
after the other can show a "gain" that is only the drift. Here the working tree and `--ref`
(checked out into a temporary git worktree, its C extension built) each run the Procfile
server (2 workers, the same virtualenv), and every round sends the workload to A then to B:
both see the same machine state. Prints, per version, the median / min / max time, the
serving worker's peak RSS (median and max) and the medians of its user and system CPU time
and minor page faults per request, then B's median time as a share of A's.
`benchmarks/results/` is not written: this compares versions, it does not record figures."""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import orjson

from benchmarks.bench_api import MB, WORKLOADS, timed_export
from benchmarks.datagen import records
from benchmarks.harness import ref_checkout
from benchmarks.live_server import live_server

Run = tuple[float, float, float, float, float]  # seconds, peak MB, user s, system s, faults


def _one(base: str, master: int, kind: str, body: bytes) -> Run:
    """Seconds, the serving worker's peak RSS in MB, and its user and system CPU seconds and
    minor page faults over one export request."""
    elapsed, watch, _ = timed_export(base, master, kind, body)
    worker = watch.serving_worker()
    user, system, faults = watch.cpu.get(worker, (0.0, 0.0, None))
    return elapsed, watch.worker_peak[worker] / MB, user, system, float(faults or 0)


def _summary(runs: list[Run]) -> dict[str, float]:
    times = [r[0] for r in runs]
    peaks = [r[1] for r in runs]
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "peak_median_mb": statistics.median(peaks),
        "peak_max_mb": max(peaks),
        "user_s": statistics.median(r[2] for r in runs),
        "system_s": statistics.median(r[3] for r in runs),
        "faults": statistics.median(r[4] for r in runs),
    }


def compare(ref: str, label: str, rounds: int) -> dict[str, dict[str, float]]:
    """Interleaved runs of `label` (a bench_api workload) on the working tree (A) and on
    `ref` (B)."""
    kind, n, template, fmt = next((k, n, t, f) for lbl, k, n, t, f in WORKLOADS if lbl == label)
    body = orjson.dumps({"data": records(kind, n, seed=7), "template": template, "format": fmt})
    runs: dict[str, list[Run]] = {"A": [], "B": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        ref_checkout(ref, Path(tmp) / "ref") as tree,
        live_server(Path(tmp) / "a", workers=2) as (base_a, master_a),
        live_server(Path(tmp) / "b", workers=2, root=tree) as (base_b, master_b),
    ):
        for _ in range(rounds):
            runs["A"].append(_one(base_a, master_a, kind, body))
            runs["B"].append(_one(base_b, master_b, kind, body))
    return {version: _summary(r) for version, r in runs.items()}


def main() -> None:
    labels = [w[0] for w in WORKLOADS]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ref", required=True, help="git ref to compare the working tree with")
    parser.add_argument("--workload", default=labels[-1], choices=labels)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    result = compare(args.ref, args.workload, args.rounds)
    print(f"{args.workload}: {args.rounds} interleaved rounds")
    print(
        "version               median s  min s   max s   worker peak MB (median / max)"
        "   worker CPU user / sys s, faults (medians)"
    )
    names = {"A": "A working tree", "B": f"B {args.ref}"}
    for version, row in result.items():
        print(
            f"{names[version][:20]:20s}  {row['median_s']:8.3f}  {row['min_s']:6.3f}  "
            f"{row['max_s']:6.3f}  {row['peak_median_mb']:6.0f} / {row['peak_max_mb']:<6.0f}"
            f"                 {row['user_s']:.3f} / {row['system_s']:.3f}, {row['faults']:,.0f}"
        )
    share = result["A"]["median_s"] / result["B"]["median_s"]
    print(f"A's median time is {share:.0%} of B's")


if __name__ == "__main__":
    main()
