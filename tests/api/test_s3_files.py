"""Export files in object storage (YBB_FILES=s3 with YBB_STORE=postgres), against a real
S3-protocol server process (moto_server on loopback) and a real PostgreSQL database: exports
are uploaded only once complete, downloads stream (or redirect to presigned URLs), deletes,
cleanup and failed uploads leave no objects, signed links keep working, the probes work."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import requests

from app.api.context import ApiContext
from export_core.errors import StorageError
from export_core.settings import Settings
from export_core.store import open_store
from export_core.store.s3files import MULTIPART_THRESHOLD, S3Files
from tests.s3_server import S3Server

from .conftest import AppFactory, participants
from .envelope import assert_error_envelope

EXPORT = "/api/ybb/export/participants"
DAY = 24 * 3600


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.new_bucket()


@pytest.fixture
def s3_env(s3: S3Server, bucket: str, database_url: str) -> dict[str, str]:
    return {"YBB_STORE": "postgres", "DATABASE_URL": database_url, **s3.env(bucket)}


@pytest.fixture
def app(make_app: AppFactory, s3_env: dict[str, str]) -> Any:
    return make_app(**s3_env)


def local_files(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file() and p.suffix in (".xlsx", ".csv", ".zip")]


def test_export_is_uploaded_and_streamed_back(app: Any, s3: S3Server, bucket: str) -> None:
    client = app.test_client()
    data = client.post(EXPORT, json={"data": participants(5)}).get_json()["data"]
    export_id = data["export_id"]
    assert s3.keys(bucket) == [f"exports/{export_id}/{data['file_name']}"]
    ctx: ApiContext = app.extensions["ybb_api"]
    assert local_files(ctx.settings.data_dir) == []  # nothing left on this machine's disk
    resp = client.get(data["download_url"])
    assert resp.status_code == 200
    assert resp.headers["Content-Length"] == str(len(resp.data))
    assert data["file_name"] in resp.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    assert sheet is not None and sheet.max_row == 6  # header + 5 records


def test_batches_zip_delete_and_cleanup_remove_objects(app: Any, s3: S3Server, bucket: str) -> None:
    client = app.test_client()
    body = {"data": participants(6000), "template": "complete"}  # 3 files of 2,000 + ZIP
    data = client.post(EXPORT, json=body).get_json()["data"]
    export_id = data["export_id"]
    keys = s3.keys(bucket)
    assert len(keys) == 4 and all(k.startswith(f"exports/{export_id}/") for k in keys)  # 3 + ZIP
    batch = client.get(f"/api/ybb/export/{export_id}/download/batch/3")
    assert openpyxl.load_workbook(io.BytesIO(batch.data)).active.max_row == 2001  # type: ignore[union-attr]
    assert client.get(f"/api/ybb/export/{export_id}/download/zip").data[:2] == b"PK"
    assert client.delete(f"/api/ybb/export/{export_id}").status_code == 200
    assert s3.keys(bucket) == []
    assert_error_envelope(client.get(data["download_url"]), 404)

    other = client.post(EXPORT, json={"data": participants(3)}).get_json()["data"]
    ctx: ApiContext = app.extensions["ybb_api"]
    store: Any = ctx.store
    store.clock = lambda: time.time() + DAY + 60
    assert client.post("/api/ybb/cleanup").get_json()["data"]["removed"] == 1
    assert s3.keys(bucket) == [] and other["export_id"]


def test_signed_links_and_presigned_redirects(
    make_app: AppFactory, s3_env: dict[str, str], s3: S3Server
) -> None:
    app = make_app(YBB_API_KEY="k", YBB_S3_PRESIGNED_DOWNLOADS="1", **s3_env)
    client = app.test_client()
    headers = {"X-API-Key": "k"}
    data = client.post(EXPORT, json={"data": participants(4)}, headers=headers).get_json()["data"]
    links = client.post(
        f"/api/ybb/export/{data['export_id']}/signed-links", headers=headers
    ).get_json()["data"]
    resp = client.get(links["download_url"])  # no API key: the signature alone
    assert resp.status_code == 302
    target = resp.headers["Location"]
    assert target.startswith(s3.endpoint) and "Signature" in target
    got = requests.get(target, timeout=10)
    assert got.status_code == 200
    assert data["file_name"] in got.headers["Content-Disposition"]
    assert openpyxl.load_workbook(io.BytesIO(got.content)).active.max_row == 5  # type: ignore[union-attr]
    assert_error_envelope(client.get(data["download_url"]), 401)  # unsigned, no key


def test_a_failed_upload_fails_the_export_and_leaves_no_objects(
    make_app: AppFactory, s3_env: dict[str, str], s3: S3Server
) -> None:
    app = make_app(**{**s3_env, "YBB_S3_BUCKET": "ybb-no-such-bucket"})
    client = app.test_client()
    resp = client.post(EXPORT, json={"data": participants(3)})
    body = assert_error_envelope(resp, 500)
    assert body["error_code"] == "STORAGE_ERROR"
    assert "Could not upload export files" in body["message"]
    listed = client.get("/api/ybb/exports").get_json()["data"]["exports"]
    assert [e["state"] for e in listed] == ["failed"]
    ctx: ApiContext = app.extensions["ybb_api"]
    assert local_files(ctx.settings.data_dir) == []


def test_big_files_are_uploaded_in_parts(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    env = {"YBB_DATA_DIR": str(tmp_path), "YBB_SECRET_KEY": "t", **s3.env(bucket)}
    files = S3Files(Settings.from_env(env))
    partial = files.scratch / "big.partial"
    partial.mkdir(parents=True)
    payload = os.urandom(MULTIPART_THRESHOLD + 1024 * 1024)
    (partial / "big.csv").write_bytes(payload)
    files.publish("big", partial)
    head = s3.client().head_object(Bucket=bucket, Key="exports/big/big.csv")
    assert head["ETag"].strip('"').endswith("-2")  # a completed 2-part multipart upload
    assert not partial.exists()
    opened = files.open("big", "big.csv", "text/csv")
    assert opened.chunks is not None
    chunks = list(opened.chunks)
    assert max(len(c) for c in chunks) <= 256 * 1024  # streamed in bounded blocks
    assert b"".join(chunks) == payload


def test_probes(s3_env: dict[str, str], s3: S3Server, bucket: str, tmp_path: Path) -> None:
    base = {"YBB_DATA_DIR": str(tmp_path), "YBB_SECRET_KEY": "t"}
    store = open_store(Settings.from_env({**base, **s3_env}))
    store.probe_metadata()
    store.probe_files()
    assert s3.keys(bucket) == []  # the probe object was deleted
    missing = open_store(Settings.from_env({**base, **s3_env, "YBB_S3_BUCKET": "ybb-missing"}))
    with pytest.raises(StorageError, match="bucket 'ybb-missing'"):
        missing.probe_files()
    broken = {**s3_env, "DATABASE_URL": s3_env["DATABASE_URL"] + "_missing"}
    with pytest.raises(Exception, match=r"ybb_test_.*_missing"):
        open_store(Settings.from_env({**base, **broken}))  # start-up stops, saying why


def test_embedded_store_probes(settings: Settings) -> None:
    store = open_store(settings)
    store.probe_metadata()
    store.probe_files()
    assert list(settings.exports_dir.iterdir()) == []
    settings.exports_dir.rmdir()
    settings.exports_dir.write_text("not a directory")  # fails even for root
    with pytest.raises(StorageError, match="Export files"):
        store.probe_files()


def test_s3_files_need_the_shared_store(settings: Settings, s3: S3Server) -> None:
    env = {"YBB_DATA_DIR": str(settings.data_dir), "YBB_SECRET_KEY": "t", **s3.env("b")}
    with pytest.raises(ValueError, match="YBB_FILES=s3 needs YBB_STORE=postgres"):
        open_store(Settings.from_env(env))
