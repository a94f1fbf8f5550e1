"""The hostile-request matrix (hostile_cases.py) against the Flask test client, and its `live`
subset (plus a chunked over-limit body) against the Procfile's gunicorn: every case gets its
4xx envelope or a safe, sanitised 200 - never a 5xx - and the server stays healthy."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import openpyxl
import pytest
import requests

from app import create_app
from export_core.settings import Settings

from .conftest import BufferedClient
from .envelope import assert_error_envelope
from .hostile_cases import CASES, EXPORT, LIMITS, LIVE_CASES, Case
from .live_server import LiveServer

SAFE_FALLBACK = re.compile(r'filename="([A-Za-z0-9._() -]+)"')
SHEET_FORBIDDEN = set("[]:*?/\\")
Send = Callable[[Case], Any]
Fetch = Callable[[str], Any]


def _body(resp: Any) -> bytes:
    return bytes(resp.get_data() if hasattr(resp, "get_data") else resp.content)


def _check_ok(resp: Any, fetch: Fetch) -> dict[str, Any]:
    body = resp.get_json() if hasattr(resp, "get_json") else resp.json()
    assert body["status"] == "success", body
    got = fetch(body["data"]["download_url"])
    assert got.status_code == 200
    assert got.headers["Cache-Control"] == "no-store"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert len(_body(got)) == body["data"]["file_size"]
    data: dict[str, Any] = body["data"]
    return data


def _check_long_cell_xlsx(resp: Any, fetch: Fetch) -> None:
    data = _check_ok(resp, fetch)
    assert data["quality"]["truncated"] == 1
    book = openpyxl.load_workbook(io.BytesIO(_body(fetch(data["download_url"]))), read_only=True)
    cells = [c for row in book.active.iter_rows(values_only=True) for c in row if c]
    book.close()
    assert max(len(str(c)) for c in cells) == 32_767


def _check_safe_names(resp: Any, fetch: Fetch) -> None:
    data = _check_ok(resp, fetch)
    name = data["file_name"]
    assert not set(name) & set('/\\"\r\n\x00;'), name
    assert all(ch.isprintable() for ch in name) and not name.startswith("."), name
    assert ".." not in name and name.endswith((".xlsx", ".csv")), name
    got = fetch(data["download_url"])
    disposition = got.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert disposition.isascii() and SAFE_FALLBACK.search(disposition), disposition
    if name.endswith(".xlsx"):
        book = openpyxl.load_workbook(io.BytesIO(_body(got)), read_only=True)
        titles = book.sheetnames
        book.close()
        for title in titles:
            assert title and len(title) <= 31 and not set(title) & SHEET_FORBIDDEN, title
            assert all(ch.isprintable() for ch in title), title


CHECKS: dict[str, Callable[[Any, Fetch], object]] = {
    "ok": _check_ok,
    "long_cell_xlsx": _check_long_cell_xlsx,
    "safe_names": _check_safe_names,
}


def _judge(case: Case, resp: Any, fetch: Fetch) -> None:
    text = _body(resp)[:300]
    assert resp.status_code < 500, f"{case.id}: {resp.status_code} {text!r}"
    if case.status >= 400:
        body = assert_error_envelope(resp, case.status, case.message)
        if case.code is not None:
            assert body["error_code"] == case.code, body
    else:
        assert resp.status_code == case.status, f"{case.id}: {resp.status_code} {text!r}"
        assert case.check is not None
        CHECKS[case.check](resp, fetch)


# ------------------------------------------------------------------ Flask test client


@pytest.fixture(scope="module")
def flask_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    env = {"YBB_DATA_DIR": str(data_dir), "YBB_SECRET_KEY": "hostile", **LIMITS}
    server = create_app(Settings.from_env(env)).server
    server.test_client_class = BufferedClient
    return server.test_client()


def test_matrix_is_big_enough() -> None:
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)
    assert len(LIVE_CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_request_flask(flask_client: Any, case: Case) -> None:
    kwargs: dict[str, Any] = {"method": case.method, "headers": case.headers}
    if case.body is not None:
        kwargs["data"] = case.body
    if case.content_type is not None and case.body is not None:
        kwargs["content_type"] = case.content_type
    resp = flask_client.open(case.path, **kwargs)
    _judge(case, resp, flask_client.get)


def test_flask_server_healthy_after_matrix(flask_client: Any) -> None:
    assert flask_client.get("/health").get_json()["status"] == "healthy"
    assert flask_client.get("/api/ybb/exports").status_code == 200


# ------------------------------------------------------------------ live gunicorn


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("hostile-live") / "data"
    with LiveServer(data_dir, workers=2, **LIMITS) as server:
        yield server


def _live_send(live: LiveServer, case: Case) -> requests.Response:
    headers = dict(case.headers)
    if case.content_type is not None and case.body is not None:
        headers["Content-Type"] = case.content_type
    return requests.request(
        case.method, live.url + case.path, data=case.body, headers=headers, timeout=60
    )


@pytest.mark.live
@pytest.mark.slow
@pytest.mark.parametrize("case", LIVE_CASES, ids=lambda c: c.id)
def test_hostile_request_live(live: LiveServer, case: Case) -> None:
    resp = _live_send(live, case)
    _judge(case, resp, lambda path: requests.get(live.url + path, timeout=60))


@pytest.mark.live
@pytest.mark.slow
def test_chunked_body_over_limit_live(live: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"data":[{"first_name":"'
        for _ in range(24):
            yield b"z" * 65_536
        yield b'"}]}'

    resp = requests.post(
        live.url + EXPORT,
        data=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert_error_envelope(resp, 413)


@pytest.mark.live
@pytest.mark.slow
def test_live_server_healthy_after_matrix(live: LiveServer) -> None:
    assert requests.get(live.url + "/health", timeout=10).json()["status"] == "healthy"
    assert requests.get(live.url + "/api/ybb/exports", timeout=10).status_code == 200
    log = live.log_path.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "status=5" not in log, log
    # a CR/LF in the URL was escaped in the request log, not written as a line of its own
    assert "\nX-Injected" not in log
