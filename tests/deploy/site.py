"""deploy/nginx-site.conf made runnable on loopback: rendered with a self-signed certificate,
free ports and paths in a temporary directory, inside a minimal nginx.conf, then tested with
`nginx -t` or run in the foreground."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.api.live_server import ROOT, free_port
from tests.processes import stop

SITE = ROOT / "deploy" / "nginx-site.conf"
START_TIMEOUT = 20.0
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# (text in the site file, what it becomes; {names} are filled in), each must occur.
REPLACEMENTS = (
    ("server 127.0.0.1:5000;", "server 127.0.0.1:{app_port};"),
    ("listen 80;", "listen 127.0.0.1:{http_port};"),
    ("listen [::]:80;", ""),
    ("listen 443 ssl http2;", "listen 127.0.0.1:{https_port} ssl http2;"),
    ("listen [::]:443 ssl http2;", ""),
    ("/etc/ssl/ybb-export/fullchain.pem", "{cert}"),
    ("/etc/ssl/ybb-export/privkey.pem", "{key}"),
    ("/var/log/nginx/", "{logs}/"),
)

MAIN_CONF = """
user root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    access_log off;
    include {root}/site.conf;
}}
"""


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost and its key (openssl)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    names = ["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", *names, *files],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class RenderedSite:
    """The rendered configuration and where it listens."""

    root: Path
    conf: Path
    cert: Path
    http_port: int
    https_port: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"


def render(root: Path, app_port: int) -> RenderedSite:
    """Write site.conf and nginx.conf under `root`; every placeholder must have been found."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    cert, key = self_signed_cert(root)
    values = {
        "app_port": app_port,
        "http_port": free_port(),
        "https_port": free_port(),
        "cert": cert,
        "key": key,
        "logs": root / "logs",
    }
    text = SITE.read_text(encoding="utf-8")
    for old, new in REPLACEMENTS:
        assert old in text, f"deploy/nginx-site.conf no longer contains {old!r}"
        text = text.replace(old, new.format(**values))
    (root / "site.conf").write_text(text, encoding="utf-8")
    conf = root / "nginx.conf"
    conf.write_text(MAIN_CONF.format(root=root), encoding="utf-8")
    return RenderedSite(root, conf, cert, int(values["http_port"]), int(values["https_port"]))


def nginx_test(site: RenderedSite) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the rendered configuration."""
    return subprocess.run(
        [NGINX, "-t", "-p", str(site.root), "-c", str(site.conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )


class RunningNginx:
    """nginx in the foreground on the rendered configuration, stopped on exit."""

    def __init__(self, site: RenderedSite) -> None:
        self.site = site
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RunningNginx:
        cmd = [NGINX, "-p", str(self.site.root), "-c", str(self.site.conf), "-g", "daemon off;"]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited: {self.proc.communicate()[1]!r}")
            try:
                socket.create_connection(("127.0.0.1", self.site.https_port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise AssertionError("nginx did not start listening")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop(self.proc, 10)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
