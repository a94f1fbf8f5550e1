"""Multiprocess metrics with real processes sharing one PROMETHEUS_MULTIPROC_DIR: a process
killed outright while an export was in flight (a UI export job that Cancel kills) stops
counting at the next scrape, while a live one keeps counting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import metrics
from export_core.settings import Settings

from .live_server import ROOT

# Marks one export in flight, says so, then waits (killed by the test) or ends by SIGKILL.
CHILD = """
import os, signal, sys
from app.metrics import IN_FLIGHT
IN_FLIGHT.inc()
print("in flight", flush=True)
if sys.argv[1] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()
"""


def _in_flight(settings: Settings) -> float:
    text = metrics.scrape(settings).decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "ybb_exports_in_flight"
    )


def _child(folder: Path, how: str) -> subprocess.Popen[str]:
    env = {**os.environ, metrics.MULTIPROC_ENV: str(folder)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, how],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "in flight"
    return proc


def test_killed_process_stops_counting_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(folder))
    settings = Settings(data_dir=tmp_path)
    alive = _child(folder, "wait")
    killed = _child(folder, "die")
    killed.wait(timeout=30)
    assert killed.returncode == -9
    assert len(list(folder.glob("gauge_livesum_*.db"))) == 2
    try:
        assert _in_flight(settings) == 1  # the live one only
        assert [p.name for p in folder.glob("gauge_livesum_*.db")] == [
            f"gauge_livesum_{alive.pid}.db"
        ]
    finally:
        assert alive.stdin is not None and alive.stdout is not None
        alive.stdin.close()
        alive.wait(timeout=30)
        alive.stdout.close()
        for stream in (killed.stdin, killed.stdout):
            if stream is not None:
                stream.close()
    assert _in_flight(settings) == 0  # it ended without dec(): dropped like the killed one


# A thread records metrics non-stop while the main thread forks 20 children that record one
# each (what a UI export job, forked from a busy worker, does). Without the at-fork hook in
# app.metrics, 13 of 20 children hung on the lock inherited locked (measured).
FORKS = """
import os, threading, time
from app.metrics import FORK_SAFE, IN_FLIGHT
assert FORK_SAFE
stop = False
def hammer():
    while not stop:
        IN_FLIGHT.inc()
        IN_FLIGHT.dec()
threading.Thread(target=hammer, daemon=True).start()
stuck = 0
for _ in range(20):
    pid = os.fork()
    if pid == 0:
        IN_FLIGHT.inc()
        IN_FLIGHT.dec()
        os._exit(0)
    deadline = time.monotonic() + 5
    while not os.waitpid(pid, os.WNOHANG)[0]:
        if time.monotonic() > deadline:
            stuck += 1
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            break
        time.sleep(0.01)
stop = True
print("stuck", stuck)
"""


def test_forked_children_never_inherit_the_metrics_lock_held(tmp_path: Path) -> None:
    env = {**os.environ, metrics.MULTIPROC_ENV: str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", FORKS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stuck 0"
