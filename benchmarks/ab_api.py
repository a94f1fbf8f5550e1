"""A/B of two versions of the code through the API, their requests interleaved.

    .venv/bin/python -m benchmarks.ab_api --ref main [--workload "50k participants complete csv"]
                                          [--rounds 8] [--pace MB_PER_S]

On this machine the time of an unchanged request drifts by 15-30% within minutes (the same
server gave 50k CSV exports of 0.8 s and 1.2 s an hour apart), so two versions timed one
after the other can show a "gain" that is only the drift. Here the working tree and `--ref`
(checked out into a temporary git worktree, its C extension built) each run the Procfile
server (2 workers, the same virtualenv), and every round sends the workload to A then to B:
both see the same machine state. Prints, per version, the median / min / max time, the
serving worker's peak RSS (median and max) and the medians of its user and system CPU time
and minor page faults per request, then B's median time as a share of A's.
`benchmarks/results/` is not written: this compares versions, it does not record figures.

With `--pace`, the body is sent at that many MB/s (110: a 1 Gbit/s link), as CodeIgniter on
another machine sends it, rather than as fast as loopback takes it; the time is then also
given from the body's last byte to the response, which is what the server adds to the
transfer."""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from benchmarks.bench_api import MB, WORKLOADS, timed_export
from benchmarks.datagen import records
from benchmarks.harness import ref_checkout
from benchmarks.live_server import WorkerMemoryWatch, live_server

# seconds, peak MB, user s, system s, faults, seconds after the body's last byte (paced only)
Run = tuple[float, float, float, float, float, float]
PACE_BLOCK = 64 * 1024


def _one(base: str, master: int, kind: str, body: bytes, pace: float | None) -> Run:
    """Seconds, the serving worker's peak RSS in MB, and its user and system CPU seconds and
    minor page faults over one export request (and, paced, the seconds after its last byte)."""
    if pace is None:
        elapsed, watch, _ = timed_export(base, master, kind, body)
        after = 0.0
    else:
        with WorkerMemoryWatch(master) as watch:
            elapsed, after = _paced_export(base, kind, body, pace)
    worker = watch.serving_worker()
    user, system, faults = watch.cpu.get(worker, (0.0, 0.0, None))
    return elapsed, watch.worker_peak[worker] / MB, user, system, float(faults or 0), after


def _paced_export(base: str, kind: str, body: bytes, pace: float) -> tuple[float, float]:
    """One export request whose body goes out at `pace` MB/s: (seconds from its first byte to
    the whole response, seconds from its last byte to the whole response); raises unless 200."""
    host, port = base.removeprefix("http://").split(":")
    head = (
        f"POST /api/ybb/export/{kind} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=600) as sock:
        sock.sendall(head)
        began = time.perf_counter()
        for at in range(0, len(body), PACE_BLOCK):
            sock.sendall(body[at : at + PACE_BLOCK])
            due = began + (at + PACE_BLOCK) / (pace * MB)
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
        last_byte = time.perf_counter()
        received = b""
        while block := sock.recv(256 * 1024):
            received += block
        done = time.perf_counter()
    status_line, _, rest = received.partition(b"\r\n")
    if b" 200 " not in status_line + b" ":
        raise RuntimeError(f"export failed: {status_line!r} {rest[-300:]!r}")
    json.loads(rest.partition(b"\r\n\r\n")[2])  # a whole JSON answer
    return done - began, done - last_byte


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
        "after_last_byte_s": statistics.median(r[5] for r in runs),
    }


def compare(
    ref: str, label: str, rounds: int, pace: float | None = None
) -> dict[str, dict[str, float]]:
    """Interleaved runs of `label` (a bench_api workload) on the working tree (A) and on
    `ref` (B), the body sent at `pace` MB/s if given."""
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
            runs["A"].append(_one(base_a, master_a, kind, body, pace))
            runs["B"].append(_one(base_b, master_b, kind, body, pace))
    return {version: _summary(r) for version, r in runs.items()}


def main() -> None:
    labels = [w[0] for w in WORKLOADS]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ref", required=True, help="git ref to compare the working tree with")
    parser.add_argument("--workload", default=labels[-1], choices=labels)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--pace", type=float, help="send the body at this many MB/s")
    args = parser.parse_args()
    result = compare(args.ref, args.workload, args.rounds, args.pace)
    paced = f", bodies sent at {args.pace:g} MB/s" if args.pace else ""
    print(f"{args.workload}: {args.rounds} interleaved rounds{paced}")
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
    if args.pace:
        a, b = (result[v]["after_last_byte_s"] for v in ("A", "B"))
        print(f"after the body's last byte (medians): A {a:.3f} s, B {b:.3f} s")


if __name__ == "__main__":
    main()
