"""Scale-out benchmark: the same requests through a real nginx (deploy/nginx.conf) to
(1) the embedded default (one machine: SQLite + local files) and (2) two machines on
PostgreSQL + S3-protocol object storage (moto_server on loopback).

    .venv/bin/python -m benchmarks.bench_scaleout [--runs 5]

Per configuration: median seconds for a 50,000-row `complete` Excel export (POST until the
response has arrived: 50 files + ZIP written, and uploaded with S3), and the RSS growth of the
worker that streamed the 50-file ZIP download through nginx (peak minus its RSS at the start).
Prints a table and writes benchmarks/results/scaleout.json. Needs PostgreSQL on 127.0.0.1:5432
(or starts one, as the tests do) and Debian's nginx."""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from benchmarks.bench_api import download, post
from benchmarks.datagen import records
from benchmarks.harness import save_json
from benchmarks.live_server import WorkerMemoryWatch, live_server
from tests.pg_server import fresh_database, postgres_admin_url
from tests.s3_server import s3_server
from tests.scaleout.cluster import Nginx

RESULTS = Path(__file__).resolve().parent / "results"
MB = 1024 * 1024
ROWS = 50_000


@contextlib.contextmanager
def embedded(work: Path) -> Iterator[tuple[str, list[int]]]:
    """One machine with the defaults behind nginx; yields (nginx URL, gunicorn master pids)."""
    with live_server(work / "data", workers=2, YBB_SECRET_KEY="bench") as (base, master):
        upstream = base.removeprefix("http://")
        nginx = Nginx(work / "nginx", [upstream, upstream])
        try:
            yield nginx.url, [master]
        finally:
            nginx.stop()


@contextlib.contextmanager
def shared(work: Path) -> Iterator[tuple[str, list[int]]]:
    """Two machines on PostgreSQL + S3 behind nginx; yields (nginx URL, master pids)."""
    with postgres_admin_url() as admin, fresh_database(admin) as url, s3_server(work) as s3:
        env = {"YBB_STORE": "postgres", "DATABASE_URL": url, **s3.env(s3.new_bucket())}
        env["YBB_SECRET_KEY"] = "bench"
        with (
            live_server(work / "a", workers=2, **env) as (base_a, master_a),
            live_server(work / "b", workers=2, **env) as (base_b, master_b),
        ):
            ups = [base_a.removeprefix("http://"), base_b.removeprefix("http://")]
            nginx = Nginx(work / "nginx", ups)
            try:
                yield nginx.url, [master_a, master_b]
            finally:
                nginx.stop()


def measure(base: str, masters: list[int], body: bytes, runs: int) -> dict[str, Any]:
    """Median export time over `runs`, then the ZIP download's worker RSS growth."""
    times: list[float] = []
    payload: dict[str, Any] = {}
    for _ in range(runs):
        start = time.perf_counter()
        status, payload = post(base, "/api/ybb/export/participants", body)
        times.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"export failed: HTTP {status} {payload}")
    data = payload["data"]
    zip_path = data["archive"]["download_url"]
    watches = [WorkerMemoryWatch(m) for m in masters]
    with contextlib.ExitStack() as stack:
        for watch in watches:
            stack.enter_context(watch)
        start = time.perf_counter()
        size = download(base, zip_path)
        zip_seconds = time.perf_counter() - start
    growth = max((w.worker_peak[p] - w.baseline[p]) / MB for w in watches for p in w.worker_peak)
    return {
        "runs": runs,
        "export_median_s": round(statistics.median(times), 3),
        "export_min_s": round(min(times), 3),
        "export_max_s": round(max(times), 3),
        "files": data["total_files"],
        "zip_mb": round(size / MB, 1),
        "zip_download_s": round(zip_seconds, 3),
        "zip_download_worker_rss_growth_mb": round(growth, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    body = orjson.dumps(
        {"data": records("participants", ROWS), "template": "complete", "format": "excel"}
    )
    results: dict[str, Any] = {}
    for label, setup in (("embedded (SQLite + local files)", embedded),
                         ("two machines (PostgreSQL + S3)", shared)):  # fmt: skip
        with (
            tempfile.TemporaryDirectory(prefix="ybb-bench-scaleout-") as tmp,
            setup(Path(tmp)) as (base, masters),
        ):
            results[label] = measure(base, masters, body, args.runs)
        print(label, results[label], flush=True)
    head = f"{'configuration':34} {'50k complete excel':>20} {'ZIP':>8} {'ZIP download growth':>20}"
    print(f"\n{head}")
    for label, r in results.items():
        print(
            f"{label:34} {r['export_median_s']:>18.3f} s {r['zip_mb']:>5.1f} MB"
            f" {r['zip_download_worker_rss_growth_mb']:>17.1f} MB"
        )
    save_json(RESULTS / "scaleout.json", results)


if __name__ == "__main__":
    main()
