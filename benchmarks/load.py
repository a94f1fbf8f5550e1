"""Load test: 8 concurrent clients for 60 s against the Procfile's gunicorn (2 workers) on a
loopback port, mixing small exports, status reads and downloads, plus one 50,000-row export.
Bounded in time (--duration) and in count (--max-requests); talks to 127.0.0.1 only.

    .venv/bin/python -m benchmarks.load [--duration 60] [--clients 8] [--max-requests 20000]

Prints a table (requests, errors, p50/p95/max latency per kind) and writes
benchmarks/results/load.json. Every non-2xx answer or connection failure counts as an error."""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from benchmarks.datagen import records
from benchmarks.harness import save_json
from benchmarks.live_server import live_server

RESULTS = Path(__file__).resolve().parent / "results" / "load.json"
EXPORT = "/api/ybb/export/{kind}"
MIX = (("small_export", 0.3), ("status", 0.4), ("download", 0.3))


@dataclass
class Tally:
    """Latencies and outcomes, shared by the client threads."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    export_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0

    def take_ticket(self, limit: int) -> bool:
        with self.lock:
            self.sent += 1
            return self.sent <= limit

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)
            if error is not None:
                self.errors.setdefault(kind, []).append(error)


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _call(
    session: requests.Session, tally: Tally, kind: str, method: str, url: str, **kwargs: Any
) -> requests.Response | None:
    started = time.perf_counter()
    try:
        resp = session.request(method, url, timeout=300, **kwargs)
        body = resp.content  # read the whole answer (downloads included)
    except requests.RequestException as exc:
        tally.record(kind, time.perf_counter() - started, type(exc).__name__)
        return None
    error = None if resp.status_code < 300 else f"HTTP {resp.status_code}: {body[:120]!r}"
    declared = resp.headers.get("Content-Length")
    if error is None and declared is not None and int(declared) != len(body):
        error = "short body"
    tally.record(kind, time.perf_counter() - started, error)
    return resp if error is None else None


def _one_request(
    session: requests.Session, base: str, tally: Tally, rng: random.Random, small: dict[str, Any]
) -> None:
    kind = rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
    with tally.lock:
        known = list(tally.export_ids)
    if kind == "small_export" or not known:
        resp = _call(
            session,
            tally,
            "small_export",
            "POST",
            base + EXPORT.format(kind="participants"),
            json=small,
        )
        if resp is not None:
            with tally.lock:
                tally.export_ids.append(resp.json()["data"]["export_id"])
        return
    export_id = rng.choice(known)
    suffix = "/status" if kind == "status" else "/download"
    _call(session, tally, kind, "GET", f"{base}/api/ybb/export/{export_id}{suffix}")


def _client(
    base: str,
    tally: Tally,
    seed: int,
    deadline: float,
    limit: int,
    big: dict[str, Any] | None,
    small: dict[str, Any],
) -> None:
    rng = random.Random(seed)
    with requests.Session() as session:
        if big is not None and tally.take_ticket(limit):
            resp = _call(
                session,
                tally,
                "big_export_50k",
                "POST",
                base + EXPORT.format(kind="participants"),
                json=big,
            )
            if resp is not None:
                data = resp.json()["data"]
                _call(session, tally, "big_download_zip", "GET", base + data["download_url"])
        while time.monotonic() < deadline and tally.take_ticket(limit):
            _one_request(session, base, tally, rng, small)


def _summary(tally: Tally, elapsed: float) -> dict[str, Any]:
    kinds = {}
    for kind, values in sorted(tally.latencies.items()):
        kinds[kind] = {
            "requests": len(values),
            "errors": len(tally.errors.get(kind, [])),
            "p50_ms": round(_percentile(values, 50) * 1000, 1),
            "p95_ms": round(_percentile(values, 95) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1),
            "first_errors": tally.errors.get(kind, [])[:3],
        }
    total = sum(k["requests"] for k in kinds.values())
    return {
        "elapsed_s": round(elapsed, 1),
        "requests": total,
        "errors": sum(k["errors"] for k in kinds.values()),
        "requests_per_s": round(total / elapsed, 1),
        "kinds": kinds,
    }


def _print(summary: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\nload: {args.clients} clients, {summary['elapsed_s']} s, 2 workers, loopback")
    print(f"{'kind':<18}{'requests':>10}{'errors':>8}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for kind, k in summary["kinds"].items():
        print(
            f"{kind:<18}{k['requests']:>10}{k['errors']:>8}{k['p50_ms']:>10}{k['p95_ms']:>10}"
            f"{k['max_ms']:>10}"
        )
    print(
        f"{'total':<18}{summary['requests']:>10}{summary['errors']:>8}"
        f"   ({summary['requests_per_s']} requests/s)"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the load test; returns (and writes) the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (max 600)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--big-rows", type=int, default=50_000)
    parser.add_argument("--small-rows", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    duration = min(max(args.duration, 1.0), 600.0)
    small = {"data": records("participants", args.small_rows, seed=1)}
    big = {"data": records("participants", args.big_rows, seed=2)}
    tally = Tally()
    with (
        tempfile.TemporaryDirectory(prefix="ybb-load-") as tmp,
        live_server(Path(tmp) / "data", workers=2, YBB_SECRET_KEY="load") as (base, _pid),
    ):
        started = time.monotonic()
        deadline = started + duration
        threads = [
            threading.Thread(
                target=_client,
                args=(base, tally, i, deadline, args.max_requests, big if i == 0 else None, small),
            )
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(duration + 600)  # bounded: the big export may finish after the deadline
        summary = _summary(tally, time.monotonic() - started)
    summary.update(
        clients=args.clients,
        workers=2,
        big_rows=args.big_rows,
        small_rows=args.small_rows,
        duration_s=duration,
    )
    _print(summary, args)
    save_json(args.out, summary)
    return summary


if __name__ == "__main__":
    main()
