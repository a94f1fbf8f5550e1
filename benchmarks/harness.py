"""What the benchmark scripts share: running a module in a fresh process (memory figures must
not inherit a warm heap), saving figures as JSON under benchmarks/results/, and checking out
another version of the code for the A/B tools."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def ref_checkout(ref: str, tree: Path) -> Iterator[Path]:
    """`ref` checked out at `tree` (a detached git worktree, removed on exit), with its C
    extension built when it has one (export_core/_build.py): a version compared without it
    would run the slower Python decoder and look worse than it is."""
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), ref],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    try:
        build = tree / "export_core" / "_build.py"
        if build.exists():
            subprocess.run([sys.executable, str(build)], check=True, capture_output=True)
        yield tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
