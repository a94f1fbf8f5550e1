"""GET /health answers the seed's shape, and / serves the UI shell."""

from __future__ import annotations

from datetime import datetime

from app import create_app
from export_core.settings import Settings


def test_health_has_the_seed_shape(settings: Settings) -> None:
    client = create_app(settings).server.test_client()
    resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"status", "timestamp", "service", "version"}
    assert body["status"] == "healthy"
    assert body["service"] == "YBB Data Processing Service"
    assert body["version"] == "1.0.0"
    datetime.fromisoformat(body["timestamp"])


def test_root_serves_the_dash_page(settings: Settings) -> None:
    client = create_app(settings).server.test_client()
    resp = client.get("/")
    assert resp.status_code == 200
    assert b"YBB Export Studio" in resp.data
