"""export_core gives polars' allocator one arena (the CLI's read-ahead thread and its renderer
would otherwise each keep their own freed pages), unless the operator chose a setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = "import os; import export_core, polars; print(os.environ['_RJEM_MALLOC_CONF'])"


def _effective(env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    return done.stdout.strip().split(",")


def test_one_arena_unless_the_operator_set_the_allocator() -> None:
    clean = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    settings = _effective(clean)
    # jemalloc applies the options in order: export_core's come after polars' own defaults
    assert settings[-3:] == ["narenas:1", "dirty_decay_ms:100", "muzzy_decay_ms:0"]
    own = _effective({**clean, "_RJEM_MALLOC_CONF": "narenas:4"})
    assert own[-1] == "narenas:4" and "narenas:1" not in own
