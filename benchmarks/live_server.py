"""Start the Procfile's web command on a loopback port for benchmarks, and watch the workers'
memory and CPU time."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile_command(root: Path = ROOT) -> str:
    for line in (root / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise RuntimeError("Procfile has no web: line")


@contextmanager
def live_server(
    data_dir: Path, workers: int = 2, *, root: Path = ROOT, **env: str
) -> Iterator[tuple[str, int]]:
    """Run the Procfile command of the checkout at `root` (with this checkout's virtualenv);
    yield (base_url, master_pid). Stops it on exit."""
    port = free_port()
    full_env = {
        # Not an allocator setting export_core gave this process (the CLI's), if it imported
        # it: the workers get app/gunicorn_conf.py's, as when the Procfile starts them.
        **{k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"},
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "YBB_DATA_DIR": str(data_dir),
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        **env,
    }
    proc = subprocess.Popen(
        ["bash", "-c", "exec " + procfile_command(root)],
        cwd=root,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {shlex.join(proc.args)}") from None
                time.sleep(0.2)
        yield base, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


CpuUse = tuple[float, float, int | None]  # user s, system s, minor page faults (None: unknown)


def cpu_use(proc: psutil.Process) -> CpuUse:
    """The CPU time `proc` (all its threads) has used so far, and its minor page faults (from
    /proc/<pid>/stat on Linux; psutil does not report them)."""
    times = proc.cpu_times()
    try:
        with open(f"/proc/{proc.pid}/stat", encoding="ascii") as stat:
            faults: int | None = int(stat.read().rpartition(")")[2].split()[7])
    except (OSError, ValueError, IndexError):
        faults = None
    return times.user, times.system, faults


# /proc/<pid>/task/<tid>/children (Linux with CONFIG_PROC_CHILDREN): a process's children
# without scanning every process, which psutil's children() does.
_PROC_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _child_pids(pid: int) -> list[int]:
    """The direct children of `pid` (none if it is gone)."""
    if not _PROC_CHILDREN:
        with contextlib.suppress(psutil.Error):
            return [child.pid for child in psutil.Process(pid).children()]
        return []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:  # any thread may have started a child
        path = f"/proc/{pid}/task/{tid}/children"
        with contextlib.suppress(OSError, ValueError), open(path, encoding="ascii") as children:
            found.extend(int(child) for child in children.read().split())
    return found


def _rss(pid: int) -> tuple[int, int] | None:
    """RSS and its file-backed part (RssFile + RssShmem, as psutil's `shared`) in bytes; None
    if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            fields = {
                name: int(rest.split()[0]) * 1024
                for name, _, rest in (line.partition(":") for line in status)
                if name in ("VmRSS", "RssFile", "RssShmem")
            }
    except (OSError, ValueError):
        with contextlib.suppress(psutil.Error):
            mem = psutil.Process(pid).memory_info()
            return mem.rss, getattr(mem, "shared", 0)
        return None
    if "VmRSS" not in fields:  # a zombie
        return None
    return fields["VmRSS"], fields.get("RssFile", 0) + fields.get("RssShmem", 0)


def _pss_private(pid: int) -> tuple[int | None, int | None]:
    """The process's PSS and private (clean + dirty) memory in bytes, from smaps_rollup."""
    fields: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                name, _, rest = line.partition(":")
                if name in ("Pss", "Private_Clean", "Private_Dirty"):
                    fields[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError):
        return None, None
    if "Pss" not in fields:
        return None, None
    return fields["Pss"], fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)


class WorkerMemoryWatch:
    """Samples the RSS of each gunicorn worker (and, separately, of its child processes), and
    the CPU time and minor page faults each worker used from enter to exit."""

    def __init__(self, master_pid: int, interval: float = 0.02) -> None:
        self.master = psutil.Process(master_pid)
        self.interval = interval
        self.worker_peak: dict[int, int] = {}
        self.worker_peak_file: dict[int, int] = {}  # the file-backed part of that peak
        # At that peak, the worker's proportional set size (shared pages divided among the
        # processes that map them: both workers, the master, the launcher map polars' code)
        # and its private memory; None where /proc/<pid>/smaps_rollup cannot be read.
        self.worker_peak_pss: dict[int, int | None] = {}
        self.worker_peak_private: dict[int, int | None] = {}
        self.children_peak: dict[int, int] = {}
        self.baseline: dict[int, int] = {}
        self._cpu_start: dict[int, CpuUse] = {}
        self.cpu: dict[int, CpuUse] = {}  # per worker: used from enter to exit
        self._kinds: dict[int, bool] = {}  # master's child pid -> is a gunicorn worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _workers(self) -> list[int]:
        """The gunicorn workers' pids. The Procfile runs gunicorn via bash -c exec, so the
        master is the bash pid itself."""
        return [pid for pid in _child_pids(self.master.pid) if self._is_worker(pid)]

    def _is_worker(self, pid: int) -> bool:
        """Whether the master's child `pid` is a gunicorn worker (not the export launcher);
        its command line read once."""
        if pid not in self._kinds:
            try:
                self._kinds[pid] = "gunicorn" in " ".join(psutil.Process(pid).cmdline())
            except psutil.Error:
                return False
        return self._kinds[pid]

    def _descendants_rss(self, pid: int) -> int:
        total, todo = 0, _child_pids(pid)
        while todo:
            child = todo.pop()
            got = _rss(child)
            if got is not None:
                total += got[0]
            todo.extend(_child_pids(child))
        return total

    def _sample(self) -> None:
        """Each worker's RSS (and its helpers'), from /proc: ~0.1 ms, where psutil's process
        scans took ~3 ms of a core every 20 ms beside the request measured."""
        for pid in self._workers():
            got = _rss(pid)
            if got is None:
                continue
            rss, file_backed = got
            kids = self._descendants_rss(pid)
            self.baseline.setdefault(pid, rss)
            if rss > self.worker_peak.get(pid, 0):
                self.worker_peak[pid] = rss
                # Linux: pages mapped from files (code, mostly) within that RSS.
                self.worker_peak_file[pid] = file_backed
                # Read on a new peak only: smaps_rollup takes ~0.6 ms and the worker's mmap
                # lock, so every 20 ms it would disturb what it measures.
                pss, private = _pss_private(pid)
                self.worker_peak_pss[pid] = pss
                self.worker_peak_private[pid] = private
            self.children_peak[pid] = max(self.children_peak.get(pid, 0), kids)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def _cpu_now(self) -> dict[int, CpuUse]:
        now = {}
        for pid in self._workers():
            with contextlib.suppress(psutil.Error):
                now[pid] = cpu_use(psutil.Process(pid))
        return now

    def __enter__(self) -> WorkerMemoryWatch:
        self._cpu_start = self._cpu_now()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for pid, (user, system, faults) in self._cpu_now().items():
            if pid in self._cpu_start:
                user0, system0, faults0 = self._cpu_start[pid]
                grown = None if faults is None or faults0 is None else faults - faults0
                self.cpu[pid] = (user - user0, system - system0, grown)

    def serving_worker(self) -> int:
        """The worker that served the request: the one that used the most CPU time (else, if
        no CPU time was measured, the one whose memory grew the most)."""
        if self.cpu:
            return max(self.cpu, key=lambda p: self.cpu[p][0] + self.cpu[p][1])
        return max(self.worker_peak, key=lambda p: self.worker_peak[p] - self.baseline[p])
