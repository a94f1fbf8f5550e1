"""What the benchmark scripts share: running a module in a fresh process (memory figures must
not inherit a warm heap) and saving figures as JSON under benchmarks/results/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_child(module: str, *args: str) -> dict[str, Any]:
    """`python -m <module> <args>` from the project root; its last stdout line, as JSON."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def save_json(path: Path, data: Any) -> None:
    """Write `data` to `path` as indented JSON, creating the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
