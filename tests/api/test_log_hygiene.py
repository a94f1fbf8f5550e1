"""Logs never contain record contents, the API key or signed-link signatures - not in the app's
own log records (caplog, every logger at DEBUG) and not in a live gunicorn's output - whether
the request succeeds, fails validation or fails unexpectedly."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from export_core import readers

from .conftest import AppFactory, participants
from .envelope import assert_error_envelope
from .live_server import LiveServer

EXPORT = "/api/ybb/export/participants"


def _marked(marker: str, n: int = 5) -> list[dict[str, Any]]:
    rows = participants(n)
    for row in rows:
        row.update(first_name=f"{marker}-name", email=f"{marker}@example.com", notes=marker)
    return rows


def _json(resp: Any) -> Any:
    return resp.get_json() if hasattr(resp, "get_json") else resp.json()


def _exercise(send: Any, marker: str, headers: dict[str, str]) -> str:
    """Successful, invalid and broken requests that all carry `marker`; returns a signed link."""
    body = {"data": _marked(marker), "filename": f"{marker}.xlsx", "sheet_name": marker[:20]}
    created = send("POST", EXPORT, json=body, headers=headers)
    assert created.status_code == 200
    export_id = _json(created)["data"]["export_id"]
    for path in ("/status", "/download"):
        assert send("GET", f"/api/ybb/export/{export_id}{path}", headers=headers).status_code == 200
    links = send("POST", f"/api/ybb/export/{export_id}/signed-links", headers=headers)
    link = _json(links)["data"]
    assert send("GET", link["download_url"]).status_code == 200
    bad = [
        {"data": _marked(marker), "template": "nope"},
        {"data": [marker]},
        {"data": _marked(marker), "format": marker},
    ]
    for bad_body in bad:
        assert_error_envelope(send("POST", EXPORT, json=bad_body, headers=headers), 400)
    raw = f'{{"data": [{{"first_name": "{marker}"'.encode()  # truncated JSON
    resp = send("POST", EXPORT, data=raw, headers={**headers, "Content-Type": "application/json"})
    assert_error_envelope(resp, 400)
    assert_error_envelope(send("GET", "/api/ybb/templates", headers={"X-API-Key": marker}), 401)
    return str(link["download_url"]).split("signature=")[1]


def test_app_logs_hold_no_record_contents_or_key(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    marker = f"MARK{uuid.uuid4().hex[:12]}"
    key = f"KEY{marker}"
    client = make_app(YBB_API_KEY=key).test_client()
    caplog.set_level(logging.DEBUG)

    def send(method: str, path: str, **kwargs: Any) -> Any:
        return client.open(path, method=method, **kwargs)

    signature = _exercise(send, marker, {"X-API-Key": key})

    # a 500 whose exception message quotes the records (as polars' and orjson's do)
    def exploding(records: Any, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"could not append value: {records[0]['first_name']!r}")

    monkeypatch.setattr(readers, "plain_frame", exploding)
    resp = send("POST", EXPORT, json={"data": _marked(marker)}, headers={"X-API-Key": key})
    assert_error_envelope(resp, 500)
    assert any(r.levelname == "ERROR" and "TypeError" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "") + str(record.exc_info or "")
        assert marker not in text and key not in text and signature not in text, text


@pytest.mark.live
@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_live_server_output_holds_no_record_contents_or_key(
    tmp_path: Path, log_format: str
) -> None:
    marker = f"MARK{uuid.uuid4().hex[:12]}"
    key = f"KEY{marker}"
    env = {"YBB_API_KEY": key, "YBB_LOG_LEVEL": "debug", "YBB_LOG_FORMAT": log_format}
    with LiveServer(tmp_path / "data", workers=2, **env) as live:

        def send(method: str, path: str, **kwargs: Any) -> Any:
            return requests.request(method, live.url + path, timeout=60, **kwargs)

        signature = _exercise(send, marker, {"X-API-Key": key})
    output = live.log_path.read_text(encoding="utf-8", errors="replace")
    assert "signed-links" in output  # the log is there, and it is the one of this server
    assert marker not in output and key not in output and signature not in output
    if log_format == "json":  # and it is JSON: every request's line parses
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        requests_logged = [line for line in lines if line.get("event") == "request"]
        assert any("signed-links" in line["path"] for line in requests_logged)
        assert all(line["status"] >= 200 and line["request_id"] for line in requests_logged)
