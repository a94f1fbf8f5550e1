"""Shared fixtures: an isolated data dir and settings per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from export_core.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at a fresh data dir under tmp_path."""
    return Settings.from_env({"YBB_DATA_DIR": str(tmp_path / "data"), "YBB_SECRET_KEY": "test"})
