"""The UI's export launcher (components/export_launcher.py) as a real process: exports run in
its forked children, a child dies when its job's connection closes (Cancel), a job falls back
to a fresh interpreter when there is no launcher, and gunicorn's master starts and stops it."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import psutil
import pytest
import requests

from components import data_in, export_job, export_launcher, preview, runtime
from components.samples import sample_json
from export_core.model import ExportOptions
from export_core.readers import read_json
from export_core.settings import Settings
from tests.api.live_server import LiveServer
from tests.processes import python_child
from tests.redis_server import redis_server
from tests.ui.test_browser import _celery_worker

WAIT_SECONDS = 30


def _wait(condition: Any, what: str, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds}s: {what}")
        time.sleep(0.05)


@pytest.fixture
def ui(settings: Settings) -> Settings:
    runtime.configure(settings)
    return settings


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[export_launcher.Launcher]:
    """A launcher started as the master starts it, its socket named in this process's
    environment (as in a worker's)."""
    environ: dict[str, str] = {}
    started = export_launcher.start(environ)
    try:
        _wait(lambda: os.path.exists(started.path), "the launcher's socket")
        monkeypatch.setenv(export_launcher.LAUNCHER_ENV, environ[export_launcher.LAUNCHER_ENV])
        yield started
    finally:
        started.stop()
    assert started.process.poll() is not None and not os.path.exists(started.directory)


def _loaded(rows: int, export_type: str = "participants") -> dict[str, Any]:
    """The preview state for `rows` sample records pasted (its upload cache key inside)."""
    summary = data_in.load_bytes(sample_json(export_type, rows).encode(), None, "paste")
    _, state, *_ = preview.build_preview(summary, export_type, "standard", "excel", "auto")
    return state


def test_export_runs_in_a_child_of_the_launcher(
    ui: Settings, launcher: export_launcher.Launcher
) -> None:
    state = _loaded(6000)
    options = ExportOptions("participants", "standard", "excel")
    chosen = str(uuid.uuid4())
    seen: list[tuple[int, int, list[int], list[int]]] = []

    def progress(done: int, total: int) -> None:
        exporting = [p.pid for p in psutil.Process(launcher.process.pid).children()]
        mine = []  # fresh export processes of this one's (other children: chromedriver...)
        for child in psutil.Process().children():
            try:
                if "components.export_job" in " ".join(child.cmdline()):
                    mine.append(child.pid)
            except psutil.Error:  # ended meanwhile
                continue
        seen.append((done, total, exporting, mine))

    outcome = export_job.run_isolated(ui, state["key"], options, progress, export_id=chosen)
    assert outcome[0] == "done", outcome
    assert outcome[1]["export_id"] == chosen and outcome[1]["record_count"] == 6000
    files = len(outcome[1]["files"])
    assert files > 1 and [s[:2] for s in seen] == [(n, files) for n in range(1, files + 1)]
    # The export process was one child of the launcher, not a process of this one's (seen
    # while files were still to come: after the last, the child may be gone already).
    assert all(len(s[2]) == 1 and not s[3] for s in seen[:-1]), seen
    _wait(lambda: not psutil.Process(launcher.process.pid).children(), "the child's end")
    opened = runtime.get_store().open_file(chosen, 1)
    book = openpyxl.load_workbook(Path(opened.path), read_only=True)
    try:
        assert book.active.cell(1, 1).value == "ID" and book.active.max_row > 1
    finally:
        book.close()
    # Errors come back as from a fresh process: an expired upload, said in the page's words.
    expired = export_job.run_isolated(ui, "0" * 32, options, lambda *_: None)
    assert expired == ("error", "NotFound", export_job.EXPIRED, None)


def test_a_child_dies_when_its_job_goes(ui: Settings, launcher: export_launcher.Launcher) -> None:
    """Cancel: Dash kills the job, which closes the job's end of the connection; the child
    kills itself, as a fresh export process dies with its parent."""
    sample = read_json(sample_json("participants", 1000))
    key = runtime.get_upload_cache().put_frame(pl.concat([sample] * 300))  # ~2 s to write
    options = ExportOptions("participants", "standard", "excel")
    conn = export_launcher.connect((ui, key, options, None, None))
    assert conn is not None
    lines = conn.makefile("r", encoding="utf-8")
    first = lines.readline()
    assert first.startswith('["started"'), first
    _wait(lambda: psutil.Process(launcher.process.pid).children(), "the export child")
    (child,) = psutil.Process(launcher.process.pid).children()
    lines.close()
    conn.close()
    _wait(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, "its end")
    assert launcher.process.poll() is None  # the launcher itself goes on
    again = export_job.run_isolated(ui, _loaded(30)["key"], options, lambda *_: None)
    assert again[0] == "done"


def test_a_request_too_big_or_from_nowhere_is_refused(launcher: export_launcher.Launcher) -> None:
    """A connection that sends a length over the cap, or garbage, ends its child with an error
    and no outcome; the launcher keeps serving."""
    for payload in (
        (export_launcher.MAX_REQUEST_BYTES + 1).to_bytes(4, "big"),
        (5).to_bytes(4, "big") + b"\x80\x04junk",
    ):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(WAIT_SECONDS)
            conn.connect(launcher.path)
            conn.sendall(payload)
            try:
                said = conn.recv(100)
            except ConnectionResetError:  # closed with bytes of ours unread
                said = b""
            assert said == b""  # closed with nothing said
    assert launcher.process.poll() is None
    assert pickle.loads(pickle.dumps(ExportOptions("payments")))  # the request's own types


def test_no_launcher_or_a_dead_one_means_a_fresh_process(
    ui: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    options = ExportOptions("participants", "standard", "csv")
    for socket_path in ("", str(tmp_path / "no-such-socket")):
        monkeypatch.setenv(export_launcher.LAUNCHER_ENV, socket_path)
        assert export_launcher.connect((ui, "x", options, None, None)) is None
        outcome = export_job.run_isolated(ui, _loaded(30)["key"], options, lambda *_: None)
        assert outcome[0] == "done" and outcome[1]["record_count"] == 30
    assert export_launcher.enabled({})
    assert not export_launcher.enabled({export_launcher.ENABLE_ENV: "0"})
    assert not export_launcher.enabled({export_launcher.ENABLE_ENV: " Off "})


def _master(server: LiveServer) -> psutil.Process:
    """gunicorn's master: the Procfile's process (bash execs it), or bash's one child."""
    assert server.proc is not None
    shell = psutil.Process(server.proc.pid)
    if "gunicorn" in " ".join(shell.cmdline()):
        return shell
    (master,) = shell.children()
    return master


def _launchers(master: int) -> list[psutil.Process]:
    """The launcher processes `master` started (not one killed and not yet reaped)."""
    found = []
    for p in psutil.Process(master).children():
        with contextlib.suppress(psutil.Error):  # gone, or a zombie: no command line
            if "components.export_launcher" in " ".join(p.cmdline()):
                found.append(p)
    return found


def _report(server: LiveServer) -> dict[str, Any]:
    return requests.get(server.url + "/health?detail=1", timeout=10).json()


@pytest.mark.live
def test_gunicorn_master_starts_and_stops_the_launcher(tmp_path: Path) -> None:
    """The master starts one launcher before its workers, which find it (the health report
    says so, as each worker sees it); it ends with the master, its socket's directory too."""
    with LiveServer(tmp_path / "on", workers=2) as server:
        master = _master(server)
        _wait(lambda: _launchers(master.pid), "a launcher child of the master")
        (started,) = _launchers(master.pid)
        assert len(master.children()) == 3  # two workers and the launcher
        _wait(lambda: _report(server)["ui_export_launcher"] == "ready", "a ready launcher")
        said: dict[int, set[str]] = {}  # worker pid -> what it said
        with ThreadPoolExecutor(4) as pool:  # at once, so that both workers answer
            for _ in range(20):
                for report in pool.map(lambda _: _report(server), range(4)):
                    said.setdefault(report["pid"], set()).add(report["ui_export_launcher"])
                if len(said) == 2:
                    break
        assert said and all(s == {"ready"} for s in said.values()), said
        assert len(said) == 2, f"only worker(s) {list(said)} answered"
        log = server.log_path.read_text(encoding="utf-8", errors="replace")  # all of it
        line = next(x for x in log.splitlines() if "export launcher: pid" in x)
        path = line.rsplit("socket ", 1)[1].strip()
        assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
        # A reload (HUP) replaces the workers, which find the same launcher; exit still stops it.
        old = {p.pid for p in master.children()} - {started.pid}
        master.send_signal(signal.SIGHUP)

        def replaced() -> bool:
            now = {p.pid for p in master.children()} - {started.pid}
            return len(now) == 2 and not now & old

        _wait(replaced, "two new workers after HUP")
        assert _launchers(master.pid) == [started]
        _wait(lambda: _report(server)["pid"] not in old, "an answer from a new worker")
        assert _report(server)["ui_export_launcher"] == "ready"
    _wait(lambda: not started.is_running(), "the launcher's end with the master", 15)
    assert not os.path.exists(os.path.dirname(path))
    with LiveServer(tmp_path / "off", workers=1, YBB_UI_EXPORT_LAUNCHER="0") as server:
        assert not _launchers(_master(server).pid)
        assert "export launcher: off" in server.log_path.read_text(encoding="utf-8")
        assert _report(server)["ui_export_launcher"] == "off"


def test_ctrl_c_ends_the_launcher_cleanly() -> None:
    """SIGINT (Ctrl-C on `make run` reaches the whole process group): exit 0, socket gone."""
    started = export_launcher.start({})
    try:
        _wait(lambda: os.path.exists(started.path), "the launcher's socket")
        started.process.send_signal(signal.SIGINT)
        assert started.process.wait(timeout=WAIT_SECONDS) == 0
        assert not os.path.exists(started.path)
    finally:
        started.stop()


def test_the_pool_check_tells_a_fresh_interpreter_from_one_that_ran_a_query() -> None:
    """What keeps a launcher from forking children that would hang: polars' pool threads."""
    code = (
        "import polars as pl\n"
        "from components.export_launcher import WARM_MODULES, polars_pool_started as started\n"
        "for name in WARM_MODULES: __import__(name)\n"
        "before = started()\n"
        "pl.DataFrame({'a': list(range(50000)), 'b': [i % 7 for i in range(50000)]})"
        ".group_by('b').agg(pl.col('a').sum())\n"
        "print(before, started())\n"
    )
    done = python_child(code, timeout=WAIT_SECONDS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_a_launcher_killed_outright_leaves_nothing_for_long(tmp_path: Path) -> None:
    """SIGKILL (a crashed master takes its launcher along) leaves the socket's directory; the
    next start removes it, and leaves live launchers' and others' directories alone."""
    killed = export_launcher.start({})
    live = export_launcher.start({})
    try:
        for started in (killed, live):
            _wait(lambda s=started: os.path.exists(s.path), "the launcher's socket")
        killed.process.kill()
        killed.process.wait(timeout=WAIT_SECONDS)
        assert os.path.exists(killed.path)  # nothing could remove it
        starting = tmp_path / "ybb-launcher-starting"  # no socket yet, just made: left alone
        starting.mkdir()
        gone = tmp_path / "ybb-launcher-gone"  # no socket, long ago: a launcher that never bound
        gone.mkdir()
        long_ago = time.time() - export_launcher.STALE_SECONDS - 60
        os.utime(gone, (long_ago, long_ago))
        (tmp_path / "ybb-launcher-a-file").write_text("not a directory")
        elsewhere = export_launcher.sweep_stale(str(tmp_path))
        assert elsewhere == [str(gone)] and starting.exists()
        assert (tmp_path / "ybb-launcher-a-file").exists()
        removed = export_launcher.sweep_stale()
        assert killed.directory in removed and not os.path.exists(killed.directory)
        assert live.directory not in removed and os.path.exists(live.path)
    finally:
        killed.stop()
        live.stop()


def test_a_launcher_that_ended_is_started_again_on_the_same_socket() -> None:
    environ: dict[str, str] = {}
    started = export_launcher.start(environ)
    try:
        _wait(lambda: os.path.exists(started.path), "the launcher's socket")
        assert started.restart_if_gone() is False  # running: left alone
        first = started.process.pid
        started.process.kill()
        started.process.wait(timeout=WAIT_SECONDS)
        assert started.restart_if_gone() is True
        assert started.process.pid != first
        assert started.path == environ[export_launcher.LAUNCHER_ENV]  # the workers' one
        _wait(
            lambda: export_launcher.probe(started.path) is None,
            "the new launcher on the old socket path",
        )
    finally:
        started.stop()


@pytest.mark.live
def test_gunicorn_starts_a_killed_launcher_again_when_it_next_starts_a_worker(
    tmp_path: Path,
) -> None:
    with LiveServer(tmp_path / "data", workers=2) as server:
        master = _master(server)
        _wait(lambda: _report(server)["ui_export_launcher"] == "ready", "a ready launcher")
        (first,) = _launchers(master.pid)
        first.kill()
        _wait(lambda: _report(server)["ui_export_launcher"] != "ready", "the launcher gone")
        worker = next(p for p in master.children() if p.pid != first.pid)
        worker.terminate()  # the master replaces it, and looks at the launcher first
        _wait(
            lambda: [p.pid for p in _launchers(master.pid)] not in ([], [first.pid]),
            "a new launcher",
        )
        _wait(lambda: _report(server)["ui_export_launcher"] == "ready", "ready again")
        log = server.log_path.read_text(encoding="utf-8", errors="replace")
        assert "export launcher had ended; started again" in log


@pytest.mark.live
def test_a_celery_worker_starts_a_killed_launcher_again(tmp_path: Path) -> None:
    """The Celery worker's main process looks at its launcher every LAUNCHER_CHECK_SECONDS
    (5 s) and starts a killed one again, on the socket path its pool processes know."""
    log = tmp_path / "celery.log"
    with redis_server(tmp_path / "redis") as redis_url:
        env = {
            "YBB_CELERY_BROKER_URL": redis_url,
            "YBB_DATA_DIR": str(tmp_path / "data"),
            "YBB_SECRET_KEY": "launcher-tests",
        }
        with _celery_worker(env, log) as worker:
            _wait(lambda: _launchers(worker.pid), "the Celery worker's launcher")
            (first,) = _launchers(worker.pid)
            path = first.cmdline()[-1]
            _wait(lambda: export_launcher.probe(path) is None, "the launcher's socket")
            first.kill()
            _wait(
                lambda: [p.pid for p in _launchers(worker.pid)] not in ([], [first.pid]),
                "a new launcher",
                seconds=30,
            )
            (second,) = _launchers(worker.pid)
            assert second.cmdline()[-1] == path  # the pool's processes know only that one
            _wait(lambda: export_launcher.probe(path) is None, "the new launcher answering")
    said = log.read_text(encoding="utf-8", errors="replace")
    assert f"export launcher had ended; started again: pid {second.pid}" in said
