"""End-to-end API benchmark: the Procfile's server with 2 workers, real HTTP requests.

    .venv/bin/python -m benchmarks.bench_api [--runs 5] [--quick]

For each workload: median wall time from sending the request until the response has arrived
(files and ZIP complete; also the median of the requests a worker served after its first one of
that workload, "warm"), the peak RSS of the worker that served it (with, at that peak, the
file-backed part of it, its PSS and its private memory; plus, separately, the peak RSS of any
helper processes it started), and that worker's CPU time (user, system) and minor page faults
per request (medians). Also: two concurrent 50,000-row exports, and worker RSS growth while a
~100 MB ZIP downloads. Prints a table and writes benchmarks/results/api.json."""

from __future__ import annotations

import argparse
import http.client
import json
import math
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks.datagen import records
from benchmarks.harness import save_json
from benchmarks.live_server import WorkerMemoryWatch, live_server

RESULTS = Path(__file__).resolve().parent / "results"
MB = 1024 * 1024

WORKLOADS: list[tuple[str, str, int, str, str]] = [
    # (label, type, rows, template, format)
    ("50k participants complete excel", "participants", 50_000, "complete", "excel"),
    ("10k participants standard excel", "participants", 10_000, "standard", "excel"),
    ("1k participants standard excel", "participants", 1_000, "standard", "excel"),
    ("50k participants complete csv", "participants", 50_000, "complete", "csv"),
]


def post(base: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def download(base: str, path: str) -> int:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        total = 0
        while chunk := resp.read(256 * 1024):
            total += len(chunk)
        if resp.status != 200:
            raise RuntimeError(f"download {path}: HTTP {resp.status}")
        return total
    finally:
        conn.close()


def timed_export(
    base: str, master: int, kind: str, body: bytes
) -> tuple[float, WorkerMemoryWatch, dict[str, Any]]:
    """One export request: (seconds until the response arrived, the workers' memory watched
    over it, the response's JSON); raises unless it was a 200."""
    with WorkerMemoryWatch(master) as watch:
        start = time.perf_counter()
        status, payload = post(base, f"/api/ybb/export/{kind}", body)
        elapsed = time.perf_counter() - start
    if status != 200:
        raise RuntimeError(f"export failed: HTTP {status} {payload}")
    return elapsed, watch, payload


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / MB, 1)


def run_workload(base: str, master: int, rows: list[dict[str, Any]], kind: str, template: str,
                 fmt: str, runs: int) -> dict[str, Any]:  # fmt: skip
    body = orjson.dumps({"data": rows, "template": template, "format": fmt})
    times, worker_peaks, file_parts, child_peaks, starts = [], [], [], [], []
    at_peak: list[tuple[int | None, int | None]] = []  # (PSS, private) at each request's peak
    users: list[float] = []
    systems: list[float] = []
    faults: list[int] = []
    served: set[int] = set()
    warm: list[float] = []  # requests on a worker that had served this workload before
    for _ in range(runs):
        elapsed, watch, payload = timed_export(base, master, kind, body)
        pid = watch.serving_worker()
        if pid in served:
            warm.append(elapsed)
        served.add(pid)
        user, system, minflt = watch.cpu.get(pid, (math.nan, math.nan, None))
        users.append(user)
        systems.append(system)
        if minflt is not None:
            faults.append(minflt)
        times.append(elapsed)
        worker_peaks.append(watch.worker_peak[pid] / MB)
        file_parts.append(watch.worker_peak_file[pid] / MB)
        at_peak.append((watch.worker_peak_pss.get(pid), watch.worker_peak_private.get(pid)))
        # A worker's RSS never shrinks back (allocators keep freed memory), so the peak of a
        # later workload includes what earlier ones left: the RSS at the start tells them apart.
        starts.append(watch.baseline[pid] / MB)
        child_peaks.append(watch.children_peak[pid] / MB)
    files = payload["data"].get("total_files", 1)
    top = worker_peaks.index(max(worker_peaks))  # the request with the highest peak
    return {
        "runs": runs,
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        # A worker's first request of a workload runs code it has not run yet (faulted in,
        # lazily set up): ~0.06 s more for 50k Excel. With 2 workers, 2 of the runs are such.
        "median_warm_s": round(statistics.median(warm), 3) if warm else None,
        "worker_peak_rss_mb": round(worker_peaks[top], 1),
        # Of that highest peak, the pages mapped from files (polars' code, mostly): the kernel
        # and the page cache decide how much of a library a fault maps (app/gunicorn_conf.py,
        # "Library pages").
        "worker_peak_file_backed_mb": round(file_parts[top], 1),
        # At that highest peak: PSS (library pages shared out among the processes mapping
        # them) and private memory (what the worker alone holds), for judging memory by a
        # measure that does not count shared code once per process.
        "worker_pss_at_peak_mb": _mb(at_peak[top][0]),
        "worker_private_at_peak_mb": _mb(at_peak[top][1]),
        "worker_rss_at_start_mb": round(min(starts), 1),
        "helper_processes_peak_rss_mb": round(max(child_peaks), 1),
        # CPU time of the serving worker (all its threads) per request: more than the wall
        # time where threads overlapped; system time is mostly page faults here.
        "worker_cpu_user_s": round(statistics.median(users), 3),
        "worker_cpu_system_s": round(statistics.median(systems), 3),
        "worker_minor_faults": int(statistics.median(faults)) if faults else None,
        "files": files,
        "body_mb": round(len(body) / MB, 1),
    }


def concurrent_pair(base: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    body = orjson.dumps({"data": rows, "template": "complete", "format": "excel"})
    outcomes: list[int] = []
    start = time.perf_counter()

    def one() -> None:
        outcomes.append(post(base, "/api/ybb/export/participants", body)[0])

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"statuses": outcomes, "wall_s": round(time.perf_counter() - start, 3)}


def big_zip_download(tmp: Path) -> dict[str, Any]:
    """A ~100 MB ZIP (CSV batches of incompressible notes), then its download's RSS growth."""
    import base64
    import random

    rng = random.Random(3)
    rows = [
        {"id": i, "first_name": "A", "notes": base64.b64encode(rng.randbytes(1900)).decode()}
        for i in range(1, 50_001)
    ]
    body = orjson.dumps({"data": rows, "template": "complete", "format": "csv"})
    with live_server(tmp / "zipdata", workers=2, YBB_MAX_BODY_MB="400") as (base, master):
        status, payload = post(base, "/api/ybb/export/participants", body)
        if status != 200:
            raise RuntimeError(f"export failed: HTTP {status} {payload}")
        archive = payload["data"]["archive"]
        with WorkerMemoryWatch(master) as watch:
            size = download(base, archive["download_url"])
        growth = max(watch.worker_peak[p] - watch.baseline[p] for p in watch.worker_peak)
    return {"zip_mb": round(size / MB, 1), "worker_rss_growth_mb": round(growth / MB, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="skip the concurrent and ZIP runs")
    args = parser.parse_args()
    results: dict[str, Any] = {"workloads": {}}
    with tempfile.TemporaryDirectory() as tmp:
        cache: dict[tuple[str, int], list[dict[str, Any]]] = {}
        with live_server(Path(tmp) / "data", workers=2) as (base, master):
            for label, kind, n, template, fmt in WORKLOADS:
                rows = cache.setdefault((kind, n), records(kind, n, seed=7))
                results["workloads"][label] = run_workload(
                    base, master, rows, kind, template, fmt, args.runs
                )
                print(label, results["workloads"][label], flush=True)
            if not args.quick:
                results["concurrent_50k_pair"] = concurrent_pair(
                    base, cache[("participants", 50_000)]
                )
        if not args.quick:
            results["zip_download"] = big_zip_download(Path(tmp))
    print()
    print(f"{'workload':36} {'median s':>9} {'warm s':>7} {'worker MB':>10} {'of it file':>11} "
          f"{'PSS MB':>7} {'private':>8} "
          f"{'helpers MB':>11} {'files':>6} {'CPU user s':>11} {'CPU sys s':>10} "
          f"{'faults':>8}")  # fmt: skip
    for label, r in results["workloads"].items():
        print(f"{label:36} {r['median_s']:>9} {r['median_warm_s'] or '-':>7} "
              f"{r['worker_peak_rss_mb']:>10} "
              f"{r['worker_peak_file_backed_mb']:>11} "
              f"{r['worker_pss_at_peak_mb'] or '-':>7} {r['worker_private_at_peak_mb'] or '-':>8} "
              f"{r['helper_processes_peak_rss_mb']:>11} {r['files']:>6} "
              f"{r['worker_cpu_user_s']:>11} {r['worker_cpu_system_s']:>10} "
              f"{r['worker_minor_faults'] or '-':>8}")  # fmt: skip
    for key in ("concurrent_50k_pair", "zip_download"):
        if key in results:
            print(key, results[key])
    save_json(RESULTS / "api.json", results)


if __name__ == "__main__":
    main()
