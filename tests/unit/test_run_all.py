"""`make bench`'s verdicts on issue 17's targets (benchmarks/run_all.py), from results files as
bench_api and bench_cli write them, and its machine-speed figures."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import run_all


def _api(excel: tuple[float, float], csv: float, tenk: float, pair: Any) -> dict[str, Any]:
    api: dict[str, Any] = {
        "workloads": {
            "50k participants complete excel": {
                "median_s": excel[0],
                "worker_peak_rss_mb": excel[1],
            },
            "50k participants complete csv": {"median_s": csv, "worker_peak_rss_mb": 160.0},
            "10k participants standard excel": {"median_s": tenk, "worker_peak_rss_mb": 130.0},
        }
    }
    if pair is not None:
        api["concurrent_50k_pair"] = pair
    return api


CLI = {"exit_code": 0, "wall_s": 7.0, "peak_rss_mb": 166.0}
CLI_ROW = "1,000,000 rows, one xlsx, CLI"


def _verdicts(api: dict[str, Any], cli: dict[str, Any]) -> dict[str, bool | None]:
    return {r["workload"]: r["met"] for r in run_all._issue17_targets(api, cli)}


def test_every_target_met() -> None:
    pair = {"statuses": [200, 200], "wall_s": 0.4}
    verdicts = _verdicts(_api((0.3, 145.0), 0.18, 0.06, pair), CLI)
    assert list(verdicts.values()) == [True] * 5


@pytest.mark.parametrize(
    ("api", "cli", "missed"),
    [
        (_api((0.46, 140.0), 0.1, 0.05, None), CLI, "50k participants complete excel (API)"),
        (_api((0.3, 150.1), 0.1, 0.05, None), CLI, "50k participants complete excel (API)"),
        (_api((0.3, 140.0), 0.201, 0.05, None), CLI, "50k participants complete csv (API)"),
        (_api((0.3, 140.0), 0.1, 0.071, None), CLI, "10k participants standard excel (API)"),
        (_api((0.3, 140.0), 0.1, 0.05, None), {**CLI, "wall_s": 10.5}, CLI_ROW),
        (_api((0.3, 140.0), 0.1, 0.05, None), {**CLI, "peak_rss_mb": 201.0}, CLI_ROW),
        (
            _api((0.3, 140.0), 0.1, 0.05, {"statuses": [200, 503], "wall_s": 0.4}),
            CLI,
            "2 concurrent 50k excel (API)",
        ),
        (
            _api((0.3, 140.0), 0.1, 0.05, {"statuses": [200, 200], "wall_s": 0.95}),
            CLI,
            "2 concurrent 50k excel (API)",
        ),
    ],
)  # fmt: skip
def test_a_missed_target_is_no(api: dict[str, Any], cli: dict[str, Any], missed: str) -> None:
    verdicts = _verdicts(api, cli)
    assert verdicts[missed] is False
    assert all(met is not False for name, met in verdicts.items() if name != missed)


def test_what_was_not_measured_is_not_run() -> None:
    """--quick runs no CLI and no concurrent pair; a failed CLI run has no figures."""
    verdicts = _verdicts(_api((0.3, 140.0), 0.1, 0.05, None), {})
    assert verdicts[CLI_ROW] is None
    assert verdicts["2 concurrent 50k excel (API)"] is None
    assert _verdicts({}, {"exit_code": 1, "error": "boom"}) == dict.fromkeys(verdicts)


def test_machine_speed_times_both_pieces_of_work() -> None:
    speed = run_all.machine_speed()
    assert set(speed) == {"zlib6_8mb_ms", "python_loop_ms"}
    assert all(0 < ms < 60_000 for ms in speed.values())
