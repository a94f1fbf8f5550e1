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


class WorkerMemoryWatch:
    """Samples the RSS of each gunicorn worker (and, separately, of its child processes), and
    the CPU time and minor page faults each worker used from enter to exit."""

    def __init__(self, master_pid: int, interval: float = 0.02) -> None:
        self.master = psutil.Process(master_pid)
        self.interval = interval
        self.worker_peak: dict[int, int] = {}
        self.worker_peak_file: dict[int, int] = {}  # the file-backed part of that peak
        self.children_peak: dict[int, int] = {}
        self.baseline: dict[int, int] = {}
        self._cpu_start: dict[int, CpuUse] = {}
        self.cpu: dict[int, CpuUse] = {}  # per worker: used from enter to exit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _workers(self) -> list[psutil.Process]:
        # The Procfile runs gunicorn via bash -c exec, so the master is the bash pid itself.
        return [p for p in self.master.children() if "gunicorn" in " ".join(p.cmdline())]

    def _sample(self) -> None:
        for worker in self._workers():
            try:
                mem = worker.memory_info()
                kids = sum(c.memory_info().rss for c in worker.children(recursive=True))
            except psutil.Error:
                continue
            rss = mem.rss
            self.baseline.setdefault(worker.pid, rss)
            if rss > self.worker_peak.get(worker.pid, 0):
                self.worker_peak[worker.pid] = rss
                # Linux: pages mapped from files (code, mostly) within that RSS; psutil's
                # `shared` is /proc's RssFile + RssShmem, 0 where it has no such field.
                self.worker_peak_file[worker.pid] = getattr(mem, "shared", 0)
            self.children_peak[worker.pid] = max(self.children_peak.get(worker.pid, 0), kids)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def _cpu_now(self) -> dict[int, CpuUse]:
        now = {}
        for worker in self._workers():
            with contextlib.suppress(psutil.Error):
                now[worker.pid] = cpu_use(worker)
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
