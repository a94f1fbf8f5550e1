"""Starting and stopping the processes the tests run: Python children, servers, workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_child(code: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -c code args...` in the checkout (its packages importable), its output
    captured as text; bounded by `timeout` seconds; the caller checks the outcome."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stop(process: subprocess.Popen[bytes], grace_seconds: float) -> None:
    """SIGTERM, up to `grace_seconds` to exit cleanly, then SIGKILL (bounded either way)."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
