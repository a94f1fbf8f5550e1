"""Requests gunicorn refuses to parse never reach the app: its answers must still be the API's
error envelope (app/gunicorn_conf.py, "Errors gunicorn answers itself"), not an HTML page.
Sent as raw bytes to the Procfile's real server."""

from __future__ import annotations

import http.client
import socket
from typing import Any

import pytest
import requests

from .envelope import assert_error_envelope
from .live_server import LiveServer
from .openapi_check import assert_matches_openapi
from .test_gunicorn_live import RawResponse

pytestmark = pytest.mark.live


def _raw(port: int, request: bytes) -> RawResponse:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return RawResponse(resp)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with LiveServer(tmp_path_factory.mktemp("gunicorn-errors") / "data", workers=1) as server:
        yield server


def test_a_request_line_over_the_limit_gets_414_in_the_envelope(live: LiveServer) -> None:
    path = "/api/ybb/export/participants?q=" + "x" * 5000
    resp = _raw(live.port, f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    body = assert_error_envelope(resp, 414)
    assert body["error_code"] == "URI_TOO_LONG" and "URI Too Long" in body["message"]
    assert len(body["message"]) < 300  # clipped: it may echo the request
    doc = requests.get(f"{live.url}/api/ybb/openapi.json", timeout=10).json()
    assert_matches_openapi(doc, "/api/ybb/export/participants", "post", 414, body)


def test_too_many_headers_get_431_in_the_envelope(live: LiveServer) -> None:
    headers = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(150))  # gunicorn reads 100
    resp = _raw(live.port, f"GET /health HTTP/1.1\r\nHost: t\r\n{headers}\r\n".encode())
    body = assert_error_envelope(resp, 431)
    assert body["error_code"] == "REQUEST_HEADERS_TOO_LARGE"


def test_a_malformed_request_line_gets_400_in_the_envelope(live: LiveServer) -> None:
    resp = _raw(live.port, b"NOT A REQUEST LINE \xff\r\n\r\n")
    body = assert_error_envelope(resp, 400)
    assert body["error_code"] == "BAD_REQUEST"
    # and the server goes on serving
    assert requests.get(f"{live.url}/health", timeout=10).status_code == 200
