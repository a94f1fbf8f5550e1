"""Optional API key, CORS, request ids and the per-request log line."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient

from .conftest import AppFactory, participants
from .envelope import assert_error_envelope

PROTECTED = [
    ("GET", "/api/ybb/templates"),
    ("GET", "/api/ybb/status-mappings"),
    ("GET", "/api/ybb/exports"),
    ("GET", "/api/ybb/openapi.json"),
    ("POST", "/api/ybb/export/participants"),
    ("GET", "/api/export/00000000-0000-0000-0000-000000000000/download"),
    ("POST", "/api/ybb/cleanup"),
]


@pytest.fixture
def keyed(make_app: AppFactory) -> FlaskClient:
    return make_app(YBB_API_KEY="s3cret-key").test_client()


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_key_required_when_configured(keyed: FlaskClient, method: str, path: str) -> None:
    resp = keyed.open(path, method=method, json={"data": participants(1)})
    body = assert_error_envelope(resp, 401)
    assert body["error_code"] == "UNAUTHORIZED"
    assert_error_envelope(keyed.open(path, method=method, headers={"X-API-Key": "wrong"}), 401)


def test_key_accepted_in_either_header(keyed: FlaskClient) -> None:
    assert keyed.get("/api/ybb/templates", headers={"X-API-Key": "s3cret-key"}).status_code == 200
    bearer = {"Authorization": "Bearer s3cret-key"}
    assert keyed.get("/api/ybb/templates", headers=bearer).status_code == 200
    non_ascii = {"X-API-Key": "sécret".encode().decode("latin-1")}
    assert_error_envelope(keyed.get("/api/ybb/templates", headers=non_ascii), 401)


def test_health_stays_open_and_openapi_declares_security(keyed: FlaskClient) -> None:
    assert keyed.get("/health").status_code == 200
    doc = keyed.get("/api/ybb/openapi.json", headers={"X-API-Key": "s3cret-key"}).get_json()
    assert "apiKey" in doc["components"]["securitySchemes"]
    assert "security" not in doc["paths"]["/health"]["get"]


def test_no_key_configured_means_open(client: FlaskClient) -> None:
    assert client.get("/api/ybb/templates").status_code == 200
    assert "securitySchemes" not in client.get("/api/ybb/openapi.json").get_json()["components"]


def test_cors_only_for_allowed_origins(make_app: AppFactory) -> None:
    client = make_app(YBB_ALLOWED_ORIGINS="https://app.example.org").test_client()
    ok = client.get("/api/ybb/templates", headers={"Origin": "https://app.example.org"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert "Origin" in ok.headers["Vary"]
    other = client.get("/api/ybb/templates", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_preflight_is_answered_without_a_key(make_app: AppFactory) -> None:
    client = make_app(YBB_ALLOWED_ORIGINS="https://app.example.org", YBB_API_KEY="k").test_client()
    resp = client.options(
        "/api/ybb/export/participants",
        headers={
            "Origin": "https://app.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, X-API-Key",
        },
    )
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert "X-API-Key" in resp.headers["Access-Control-Allow-Headers"]


def test_no_wildcard_origin_when_a_key_is_set(make_app: AppFactory) -> None:
    open_client = make_app(YBB_ALLOWED_ORIGINS="*").test_client()
    resp = open_client.get("/api/ybb/templates", headers={"Origin": "https://x.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    keyed = make_app(YBB_ALLOWED_ORIGINS="*", YBB_API_KEY="k").test_client()
    resp = keyed.get(
        "/api/ybb/templates", headers={"Origin": "https://x.example", "X-API-Key": "k"}
    )
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_request_id_is_echoed_or_generated(client: FlaskClient) -> None:
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    generated = client.get("/health", headers={"X-Request-ID": "x" * 300}).headers["X-Request-ID"]
    assert generated != "x" * 300 and len(generated) == 32
    assert client.get("/api/ybb/nope").headers["X-Request-ID"]


def test_one_log_line_per_request_without_contents_or_key(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(YBB_API_KEY="s3cret-key").test_client()
    caplog.set_level(logging.INFO, logger="ybb.access")
    resp = client.post(
        "/api/ybb/export/participants",
        json={"data": participants(2)},
        headers={"X-API-Key": "s3cret-key", "X-Request-ID": "log-test-1"},
    )
    export_id = resp.get_json()["data"]["export_id"]
    lines = [r.getMessage() for r in caplog.records if r.name == "ybb.access"]
    assert len(lines) == 1
    line = lines[0]
    for part in (
        "method=POST",
        "path=/api/ybb/export/participants",
        "status=200",
        "request_id=log-test-1",
        f"export_id={export_id}",
        "duration_ms=",
    ):
        assert part in line
    assert "s3cret-key" not in caplog.text
    assert "p1@example.com" not in caplog.text
