"""Shared fixtures: an isolated data dir and settings per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from export_core.settings import Settings
from export_core.store.pg import close_databases
from tests.pg_server import fresh_database, postgres_admin_url
from tests.s3_server import S3Server, s3_server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at a fresh data dir under tmp_path."""
    return Settings.from_env({"YBB_DATA_DIR": str(tmp_path / "data"), "YBB_SECRET_KEY": "test"})


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[str]:
    """Admin URL of a PostgreSQL server (the machine's, or a private one started now)."""
    with postgres_admin_url() as url:
        yield url


@pytest.fixture
def database_url(postgres_admin: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    with fresh_database(postgres_admin) as url:
        yield url
        close_databases(url)


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A moto S3 server process on loopback for the whole session."""
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server
