"""The UI's upload route (`POST /ui/upload`, components/upload_route.py) through Flask's test
client on the real app: the body streamed to disk and parsed once, the summary the page keeps,
the size limit (413 before and while reading), the record limit read only as far as needed,
the streamed CSV reader equal to the whole-file one, safe file names, no temporary files left,
and the UI's protection (the page's own header; login and same-origin when login is on)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
import pytest
from flask.testing import FlaskClient
from polars.testing import assert_frame_equal

from app.factory import create_app
from components import data_in, runtime, upload_route
from components.samples import sample_csv, sample_json
from export_core import file_readers
from export_core.errors import InputError
from export_core.readers import read_any, read_csv
from export_core.settings import Settings
from tests.api.envelope import assert_error_envelope
from tests.ui.test_auth import _app, _login

LIMIT_MB = 1


def post_upload(client: FlaskClient, name: str, raw: bytes, **headers: str) -> Any:
    """POST `raw` as assets/ybb_upload.js does (raw body, the page's header, encoded name)."""
    sent = {
        "Content-Type": "application/octet-stream",
        upload_route.UPLOAD_HEADER: "1",
        upload_route.FILENAME_HEADER: quote(name),
        **headers,
    }
    return client.post(upload_route.UPLOAD_PATH, data=raw, headers=sent)


def upload_request(client: FlaskClient, name: str, raw: bytes) -> dict[str, Any]:
    """The upload request the page's script builds from the route's answer."""
    answer = post_upload(client, name, raw).json
    if answer["status"] == "success":
        return {"filename": name, "summary": answer["data"], "at": 1}
    keys = ("message", "error_code", "details")
    return {"filename": name, "error": {k: answer.get(k) for k in keys}, "at": 1}


def _settings(tmp_path: Path, **env: str) -> Settings:
    base = {"YBB_DATA_DIR": str(tmp_path / "data"), "YBB_SECRET_KEY": "t"}
    return Settings.from_env({**base, "YBB_MAX_UPLOAD_MB": str(LIMIT_MB), **env})


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return create_app(_settings(tmp_path)).server.test_client()


def _incoming(settings: Settings) -> list[Path]:
    directory = settings.cache_dir / "incoming"
    return list(directory.iterdir()) if directory.exists() else []


def test_a_csv_upload_is_parsed_cached_and_summarised(client: FlaskClient) -> None:
    raw = sample_csv("payments").encode()
    resp = post_upload(client, "payments.csv", raw)
    assert resp.status_code == 200 and resp.json["status"] == "success"
    summary = resp.json["data"]
    assert summary["detected_type"] == "payments" and summary["source"] == "file payments.csv"
    assert summary["rows"] == 25
    cached = runtime.get_upload_cache().get_frame(summary["key"])
    assert cached is not None
    assert_frame_equal(cached, read_any(raw, "payments.csv"))
    assert _incoming(runtime.get_settings()) == []  # the temporary file is gone
    # The page's load callback takes the route's answer as it is.
    loaded, alert = data_in.load_data(
        data_in.UPLOAD_REQUEST, upload_request(client, "payments.csv", raw), None, None
    )
    assert loaded["rows"] == 25 and "Data loaded." in str(alert)


def test_without_the_page_header_the_route_refuses(client: FlaskClient) -> None:
    resp = client.post(upload_route.UPLOAD_PATH, data=b"id\n1\n")
    assert_error_envelope(resp, 400)
    assert "X-YBB-Upload" in resp.json["message"]


def test_over_the_limit_is_refused_before_reading(client: FlaskClient) -> None:
    resp = post_upload(client, "big.json", b"[" + b" " * (LIMIT_MB * 1_048_576) + b"]")
    assert_error_envelope(resp, 413)
    assert "The file big.json is 1.0 MB; the limit is 1 MB" in resp.json["message"]
    assert _incoming(runtime.get_settings()) == []


def test_the_upload_limit_is_its_own_not_the_api_body_limit(tmp_path: Path) -> None:
    settings = _settings(tmp_path, YBB_MAX_BODY_MB="1", YBB_MAX_UPLOAD_MB="3")
    client = create_app(settings).server.test_client()
    raw = b"id,name\n" + (b"1234567," + b"x" * 44 + b"\n") * 40_000  # 2.1 MB; API: 1 MB
    resp = post_upload(client, "big.csv", raw)
    assert resp.status_code == 200, resp.text[:300]
    assert resp.json["data"]["rows"] == 40_000


def test_a_body_without_length_is_cut_off_at_the_limit(tmp_path: Path) -> None:
    stream = io.BytesIO(b"x" * (3 * upload_route.CHUNK_BYTES))
    with pytest.raises(upload_route.TooLarge) as raised:
        upload_route.save_body(stream, tmp_path, 2 * upload_route.CHUNK_BYTES)
    assert raised.value.size == 3 * upload_route.CHUNK_BYTES  # stopped at the piece that passed
    assert list(tmp_path.iterdir()) == []
    kept = upload_route.save_body(io.BytesIO(b"abc"), tmp_path, 3)
    assert kept.read_bytes() == b"abc"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("C:\\Users\\x\\people.csv", "people.csv"),
        ("a\x00b\nc.json", "abc.json"),
        ("", "upload"),
        ("%2E%2E%2Fsecret.csv", "secret.csv"),
    ],
)
def test_file_names_are_reduced_to_a_safe_base_name(raw: str, expected: str) -> None:
    assert upload_route.safe_filename(raw) == expected


def test_bad_input_comes_back_in_the_envelope_with_where(client: FlaskClient) -> None:
    resp = post_upload(client, "people.csv", b"id,first_name\n1,A\n2,B,C,D\n")
    assert_error_envelope(resp, 400)
    assert resp.json["details"]["line"] == 3
    _, alert = data_in.load_data(
        data_in.UPLOAD_REQUEST,
        upload_request(client, "people.csv", b"id,first_name\n1,A\n2,B,C,D\n"),
        None,
        None,
    )
    assert "Could not read your data at line 3 of the file people.csv" in str(alert)


TRICKY_HEAD = "\ufeffid;first_name;notes\n"  # BOM, semicolons
TRICKY_BODY = (  # 4 records: quoted newline, blank line, quoted delimiter, a short row
    '1;Amina;"two\nlines"\n\n2;José;\n3;"Li; Wei";"say ""hi"""\n4;Short\n'
)


def test_the_streamed_csv_reader_equals_the_whole_file_reader(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(TRICKY_HEAD + TRICKY_BODY * 30_000, encoding="utf-8")  # 1.7 MB
    streamed = file_readers.read_csv_file(path, max_records=200_000)
    assert streamed.height == 120_000
    assert_frame_equal(streamed, read_csv(path.read_bytes()))


def test_a_large_csv_over_the_record_limit_stops_early(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(300_000)))
    with pytest.raises(InputError, match="more than 1,000 records"):
        file_readers.read_csv_file(path, max_records=1_000)


def test_a_large_upload_goes_through_the_streamed_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_readers, "WHOLE_FILE_BYTES", 1024)  # stream even small files
    client = create_app(_settings(tmp_path, YBB_MAX_RECORDS="5")).server.test_client()
    resp = post_upload(client, "six.csv", b"id,name\n" + b"1,a\n" * 600)
    assert_error_envelope(resp, 400)
    assert "more than 5 records" in resp.json["message"]
    latin = "id,first_name\n" + "1,José\n" * 400
    resp = post_upload(client, "latin.csv", latin.encode("latin-1"))
    assert_error_envelope(resp, 400)
    assert "not valid UTF-8" in resp.json["message"]
    ok = post_upload(client, "four.csv", b"id,name\n" + b"1,a\n" * 4 + b"\n" * 1200)
    assert ok.status_code == 200 and ok.json["data"]["rows"] == 4


def test_json_and_xlsx_uploads_read_like_before(client: FlaskClient) -> None:
    raw = sample_json("ambassadors").encode()
    summary = post_upload(client, "amb.json", raw).json["data"]
    assert summary["detected_type"] == "ambassadors"
    frame = runtime.get_upload_cache().get_frame(summary["key"])
    assert frame is not None and frame.equals(read_any(raw, "amb.json"))
    buffer = io.BytesIO()
    pl.DataFrame({"id": ["1"], "first_name": ["Amina"]}).write_excel(buffer)
    assert post_upload(client, "p.xlsx", buffer.getvalue()).json["data"]["rows"] == 1


def test_with_login_on_the_route_needs_a_session_and_this_origin(tmp_path: Path) -> None:
    client = _app(tmp_path).server.test_client()
    resp = post_upload(client, "p.csv", b"id\n1\n")
    assert_error_envelope(resp, 401)
    assert resp.headers["X-YBB-Login"] == "/login"
    assert _login(client).status_code in (302, 303)
    resp = post_upload(client, "p.csv", b"id\n1\n", Origin="https://evil.example")
    assert_error_envelope(resp, 403)
    signed_in = post_upload(client, "p.csv", b"id\n1\n", Origin="http://localhost")
    assert signed_in.status_code == 200 and signed_in.json["data"]["rows"] == 1


def test_partial_uploads_left_by_a_killed_worker_are_removed(tmp_path: Path) -> None:
    old = tmp_path / "upload-old.part"
    fresh = tmp_path / "upload-fresh.part"
    other = tmp_path / "keep.txt"
    for path in (old, fresh, other):
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 2 * upload_route.LEFTOVER_SECONDS,) * 2)
    os.utime(other, (time.time() - 2 * upload_route.LEFTOVER_SECONDS,) * 2)
    saved = upload_route.save_body(io.BytesIO(b"id\n1\n"), tmp_path, 100)
    assert not old.exists() and fresh.exists() and other.exists() and saved.exists()
