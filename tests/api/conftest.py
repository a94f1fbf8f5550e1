"""Fixtures for API tests: an app built on a fresh data dir, its test client and its store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from app.api.context import EXTENSION, ApiContext
from export_core.settings import Settings

AppFactory = Callable[..., Any]


class BufferedClient(FlaskClient):
    """A test client that reads each response fully and closes it (file downloads included),
    so no file handle is left for the garbage collector."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module with STORE_BACKENDS = ("sqlite", "postgres") runs each test on each of them."""
    backends = getattr(metafunc.module, "STORE_BACKENDS", None)
    if backends and "backend_env" in metafunc.fixturenames:
        metafunc.parametrize("backend_env", backends, indirect=True)


@pytest.fixture
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment selecting the metadata backend (the embedded SQLite one by default;
    PostgreSQL on a fresh database per test when parametrised so)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return {}
    return {"YBB_STORE": "postgres", "DATABASE_URL": request.getfixturevalue("database_url")}


@pytest.fixture
def settings(tmp_path: Path, backend_env: dict[str, str]) -> Settings:
    """Settings pointing at a fresh data dir under tmp_path, on the backend under test."""
    values = {"YBB_DATA_DIR": str(tmp_path / "data"), "YBB_SECRET_KEY": "test"}
    return Settings.from_env({**values, **backend_env})


@pytest.fixture
def make_app(tmp_path: Path, backend_env: dict[str, str]) -> AppFactory:
    """Build the whole app with extra YBB_* settings, e.g. make_app(YBB_API_KEY="k")."""

    def build(**env: str) -> Any:
        values = {"YBB_DATA_DIR": str(tmp_path / "data"), "YBB_SECRET_KEY": "test"}
        values = {**values, **backend_env, **env}
        server = create_app(Settings.from_env(values)).server
        server.test_client_class = BufferedClient
        return server

    return build


@pytest.fixture
def server(make_app: AppFactory) -> Any:
    return make_app()


@pytest.fixture
def client(server: Any) -> FlaskClient:
    return server.test_client()


@pytest.fixture
def ctx(server: Any) -> ApiContext:
    context: ApiContext = server.extensions[EXTENSION]
    return context


def participants(n: int, start: int = 1) -> list[dict[str, Any]]:
    """`n` plausible participant records."""
    return [
        {
            "id": i,
            "form_id": f"YBB2024_{i:05d}",
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "email": f"p{i}@example.com",
            "phone": "+1234567890",
            "birthdate": "1995-05-15",
            "nationality": "American",
            "state": "California",
            "form_status": 1 + i % 4,
            "is_active": i % 2,
            "created_at": "2024-01-15 10:30:00",
            "updated_at": "2024-01-15 10:30:00",
        }
        for i in range(start, start + n)
    ]


def sample_records(export_type: str, n: int = 3) -> list[dict[str, Any]]:
    """`n` records of any data type."""
    if export_type == "participants":
        return participants(n)
    if export_type == "payments":
        return [
            {
                "id": i,
                "participant_id": i,
                "payment_method_id": 1,
                "amount": 1500.0,
                "usd_amount": 1500.0,
                "payment_date": "2024-01-20",
                "payment_status": 2,
                "reference_number": f"PAY_{i:03d}",
                "notes": "Registration fee",
            }
            for i in range(1, n + 1)
        ]
    return [
        {
            "id": i,
            "participant_id": i,
            "ambassador_code": f"AMB_{i:03d}",
            "category": "university",
            "status": "active",
            "referral_count": 15,
            "commission_earned": 750.0,
        }
        for i in range(1, n + 1)
    ]
