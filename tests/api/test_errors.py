"""Every error the API answers goes through the one envelope, with the seed's messages."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient

from app.api.errors import STATUS_BY_ERROR, status_for
from export_core import errors, readers

from .chunked import post_chunked
from .conftest import AppFactory, participants
from .envelope import assert_error_envelope

EXPORT = "/api/ybb/export/participants"


def test_every_engine_error_class_has_an_http_status() -> None:
    missing = [c.__name__ for c in errors.all_error_classes() if c not in STATUS_BY_ERROR]
    assert missing == [], f"add these to app/api/errors.py STATUS_BY_ERROR: {missing}"
    for cls in errors.all_error_classes():
        assert 400 <= STATUS_BY_ERROR[cls] <= 599


def test_status_for_uses_the_table() -> None:
    assert status_for(errors.BatchNotFound("x")) == 404
    assert status_for(errors.Busy("x")) == 429
    assert status_for(errors.IdempotencyConflict("x")) == 422
    assert status_for(errors.NotReady("x")) == 409


def test_unknown_api_route_is_a_404_envelope(client: FlaskClient) -> None:
    for path in ("/api/ybb/nope", "/api/nothing/here", "/api/ybb/export/participants/extra"):
        body = assert_error_envelope(client.get(path), 404)
        assert body["error_code"] == "ROUTE_NOT_FOUND"


def test_wrong_method_is_a_405_envelope_with_allow(client: FlaskClient) -> None:
    resp = client.put("/api/ybb/templates")
    body = assert_error_envelope(resp, 405)
    assert "GET" in resp.headers["Allow"]
    assert body["error_code"] == "METHOD_NOT_ALLOWED"
    assert_error_envelope(client.get(EXPORT), 405)
    assert_error_envelope(client.delete("/api/ybb/exports"), 405)


def test_non_api_paths_keep_dash_behaviour(client: FlaskClient) -> None:
    resp = client.get("/some/page")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "Request body is empty"),
        (b"   ", "Request body is empty"),
        (b"{not json", "Request body is not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ],
)
def test_bodies_that_are_not_json_objects(client: FlaskClient, raw: bytes, fragment: str) -> None:
    resp = client.post(EXPORT, data=raw, content_type="application/json")
    body = assert_error_envelope(resp, 400)
    assert fragment in body["message"]


@pytest.mark.parametrize("body", [{}, {"data": []}, {"data": None}, {"template": "standard"}])
def test_no_data(client: FlaskClient, body: dict[str, Any]) -> None:
    assert_error_envelope(client.post(EXPORT, json=body), 400, "No data provided for export")


def test_record_limit_uses_the_seed_message(make_app: AppFactory) -> None:
    client = make_app(YBB_MAX_RECORDS="5").test_client()
    resp = client.post(EXPORT, json={"data": participants(6)})
    assert_error_envelope(resp, 400, "Data exceeds maximum limit of 5 records")


def test_default_record_limit_is_the_seeds(client: FlaskClient) -> None:
    resp = client.post(EXPORT, json={"data": [{"id": 1}] * 50_001})
    assert_error_envelope(resp, 400, "Data exceeds maximum limit of 50000 records")


def test_unknown_template_uses_the_seed_message(client: FlaskClient) -> None:
    resp = client.post(EXPORT, json={"data": participants(1), "template": "invalid_template"})
    body = assert_error_envelope(
        resp, 400, "Template 'invalid_template' not found for participants"
    )
    assert "standard" in body["details"]["allowed"]


def test_unknown_format(client: FlaskClient) -> None:
    resp = client.post(EXPORT, json={"data": participants(1), "format": "pdf"})
    assert_error_envelope(resp, 400, "Unknown format 'pdf'. Use 'excel' or 'csv'")


def test_unknown_export_type_is_404(client: FlaskClient) -> None:
    resp = client.post("/api/ybb/export/donors", json={"data": participants(1)})
    body = assert_error_envelope(resp, 404)
    assert "donors" in body["message"]
    assert_error_envelope(client.get("/api/ybb/templates/donors"), 404)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("data", {"id": 1}),
        ("data", "rows"),
        ("template", 5),
        ("template", ["standard"]),
        ("format", True),
        ("filename", 12),
        ("sheet_name", {"a": 1}),
        ("chunking", "sometimes"),
        ("csv_bom", "yes"),
        ("async", 1),
        ("filename", "x" * 300),
    ],
)
def test_wrong_field_types_name_the_field(client: FlaskClient, field: str, value: Any) -> None:
    body = {"data": participants(1), field: value}
    resp = client.post(EXPORT, json=body)
    envelope = assert_error_envelope(resp, 400)
    assert envelope["details"]["field"] == field
    assert f"'{field}'" in envelope["message"]


@pytest.mark.parametrize("record", [1, "x", None, [], {}])
def test_records_must_be_non_empty_objects(client: FlaskClient, record: Any) -> None:
    resp = client.post(EXPORT, json={"data": [participants(1)[0], record]})
    body = assert_error_envelope(resp, 400)
    assert body["details"]["row"] == 2


def test_body_over_the_limit_by_content_length(make_app: AppFactory) -> None:
    client = make_app(YBB_MAX_BODY_MB="1").test_client()
    raw = orjson.dumps({"data": [{"id": 1, "notes": "x" * 1000}] * 1100})
    assert len(raw) > 1024 * 1024
    resp = client.post(EXPORT, data=raw, content_type="application/json")
    body = assert_error_envelope(resp, 413)
    assert body["message"] == "Request body too large: the limit is 1 MB"


def test_chunked_body_over_the_limit(make_app: AppFactory) -> None:
    """No Content-Length: the limit is enforced while reading (the server terminates the
    stream, as gunicorn does with wsgi.input_terminated)."""
    client = make_app(YBB_MAX_BODY_MB="1").test_client()
    raw = orjson.dumps({"data": [{"id": 1, "notes": "x" * 1000}] * 1100})
    resp = post_chunked(client, EXPORT, raw)
    assert_error_envelope(resp, 413, "Request body too large: the limit is 1 MB")


def test_unexpected_failure_is_a_500_without_traceback(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def exploding(records: Any, *args: Any, **kwargs: Any) -> Any:
        raise MemoryError("Memory allocation error")

    monkeypatch.setattr(readers, "plain_frame", exploding)
    resp = client.post(EXPORT, json={"data": participants(2)}, headers={"X-Request-ID": "req-42"})
    assert_error_envelope(resp, 500, "Export failed: Memory allocation error")
    assert resp.headers["X-Request-ID"] == "req-42"
    assert any("req-42" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


def test_unknown_export_and_missing_batch(client: FlaskClient) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    for suffix in ("/status", "/download", "/download/zip", "/download/batch/1"):
        resp = client.get(f"/api/ybb/export/{missing}{suffix}")
        assert_error_envelope(resp, 404, "Export not found or expired")
    assert_error_envelope(client.delete(f"/api/ybb/export/{missing}"), 404)
    assert_error_envelope(client.get(f"/api/export/{missing}/download"), 404)


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "offset=-1", "offset=1.5"])
def test_bad_pagination(client: FlaskClient, query: str) -> None:
    assert_error_envelope(client.get(f"/api/ybb/exports?{query}"), 400)


def test_bad_idempotency_key(client: FlaskClient) -> None:
    resp = client.post(EXPORT, json={"data": participants(1)}, headers={"Idempotency-Key": "a b"})
    body = assert_error_envelope(resp, 400)
    assert body["details"]["field"] == "Idempotency-Key"


def test_overlapping_export_paths_answer_405(client: FlaskClient) -> None:
    """POST /api/ybb/export/<id> and DELETE /api/ybb/export/<type> are wrong methods."""
    an_id = "00000000-0000-0000-0000-000000000000"
    resp = client.post(f"/api/ybb/export/{an_id}", json={"data": participants(1)})
    assert_error_envelope(resp, 405)
    assert "DELETE" in resp.headers["Allow"]
    resp = client.delete("/api/ybb/export/participants")
    assert_error_envelope(resp, 405)
    assert "POST" in resp.headers["Allow"]


def test_huge_batch_number_is_a_plain_404(client: FlaskClient) -> None:
    an_id = "00000000-0000-0000-0000-000000000000"
    resp = client.get(f"/api/ybb/export/{an_id}/download/batch/{10**30}")
    assert_error_envelope(resp, 404, f"Batch file {10**30} not found or expired")
