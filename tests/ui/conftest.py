"""Fixtures for UI tests: headless Chromium options for dash[testing], and a live gunicorn
serving the whole app (background callbacks need a real server: DiskcacheManager runs each job
in a child process of the web worker, which then starts a fresh process for the export)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.chrome.options import Options

from tests.processes import stop

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
START_TIMEOUT_SECONDS = 30
_profiles: list[str] = []


def pytest_setup_options() -> Options:
    """Chrome options for dash[testing]'s browser fixtures (a fresh profile per browser)."""
    options = Options()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="ybb-chromium-")
    _profiles.append(profile)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1366,768",
        # Bootstrap scrolls smoothly unless the person prefers reduced motion; WebDriver picks
        # a click's point before such a scroll ends, so on the taller merged export page the
        # click landed on whatever was passing under it ("element click intercepted").
        "--force-prefers-reduced-motion",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    return options


def pytest_sessionfinish() -> None:
    """Remove the throwaway browser profiles."""
    for profile in _profiles:
        shutil.rmtree(profile, ignore_errors=True)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bind to port 0 and ask)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url}/health within {START_TIMEOUT_SECONDS}s")


@contextlib.contextmanager
def run_gunicorn(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """The app under the real gunicorn (2 workers) on a free loopback port with `extra_env`;
    yields its base URL and always stops it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "YBB_DATA_DIR": str(data_dir),
        "YBB_SECRET_KEY": "ui-tests",
        "WEB_CONCURRENCY": "2",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "YBB_LOG_LEVEL": "WARNING",
        "YBB_UI_USERS": "",
        "YBB_API_KEY": "",
        "PYTHONOPTIMIZE": "2",  # as the Procfile, `make run` and deploy/ start it
        **(extra_env or {}),
    }
    log_path = data_dir.parent / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--config",
                "app/gunicorn_conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "app.wsgi:server",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        stop(process, grace_seconds=15)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app under gunicorn with login off and no API key; its base URL."""
    with run_gunicorn(tmp_path_factory.mktemp("ui-live") / "data") as url:
        yield url
