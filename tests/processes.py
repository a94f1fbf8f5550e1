"""Stopping the servers and workers the tests start."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen[bytes], grace_seconds: float) -> None:
    """SIGTERM, up to `grace_seconds` to exit cleanly, then SIGKILL (bounded either way)."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
