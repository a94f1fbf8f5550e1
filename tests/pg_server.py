"""A PostgreSQL server for the tests, and a fresh database per test on it.

The development and CI machines run one on 127.0.0.1:5432 (trust auth, user postgres). When
none answers there, a private one is started once per test session from Debian's `postgresql`
binaries (initdb + pg_ctl in a temp dir, loopback only, on a free port) rather than skipping,
and stopped at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.api.live_server import free_port

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT_SECONDS = 30


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"{name} not found: install Debian's postgresql package (make test does)")


@contextlib.contextmanager
def _private_server() -> Iterator[str]:
    """initdb + pg_ctl start in a temp dir; yields the admin URL; always stops it."""
    work = Path(tempfile.mkdtemp(prefix="ybb-pg-"))
    port = free_port()
    user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if user:  # initdb refuses to run as root
        shutil.chown(work, "postgres")
    data = work / "data"
    subprocess.run(
        [*user, _binary("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -k {work}"
    ctl = [*user, _binary("pg_ctl"), "-D", str(data)]
    wait = ["-w", "-t", str(START_TIMEOUT_SECONDS)]
    subprocess.run(
        [*ctl, "-o", options, "-l", str(work / "log"), *wait, "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "fast", *wait, "stop"], capture_output=True, timeout=60)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def postgres_admin_url() -> Iterator[str]:
    """The admin URL of the machine's PostgreSQL, or of a private one started for the run."""
    url = os.environ.get("YBB_TEST_POSTGRES_URL", DEFAULT_URL)
    if _answers(url):
        yield url
        return
    with _private_server() as private:
        yield private


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """CREATE DATABASE with a random name; yields its URL; always drops it (WITH FORCE ends
    the pool connections the test left open)."""
    name = f"ybb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # generated name
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
