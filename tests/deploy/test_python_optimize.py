"""Every way the project starts its server runs it with PYTHONOPTIMIZE=2 (no docstrings loaded:
~10 MB less per worker, docs/PERFORMANCE.md, fourteenth round), the bytecode that needs is
installed (else each worker compiles every module from source: a slower start and a bigger
heap), and the server says how it runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.api.live_server import ROOT, LiveServer, procfile_web_command

# A worker's imports, each module's bytecode checked against its source the way the import
# system does (the pyc header's source mtime and size), with nothing written meanwhile.
_BYTECODE_CHECK = """
import importlib.util, os, sys
assert sys.flags.optimize == 2, sys.flags.optimize
PROJECT = os.path.join(os.getcwd(), "")
PROJECT_VENV = os.path.join(os.getcwd(), ".venv", "")
import app.wsgi
missing = []
for name, module in sorted(sys.modules.items()):
    source = getattr(module, "__file__", None) or ""
    if not source.endswith(".py") or (
        source.startswith(PROJECT) and not source.startswith(PROJECT_VENV)
    ):
        continue  # the project's own: `make` compiles them too, but an edit makes them stale
    cached = importlib.util.cache_from_source(source)
    try:
        with open(cached, "rb") as f:
            header = f.read(16)
    except OSError:
        missing.append(name)
        continue
    stat = os.stat(source)
    fresh = int.from_bytes(header[4:8], "little") == 0 and (  # flags 0: checked by mtime
        int.from_bytes(header[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(header[12:16], "little") == stat.st_size & 0xFFFFFFFF
    )
    if not fresh:
        missing.append(name)
print(len(sys.modules), " ".join(missing))
"""


def test_the_procfile_starts_gunicorn_with_pythonoptimize_2_unless_set() -> None:
    command = procfile_web_command()
    assert command.startswith("env PYTHONOPTIMIZE=${PYTHONOPTIMIZE:-2} gunicorn ")
    for preset, expected in ((None, "2"), ("1", "1")):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONOPTIMIZE"}
        if preset is not None:
            env["PYTHONOPTIMIZE"] = preset
        # The command as the Procfile has it, with `gunicorn` swapped for `printenv`.
        shown = subprocess.run(
            ["bash", "-c", command.replace(" gunicorn ", " printenv PYTHONOPTIMIZE # ", 1)],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert shown.stdout.strip() == expected


def test_make_run_the_unit_and_the_image_set_pythonoptimize_2() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None
    assert "PYTHONOPTIMIZE=$${PYTHONOPTIMIZE:-2} $(BIN)/gunicorn" in recipe.group(1)
    unit = (ROOT / "deploy" / "ybb-export.service").read_text(encoding="utf-8")
    assert "\nEnvironment=PYTHONOPTIMIZE=2\n" in unit
    docker = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    compiled = docker.index("python -OO -m compileall")
    assert docker.index("\nENV PYTHONOPTIMIZE=2\n") > compiled > docker.index("RUN pip install")
    assert docker.index("COPY --chown=root:root pages/") < compiled  # the code is there by then


def test_the_workers_modules_have_their_optimized_bytecode_installed(tmp_path: Path) -> None:
    """`make` compiles it (Makefile, COMPILE_OO): every module of the packages a worker
    imports has a fresh .opt-2.pyc, read as it is (PYTHONDONTWRITEBYTECODE: this check writes
    none). The project's own modules are left out: an edit since the last `make` makes theirs
    stale, and a worker then compiles those few from source."""
    done = subprocess.run(
        [sys.executable, "-OO", "-c", _BYTECODE_CHECK],
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "YBB_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    count, _, missing = done.stdout.strip().partition(" ")
    assert int(count) > 500, done.stdout  # the app and its packages were imported
    assert missing == "", f"no fresh -OO bytecode for: {missing}"


@pytest.mark.live
def test_the_procfile_server_runs_optimized_and_says_so(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "data", workers=1) as server:
        report = requests.get(server.url + "/health?detail=1", timeout=10).json()
        assert report["python_optimize"] == 2
        log = server.log_path.read_text(encoding="utf-8", errors="replace")
        assert "PYTHONOPTIMIZE is not 2" not in log
    with LiveServer(tmp_path / "plain", workers=1, PYTHONOPTIMIZE="0") as server:
        report = requests.get(server.url + "/health?detail=1", timeout=10).json()
        assert report["python_optimize"] == 0
        log = server.log_path.read_text(encoding="utf-8", errors="replace")
        assert "PYTHONOPTIMIZE is not 2: each worker loads every docstring" in log
