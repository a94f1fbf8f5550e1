"""A warm start for the UI's export processes (components.export_job).

Each export the page starts runs in a process of its own: a fresh interpreter, because the web
worker (and so the job Dash forks from it) has started polars' thread pool, which deadlocks in
a forked child. A fresh interpreter spends ~0.2 s importing the engine and ~0.07 s flask (through
flask-caching) before it reads a row: a third of what a 50,000-row Excel export takes from the
click to the download link (docs/PERFORMANCE.md, thirteenth round).

The launcher is that interpreter, started once: gunicorn's master starts it (`start`, from
app/gunicorn_conf.py; a Celery worker before its pool, app/celery_worker.py) with the engine
imported but polars never run, so its thread pool does not exist yet, and for each export it
forks a child that is what `python -m components.export_job` would be once its imports are
done. The job talks to the child over a Unix socket, in the same JSON lines the fresh process
prints (export_job.run_isolated):

* the job connects to the socket named by LAUNCHER_ENV (a 0700 directory of its own; the
  launcher also refuses a peer of another user), sends the pickled request (4-byte length
  first) and reads the child's lines until the outcome;
* the child is not the job's child, so PR_SET_PDEATHSIG cannot tie it to the job: it watches
  the socket instead, and kills itself when the job's end closes (Cancel: Dash kills the job),
  as the fresh process dies with its parent.

Where there is no launcher (the dev server, tests in one process, YBB_UI_EXPORT_LAUNCHER=0) or
it cannot be reached, the job starts a fresh interpreter as before; nothing else changes. The
launcher dies with the process that started it (PR_SET_PDEATHSIG); gunicorn's master starts one
that has ended again before it next starts a worker (`Launcher.restart_if_gone`)."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("ybb.ui.launcher")
LAUNCHER_ENV = "YBB_EXPORT_LAUNCHER_SOCKET"  # set by the master for its workers
ENABLE_ENV = "YBB_UI_EXPORT_LAUNCHER"  # "0" / "false" / "off": no launcher
ROOT = Path(__file__).resolve().parent.parent
_LENGTH = struct.Struct("!I")
MAX_REQUEST_BYTES = 1 << 20  # a pickled request is a few KB (settings, key, options)
CONNECT_TIMEOUT_SECONDS = 2.0
# Modules a child would otherwise import first: the engine, the upload cache (flask-caching),
# both stores' code. Importing them runs no polars query, so polars' pool is not started.
WARM_MODULES = (
    "components.export_job",
    "components.upload_cache",
    "export_core.store.sqlite",
    "export_core.writers.xlsx",
    "export_core.writers.csv",
)


def enabled(environ: Any = os.environ) -> bool:
    """Whether the master should start a launcher (YBB_UI_EXPORT_LAUNCHER, on by default)."""
    value = str(environ.get(ENABLE_ENV, "1")).strip().lower()
    return value not in {"0", "false", "no", "off"}


class Launcher:
    """A running launcher process (the master's handle): its socket and how to stop it."""

    def __init__(self, process: subprocess.Popen[bytes], directory: str, path: str) -> None:
        self.process, self.directory, self.path = process, directory, path

    def restart_if_gone(self) -> bool:
        """Start the launcher again, on the same socket path (the workers know only that one),
        if it has ended (killed, crashed); True if it had. Its replacement binds a new socket
        and renames it over the dead one."""
        if self.process.poll() is None:
            return False
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self.process = _spawn(self.path)
        return True

    def stop(self) -> None:
        """End the launcher (its children are left to finish: each ends with its job) and
        remove its socket's directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


_PREFIX = "ybb-launcher-"
STALE_SECONDS = 600  # a directory without a socket this old is no launcher still starting


def sweep_stale(root: str | None = None) -> list[str]:
    """Remove this user's launcher directories that a launcher killed outright (SIGKILL, a
    crash of the master) left in `root` (the temp dir): their socket refuses connections, or
    there is none and the directory is old. Returns what was removed."""
    root = root or tempfile.gettempdir()
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            if not entry.name.startswith(_PREFIX) or not entry.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if info.st_uid == os.getuid() and _dead(entry.path, info.st_mtime):
                    shutil.rmtree(entry.path)
                    removed.append(entry.path)
    return removed


def _dead(directory: str, made: float) -> bool:
    path = os.path.join(directory, "socket")
    if not os.path.exists(path):
        return time.time() - made > STALE_SECONDS
    # A socket file nobody listens on: refused. (Other errors: leave it be.)
    return isinstance(probe(path), ConnectionRefusedError)


def probe(path: str) -> OSError | None:
    """Connect to the launcher socket at `path` and hang up (its child for this connection
    ends at once): None if it answered, else why not."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(CONNECT_TIMEOUT_SECONDS)
        try:
            conn.connect(path)
        except OSError as exc:
            return exc
    return None


def start(environ: Any = os.environ) -> Launcher:
    """Start a launcher (`python -m components.export_launcher`) that dies with this process,
    and name its socket in `environ` for the processes this one forks from now on. The socket
    appears once its imports are done (~0.3 s); until then jobs start fresh interpreters.
    Directories of launchers that were killed outright are removed first (`sweep_stale`)."""
    for path in sweep_stale():
        log.info("removed a dead export launcher's directory %s", path)
    directory = tempfile.mkdtemp(prefix=_PREFIX)  # 0700: only this user gets in
    path = os.path.join(directory, "socket")
    process = _spawn(path)
    environ[LAUNCHER_ENV] = path
    return Launcher(process, directory, path)


def _spawn(path: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "components.export_launcher", str(os.getpid()), path],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def connect(request: tuple[Any, ...]) -> socket.socket | None:
    """A connection to a child of the launcher named in the environment, `request` sent to it;
    None when there is no launcher or it cannot be reached (the caller starts a fresh
    process instead)."""
    path = os.environ.get(LAUNCHER_ENV, "")
    if not path:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(CONNECT_TIMEOUT_SECONDS)
        conn.connect(path)
        payload = pickle.dumps(request)
        conn.sendall(_LENGTH.pack(len(payload)) + payload)
        conn.settimeout(None)
    except OSError as exc:
        conn.close()
        log.info("export launcher out of reach (%s): starting a fresh export process", exc)
        return None
    return conn


def status() -> str:
    """What this process would get from the launcher, for the health report: "off" (none
    named: exports start fresh interpreters), "ready", or "unreachable: <why>" (they start
    fresh interpreters too: slower, nothing lost)."""
    path = os.environ.get(LAUNCHER_ENV, "")
    if not path:
        return "off"
    refused = probe(path)
    return "ready" if refused is None else f"unreachable: {refused.strerror or refused}"


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 65536))
        if not chunk:
            raise EOFError("the job closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _die_when_closed(conn: socket.socket) -> None:
    """In the child: end this process (SIGKILL, as PR_SET_PDEATHSIG ends a fresh one) when the
    job's end of `conn` closes. The job sends nothing after the request."""
    with contextlib.suppress(OSError):
        while conn.recv(4096):
            pass
    os.kill(os.getpid(), signal.SIGKILL)


def _child(conn: socket.socket) -> None:
    """A forked child: read the request, run the export, write its lines to `conn`."""
    from components import export_job

    try:
        (size,) = _LENGTH.unpack(_read_exactly(conn, _LENGTH.size))
    except EOFError:  # connected and closed: a `probe`, nothing to do
        return
    if size > MAX_REQUEST_BYTES:
        raise ValueError(f"request of {size} bytes refused")
    settings, key, options, export_id, request_id = pickle.loads(_read_exactly(conn, size))
    threading.Thread(target=_die_when_closed, args=(conn,), daemon=True).start()
    lines = conn.makefile("w", encoding="utf-8")
    export_job._worker(settings, key, options, export_id, export_job._Lines(lines), request_id)
    lines.flush()


def _same_user(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


def _fork_child(conn: socket.socket, listener: socket.socket) -> None:
    """Fork a child to serve `conn`; the launcher goes back to accepting at once."""
    try:
        pid = os.fork()
    except OSError as exc:  # no process to be had now: this export fails, the next may not
        log.error("export launcher could not fork: %s", exc)
        conn.close()
        return
    if pid:
        conn.close()
        return
    code = 0
    try:
        listener.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it as it ends the server
        _child(conn)
    except BaseException:
        logging.getLogger("ybb.ui.launcher").exception("export child failed")
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def polars_pool_started() -> bool:
    """Whether this process runs threads of polars' compute pool (a forked child of such a
    process deadlocks in its first parallel query)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return False
    names = []
    for task in tasks.iterdir():
        with contextlib.suppress(OSError):
            names.append((task / "comm").read_text().strip())
    return any(name.startswith("polars-") and "ooc" not in name for name in names)


def serve(master: int, path: str) -> None:
    """The launcher's loop: import the engine, listen on `path`, fork a child per export."""
    from components import export_job

    export_job._die_with_parent(master)
    for name in WARM_MODULES:
        __import__(name)
    if polars_pool_started():  # an import ran a query: forked children would hang
        log.error("export launcher not started: polars' thread pool runs in it")
        return
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for stop in (signal.SIGTERM, signal.SIGINT):  # SIGINT: Ctrl-C on `make run`
        signal.signal(stop, lambda *_: sys.exit(0))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")  # renamed once listening: a job never finds a dead socket
    listener.listen(64)
    os.replace(path + ".new", path)
    started = time.monotonic()
    log.info("export launcher ready (pid %d) on %s", os.getpid(), path)
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError as exc:  # out of descriptors, say: wait, keep serving
                log.warning("export launcher: accept failed: %s", exc)
                time.sleep(0.5)
                continue
            if not _same_user(conn):
                conn.close()
                continue
            _fork_child(conn, listener)
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        log.info("export launcher stopped after %.0f s", time.monotonic() - started)


def main() -> None:
    """`python -m components.export_launcher <master pid> <socket path>`. gunicorn's master
    reaps it when it ends (gunicorn 27 reaps every child, and takes one that is not a worker
    for no worker: its exit code cannot halt the server)."""
    from export_core.logs import configure_logging

    level = os.environ.get("YBB_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    fmt = os.environ.get("YBB_LOG_FORMAT", "text").strip().lower() or "text"
    configure_logging(level, fmt if fmt in {"text", "json"} else "text")
    serve(int(sys.argv[1]), sys.argv[2])


if __name__ == "__main__":
    main()
