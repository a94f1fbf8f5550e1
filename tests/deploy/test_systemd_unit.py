"""deploy/ybb-export.service passes `systemd-analyze verify` (with the install paths pointed at
this checkout, so that its ExecStart exists), and starts gunicorn with the project's own
app/gunicorn_conf.py rather than a copy of it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.api.live_server import ROOT

UNIT = ROOT / "deploy" / "ybb-export.service"
INSTALL_DIR = "/opt/ybb-export"
ANALYZE = shutil.which("systemd-analyze")

pytestmark = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is missing (make system-deps installs systemd)"
)


def _verify(unit_text: str, folder: Path) -> subprocess.CompletedProcess[str]:
    path = folder / "ybb-export.service"
    path.write_text(unit_text, encoding="utf-8")
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, "verify", str(path)], capture_output=True, text=True, timeout=60
    )


def _rendered() -> str:
    text = UNIT.read_text(encoding="utf-8")
    assert f"ExecStart={INSTALL_DIR}/.venv/bin/gunicorn" in text
    return text.replace(INSTALL_DIR, str(ROOT))


def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    result = _verify(_rendered(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # no warnings either


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    broken = _rendered().replace("/.venv/bin/gunicorn", "/.venv/bin/no-such-gunicorn")
    broken = broken.replace("Restart=on-failure", "Restart=on-failure\nRestartSecs=3")
    result = _verify(broken, tmp_path)
    assert result.returncode != 0
    assert "no-such-gunicorn" in result.stderr and "RestartSecs" in result.stderr


def test_unit_runs_the_project_gunicorn_settings() -> None:
    text = UNIT.read_text(encoding="utf-8")
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert "--config app/gunicorn_conf.py app.wsgi:server" in exec_start
    assert (ROOT / "app" / "gunicorn_conf.py").is_file()
    assert "User=ybb" in text and "User=root" not in text
