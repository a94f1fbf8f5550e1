"""Schemathesis against the live server (the Procfile's gunicorn), driven by the API's own
OpenAPI document: every check, a bounded number of examples per operation, zero failures.

`make fuzz` runs it longer (YBB_FUZZ_EXAMPLES=500)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .live_server import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.slow]
CONFIG = Path(__file__).with_name("schemathesis.toml")


def _reader_rejects_mixed_nested_lists() -> bool:
    """Known engine bug (reported): records_to_frame raises polars' TypeError ("failed to
    determine supertype of struct[1] and list[f64]") instead of writing nested values as JSON
    text, so schemathesis' nested records get a 500. Once fixed, this returns False and the
    fuzz test must pass with no exemption."""
    from export_core import readers

    try:
        readers.records_to_frame([{"a": [{"x": 1}, [1.0]]}])
    except TypeError:
        return True
    return False


KNOWN_READER_BUG = _reader_rejects_mixed_nested_lists()


@pytest.mark.xfail(
    KNOWN_READER_BUG,
    reason="export_core.readers.records_to_frame: TypeError on lists mixing objects and lists "
    "(fast path catches only PolarsError); the API answers 500 for such records",
    strict=False,
)
def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    examples = os.environ.get("YBB_FUZZ_EXAMPLES", "25")
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
            timeout=600,
        )
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, report
    assert "Tested: 19" in result.stdout  # every operation of the document was exercised
