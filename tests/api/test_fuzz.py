"""Schemathesis against the live server (the Procfile's gunicorn), driven by the API's own
OpenAPI document: every default check, a bounded number of examples per operation (50 in
`make test`, about 2 minutes), zero failures. `make fuzz` runs it longer (YBB_FUZZ_EXAMPLES=500,
another seed with YBB_FUZZ_SEED)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .live_server import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.slow]
CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    examples = os.environ.get("YBB_FUZZ_EXAMPLES", "50")
    st = Path(sys.executable).with_name("st")
    with LiveServer(tmp_path / "data", workers=2) as live:
        result = subprocess.run(
            [
                str(st),
                "--config-file",
                str(CONFIG),
                "run",
                f"{live.url}/api/ybb/openapi.json",
                "--max-examples",
                examples,
                "--seed",
                os.environ.get("YBB_FUZZ_SEED", "20261129"),
                "--generation-database",
                "none",
                # one worker: hypothesis' lambda-description code calls ast.parse, which is
                # not thread-safe on CPython 3.11 ("AST constructor recursion depth mismatch")
                "--workers",
                "1",
                "--no-color",
                "--request-timeout",
                "60",
            ],
            cwd=tmp_path,  # schemathesis writes a .schemathesis/ folder in its cwd
            capture_output=True,
            text=True,
            timeout=max(600, 6 * int(examples)),  # ~1 s per example and operation, 20 ops
        )
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, report
    # every operation of the document was exercised: 20, /health/ready (issue 15) and 8
    # team-template ones (issue 18)
    assert "Tested: 29" in result.stdout
