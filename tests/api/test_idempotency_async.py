"""Idempotency-Key semantics and async exports (202, polling, 409 before ready), on both
metadata backends (SQLite, PostgreSQL)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.api.body import request_hash
from app.api.context import ApiContext
from export_core import readers
from export_core.model import ExportOptions

from .conftest import participants
from .envelope import assert_error_envelope

EXPORT = "/api/ybb/export/participants"
STORE_BACKENDS = ("sqlite", "postgres")  # every test here runs on both (tests/api/conftest.py)


def post(client: FlaskClient, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(EXPORT, json=body, headers=headers)


def export_dirs(ctx: ApiContext) -> list[str]:
    return sorted(p.name for p in ctx.settings.exports_dir.iterdir())


def test_same_key_same_body_returns_the_first_result(client: FlaskClient, ctx: ApiContext) -> None:
    body = {"data": participants(3), "template": "standard"}
    first = post(client, body, "key-1")
    assert first.status_code == 200
    reordered = {"template": "standard", "data": participants(3)}  # same content, other order
    again = post(client, reordered, "key-1")
    assert again.status_code == 200
    assert again.data == first.data
    assert again.headers["Idempotent-Replayed"] == "true"
    assert export_dirs(ctx) == [first.get_json()["data"]["export_id"]]


def test_same_key_other_body_is_422(client: FlaskClient) -> None:
    assert post(client, {"data": participants(3)}, "key-2").status_code == 200
    resp = post(client, {"data": participants(4)}, "key-2")
    body = assert_error_envelope(resp, 422)
    assert body["error_code"] == "IDEMPOTENCY_CONFLICT"


def test_same_key_while_the_first_is_running_is_409(client: FlaskClient, ctx: ApiContext) -> None:
    body = {"data": participants(3)}
    assert ctx.store.claim_idempotency_key("key-3", request_hash(EXPORT, body)) is None
    resp = post(client, body, "key-3")
    assert_error_envelope(resp, 409)
    assert resp.get_json()["error_code"] == "IDEMPOTENCY_IN_PROGRESS"


def test_server_errors_are_not_remembered(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = readers.plain_frame
    calls = {"n": 0}

    def flaky(records: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("temporary failure")
        return real(records, *args, **kwargs)

    monkeypatch.setattr(readers, "plain_frame", flaky)
    body = {"data": participants(3)}
    assert_error_envelope(post(client, body, "key-4"), 500, "Export failed: temporary failure")
    retry = post(client, body, "key-4")
    assert retry.status_code == 200
    assert "Idempotent-Replayed" not in retry.headers


def test_client_errors_are_remembered(client: FlaskClient) -> None:
    body = {"data": participants(1), "template": "nope"}
    first = post(client, body, "key-5")
    assert_error_envelope(first, 400, "Template 'nope' not found for participants")
    again = post(client, body, "key-5")
    assert again.data == first.data and again.headers["Idempotent-Replayed"] == "true"


def test_busy_is_not_remembered(make_app: Any) -> None:
    server = make_app(YBB_MAX_CONCURRENT_EXPORTS="1")
    ctx: ApiContext = server.extensions["ybb_api"]
    client = server.test_client()
    held = ctx.store.begin(ExportOptions("participants"), 1)
    body = {"data": participants(2)}
    assert_error_envelope(post(client, body, "key-6"), 429)
    ctx.store.delete(held.export_id)
    assert post(client, body, "key-6").status_code == 200


def wait_for_state(client: FlaskClient, url: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(url).get_json()
        if body["state"] != "processing" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_async_export_answers_202_then_completes(client: FlaskClient) -> None:
    resp = post(client, {"data": participants(6000), "template": "complete", "async": True})
    assert resp.status_code == 202
    body = resp.get_json()
    data = body["data"]
    assert body["status"] == "success" and data["state"] == "processing"
    assert data["status_url"] == f"/api/ybb/export/{data['export_id']}/status"
    assert resp.headers["Location"] == data["status_url"]
    assert body["export_strategy"] == "multi_file"
    done = wait_for_state(client, data["status_url"])
    assert done["state"] == "completed" and done["progress"] == 100
    assert done["total_files"] == 3 and done["export_strategy"] == "multi_file"
    assert client.get(done["download_url"]).headers["Content-Type"] == "application/zip"


def test_download_before_ready_is_409(client: FlaskClient, ctx: ApiContext) -> None:
    record = ctx.store.begin(ExportOptions("participants"), 3)
    status = client.get(f"/api/ybb/export/{record.export_id}/status").get_json()
    assert (status["state"], status["progress"]) == ("processing", 0)
    assert "download_url" not in status and "export_strategy" not in status  # one file
    for suffix in ("/download", "/download/zip", "/download/batch/1"):
        resp = client.get(f"/api/ybb/export/{record.export_id}{suffix}")
        assert_error_envelope(resp, 409, "Export is still processing")


def test_async_failure_shows_in_status(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr("export_core.service.write_export", broken)
    data = post(client, {"data": participants(3), "async": True}).get_json()["data"]
    done = wait_for_state(client, data["status_url"])
    assert done["state"] == "failed"
    assert done["error"] == "Could not write export files: disk full"
    resp = client.get(f"/api/ybb/export/{data['export_id']}/download")
    body = assert_error_envelope(resp, 404)
    assert "disk full" in body["message"]


def test_failed_async_export_releases_its_key(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from export_core import service

    real = service.write_export

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    body = {"data": participants(3), "async": True}
    monkeypatch.setattr("export_core.service.write_export", broken)
    first = post(client, body, key="retry-after-failure").get_json()["data"]
    assert wait_for_state(client, first["status_url"])["state"] == "failed"
    monkeypatch.setattr("export_core.service.write_export", real)
    retry = post(client, body, key="retry-after-failure")
    assert retry.status_code == 202 and "Idempotent-Replayed" not in retry.headers
    second = retry.get_json()["data"]
    assert second["export_id"] != first["export_id"]
    assert wait_for_state(client, second["status_url"])["state"] == "completed"
    # ... and from now on the key replays the successful answer
    again = post(client, body, key="retry-after-failure")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["data"]["export_id"] == second["export_id"]
