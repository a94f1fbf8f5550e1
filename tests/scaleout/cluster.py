"""Two app "machines" behind a real nginx, for the multi-machine tests.

Each machine is a separate gunicorn (the Procfile's command, several workers) with its OWN
local YBB_DATA_DIR; they share only what real machines would: PostgreSQL (metadata), an
S3-protocol server (files) and Redis (UI upload cache). nginx (Debian's) runs on
deploy/nginx.conf with the upstream addresses and listen port rewritten to loopback ports.
X-Served-By (YBB_SERVED_BY_HEADER=1) names the worker pid that answered, which tells the
machines apart."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

from tests.api.live_server import ROOT, LiveServer, free_port
from tests.processes import stop
from tests.redis_server import redis_server
from tests.s3_server import S3Server

NGINX_CONF = ROOT / "deploy" / "nginx.conf"
START_TIMEOUT_SECONDS = 20


def render_nginx(site: str, upstreams: list[str], port: int, work: Path) -> str:
    """deploy/nginx.conf with `upstreams` and `port`, inside a main config using `work`."""
    servers = iter(upstreams)
    site, count = re.subn(r"server app\d+:8000", lambda _m: f"server {next(servers)}", site)
    assert count == len(upstreams), "deploy/nginx.conf must list one server per machine"
    site, count = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", site)
    assert count == 1
    user = "user root;\n" if os.geteuid() == 0 else ""  # temp dirs are in a 0700 tmp dir
    temps = "".join(
        f"    {kind}_temp_path {work / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\ndaemon off;\npid {work / 'nginx.pid'};\n"
        f"error_log {work / 'error.log'} warn;\nevents {{ worker_connections 512; }}\n"
        f"http {{\n    access_log {work / 'access.log'};\n{temps}{site}\n}}\n"
    )


class Nginx:
    """A real nginx process on a free loopback port in front of `upstreams`."""

    def __init__(self, work: Path, upstreams: list[str]) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.work = work
        conf = work / "nginx.conf"
        site = NGINX_CONF.read_text(encoding="utf-8")
        conf.write_text(render_nginx(site, upstreams, self.port, work), encoding="utf-8")
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        check = subprocess.run([binary, "-t", "-c", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                requests.get(f"{self.url}/health", timeout=2)
                return
            except requests.RequestException:
                assert self.proc.poll() is None and time.monotonic() < deadline, self.errors()
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def errors(self) -> str:
        path = self.work / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        """QUIT-free stop: TERM (fast shutdown), bounded."""
        stop(self.proc, grace_seconds=10)  # type: ignore[arg-type]


@dataclass
class Tally:
    """The figures the issue asks for."""

    crossings: int = 0  # operations answered by a machine other than the export's creator
    lost: int = 0  # exports one machine created that the other could not read
    duplicate_cleanups: int = 0  # exports removed by more than one cleanup
    answered_by: Counter[str] = field(default_factory=Counter)

    def report(self) -> str:
        return (
            f"operations crossing machines: {self.crossings}; exports lost: {self.lost}; "
            f"duplicate cleanups: {self.duplicate_cleanups}; answers per machine: "
            f"{dict(self.answered_by)}"
        )


class Cluster:
    """Two machines + nginx; requests through nginx, steered and attributed by machine."""

    def __init__(self, machines: dict[str, LiveServer], nginx: Nginx) -> None:
        self.machines = machines
        self.nginx = nginx
        self.tally = Tally()
        self.session = requests.Session()

    def machine_of(self, resp: requests.Response) -> str:
        """Which machine's worker answered (from X-Served-By)."""
        pid = int(resp.headers["X-Served-By"])
        for name, live in self.machines.items():
            assert live.proc is not None
            if live.proc.poll() is not None:
                continue  # killed
            if pid in {p.pid for p in psutil.Process(live.proc.pid).children(recursive=True)}:
                return name
        raise AssertionError(f"pid {pid} belongs to no machine")

    def other(self, name: str) -> str:
        return next(n for n in self.machines if n != name)

    def request(self, method: str, path: str, *, on: str | None = None, **kw: Any) -> Any:
        """`method path` through nginx. With `on`, nginx is first steered (its round robin
        over the two upstreams alternates) so this request lands on machine `on`; asserted."""
        if on is not None:
            self._steer(on)
        kw.setdefault("timeout", 120)
        resp = self.session.request(method, f"{self.nginx.url}{path}", **kw)
        answered = self.machine_of(resp)
        self.tally.answered_by[answered] += 1
        if on is not None:
            assert answered == on, f"nginx sent {method} {path} to {answered}, not {on}"
        return resp

    def _steer(self, target: str) -> None:
        for _ in range(6):
            resp = self.session.get(f"{self.nginx.url}/health", timeout=10)
            if self.machine_of(resp) != target:
                return  # round robin: the next request goes to the target
        raise AssertionError(f"nginx kept answering from {target}")

    def kill(self, name: str) -> None:
        """SIGKILL a whole machine (gunicorn master and workers): a crash, not a shutdown."""
        live = self.machines[name]
        assert live.proc is not None
        os.killpg(live.proc.pid, signal.SIGKILL)
        live.proc.wait(timeout=10)


@contextlib.contextmanager
def two_machines(work: Path, database_url: str, s3: S3Server, **extra: str) -> Iterator[Cluster]:
    """Machines A and B (2 workers each, their own data dirs) on `database_url`, a new bucket
    on `s3` and a private Redis, behind nginx; everything stopped afterwards."""
    with redis_server(work / "redis") as redis_url:
        shared = {
            "YBB_STORE": "postgres",
            "DATABASE_URL": database_url,
            **s3.env(s3.new_bucket()),
            "CACHE_REDIS_URL": redis_url,
            # no periodic rounds during the tests; each worker still runs one round when it
            # serves its first request (CleanupScheduler.ensure_started)
            "YBB_CLEANUP_INTERVAL_SECONDS": "3600",
            **{k: v.replace("{redis}", redis_url) for k, v in extra.items()},
        }
        machines = {}
        for name in ("A", "B"):
            (work / name).mkdir(parents=True)
            machines[name] = LiveServer(work / name / "data", workers=2, **shared)
        started: list[LiveServer] = []
        nginx: Nginx | None = None
        try:
            for live in machines.values():
                started.append(live.start())
            nginx = Nginx(work / "nginx", [f"127.0.0.1:{m.port}" for m in machines.values()])
            yield Cluster(machines, nginx)
        finally:
            if nginx is not None:
                nginx.stop()
            for live in started:
                live.stop()
