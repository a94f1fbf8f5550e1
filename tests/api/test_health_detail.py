"""/health?detail=1 and /health/ready check every dependency for real: each one broken in turn
(a corrupted SQLite file, the exports dir replaced by a file, a disk threshold above the free
space, Redis and the Celery broker pointed at a closed port) gives 503 in the error envelope
naming exactly that part, while /health keeps answering the seed's cheap 200."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import redis_server

from .conftest import AppFactory
from .envelope import assert_error_envelope
from .live_server import free_port

CHECKS = {"metadata", "files", "disk"}


def _ready(client: Any, path: str = "/health?detail=1", **headers: str) -> Any:
    return client.get(path, headers=headers)


def _assert_not_ready(resp: Any, failing: str) -> dict[str, Any]:
    assert_error_envelope(resp, 503)
    body = resp.get_json()
    assert body["error_code"] == "NOT_READY"
    report = body["details"]
    assert report["status"] == "unhealthy"
    assert report["failing"] == [failing]
    assert body["message"].startswith(f"Not ready: {failing}: ")
    assert report["checks"][failing]["ok"] is False
    assert all(c["ok"] for name, c in report["checks"].items() if name != failing)
    return report


def test_detail_reports_every_check_and_versions(make_app: AppFactory) -> None:
    client = make_app().test_client()
    for path in ("/health?detail=1", "/health/ready"):
        resp = client.get(path)
        assert resp.status_code == 200
        report = resp.get_json()
        assert report["status"] == "healthy" and report["failing"] == []
        assert set(report["checks"]) == CHECKS
        assert all(c["ok"] and c["duration_ms"] >= 0 for c in report["checks"].values())
        assert report["versions"]["service"] == "1.0.0" and "polars" in report["versions"]
        assert report["uptime_seconds"] >= 0 and report["retention_hours"] == 24
    assert set(client.get("/health").get_json()) == {"status", "timestamp", "service", "version"}
    assert set(client.get("/health?detail=0").get_json()) == {
        "status", "timestamp", "service", "version"
    }  # fmt: skip
    assert_error_envelope(client.get("/health?detail=null"), 400)
    assert_error_envelope(client.get("/health?detail=1&detail=yes"), 400)


def test_probe_leaves_no_file_behind(make_app: AppFactory, tmp_path: Path) -> None:
    client = make_app().test_client()
    assert client.get("/health/ready").status_code == 200
    assert list((tmp_path / "data" / "exports").iterdir()) == []


def test_corrupted_metadata_store(make_app: AppFactory, tmp_path: Path) -> None:
    client = make_app().test_client()
    assert client.get("/health/ready").status_code == 200
    db = tmp_path / "data" / "exports.sqlite3"
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 512)
    report = _assert_not_ready(_ready(client), "metadata")
    assert "DatabaseError" in report["checks"]["metadata"]["detail"]
    assert client.get("/health").status_code == 200  # the cheap answer does not look


def test_unwritable_file_storage(make_app: AppFactory, tmp_path: Path) -> None:
    client = make_app().test_client()
    exports = tmp_path / "data" / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(exports)
    exports.write_text("a file where the exports directory should be")  # even root cannot
    report = _assert_not_ready(_ready(client, "/health/ready"), "files")
    detail = report["checks"]["files"]["detail"]
    assert str(exports) in detail  # the file area's probe names the place and the reason
    assert "File exists" in detail or "Not a directory" in detail


def test_disk_below_threshold(make_app: AppFactory) -> None:
    client = make_app(YBB_HEALTH_MIN_FREE_MB=str(10**9)).test_client()  # a petabyte
    report = _assert_not_ready(_ready(client), "disk")
    assert "below 1,000,000,000 MB" in report["checks"]["disk"]["detail"]


def test_redis_checked_when_configured(make_app: AppFactory, tmp_path: Path) -> None:
    closed = make_app(CACHE_REDIS_URL=f"redis://:secret@127.0.0.1:{free_port()}/0")
    report = _assert_not_ready(_ready(closed.test_client()), "redis")
    assert "secret" not in str(report)
    with redis_server(tmp_path / "redis") as url:
        resp = _ready(make_app(CACHE_REDIS_URL=url).test_client())
        assert resp.status_code == 200
        assert resp.get_json()["checks"]["redis"]["ok"] is True


@pytest.mark.parametrize("url", ["redis://127.0.0.1:{port}/0", "amqp://127.0.0.1:{port}//"])
def test_celery_broker_checked_when_configured(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("YBB_CELERY_BROKER_URL", url.format(port=free_port()))
    monkeypatch.setenv("YBB_CELERY_RESULT_BACKEND", "rpc://")  # not checked (Celery's own)
    _assert_not_ready(_ready(make_app().test_client()), "celery_broker")


def test_celery_broker_up(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with redis_server(tmp_path / "redis") as url:
        monkeypatch.setenv("YBB_CELERY_BROKER_URL", url)
        resp = _ready(make_app().test_client())
        assert resp.status_code == 200
        assert resp.get_json()["checks"]["celery_broker"]["ok"] is True


def test_detail_needs_the_key_when_one_is_set(make_app: AppFactory) -> None:
    client = make_app(YBB_API_KEY="k1", YBB_METRICS_TOKEN="t1").test_client()
    assert client.get("/health").status_code == 200  # load balancers keep the open check
    assert_error_envelope(_ready(client), 401)
    assert_error_envelope(_ready(client, "/health/ready", **{"X-API-Key": "wrong"}), 401)
    assert _ready(client, **{"X-API-Key": "k1"}).status_code == 200
    assert _ready(client, "/health/ready", Authorization="Bearer t1").status_code == 200


def test_metrics_token_guards_metrics(make_app: AppFactory) -> None:
    client = make_app(YBB_METRICS_TOKEN="scrape-me").test_client()
    assert_error_envelope(client.get("/metrics"), 401)
    assert client.get("/api/ybb/templates").status_code == 200  # the API itself stays open
    resp = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert resp.status_code == 200
    assert "ybb_http_requests_total" in resp.get_data(as_text=True)


def test_failed_checks_are_counted(make_app: AppFactory) -> None:
    client = make_app(YBB_HEALTH_MIN_FREE_MB=str(10**9)).test_client()
    before = client.get("/metrics").get_data(as_text=True)
    _assert_not_ready(_ready(client), "disk")
    after = client.get("/metrics").get_data(as_text=True)
    line = 'ybb_health_check_failures_total{check="disk"}'
    count = {
        t: float(next((x.split()[-1] for x in t.splitlines() if x.startswith(line)), 0))
        for t in (before, after)
    }
    assert count[after] == count[before] + 1


def test_celery_broker_rabbitmq_up(make_app: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "amqp://guest:guest@127.0.0.1:5672//"
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError:
        pytest.skip("no RabbitMQ on 127.0.0.1:5672 (the test machines run one)")
    monkeypatch.setenv("YBB_CELERY_BROKER_URL", url)
    monkeypatch.setenv("YBB_CELERY_RESULT_BACKEND", "rpc://")
    resp = _ready(make_app().test_client())
    assert resp.status_code == 200, resp.get_data(as_text=True)
    check = resp.get_json()["checks"]["celery_broker"]
    assert check["ok"] and "guest" not in check["detail"]
