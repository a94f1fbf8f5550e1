"""Signed, expiring download links: minted by the API (or app.api.signing for the UI), valid
without the API key for exactly one file until they expire; tampered or expired -> 403."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from app.api.signing import signed_download_path, signed_path_until
from export_core.settings import Settings

from .conftest import AppFactory, participants
from .envelope import assert_error_envelope

KEY = {"X-API-Key": "link-key"}


@pytest.fixture
def keyed(make_app: AppFactory) -> Any:
    return make_app(YBB_API_KEY="link-key")


def _multi_export(client: FlaskClient) -> dict[str, Any]:
    body = {"data": participants(5_001), "format": "csv"}
    resp = client.post("/api/ybb/export/participants", json=body, headers=KEY)
    assert resp.status_code == 200
    data: dict[str, Any] = resp.get_json()["data"]
    return data


def test_minted_links_open_every_file_without_the_key(keyed: Any) -> None:
    client = keyed.test_client()
    data = _multi_export(client)
    assert_error_envelope(client.get(data["download_url"]), 401)
    resp = client.post(f"/api/ybb/export/{data['export_id']}/signed-links", headers=KEY)
    links = resp.get_json()["data"]
    assert links["ttl_seconds"] == 900
    assert resp.headers["Cache-Control"] == "no-store"
    urls = [links["download_url"], links["zip_download_url"]]
    urls += [b["download_url"] for b in links["individual_files"]]
    assert len(urls) == 2 + data["total_files"]
    for url in urls:
        got = client.get(url)
        assert got.status_code == 200, url
        assert got.headers["Cache-Control"] == "no-store"
        assert got.headers["X-Content-Type-Options"] == "nosniff"
    # the same signature is valid on the seed's alias path
    assert client.get(links["download_url"].replace("/api/ybb/", "/api/")).status_code == 200


def test_helper_signs_the_path_the_ui_gives_it(keyed: Any) -> None:
    client = keyed.test_client()
    export_id = _multi_export(client)["export_id"]
    settings: Settings = keyed.config["YBB_SETTINGS"]
    url = signed_download_path(settings, f"/api/ybb/export/{export_id}/download/batch/2", 60)
    assert client.get(url).status_code == 200
    with pytest.raises(ValueError, match="Not a download path"):
        signed_download_path(settings, f"/api/ybb/export/{export_id}/status")


def _tamper(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts.path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_tampered_expired_or_misused_links_answer_403(keyed: Any) -> None:
    client = keyed.test_client()
    data = _multi_export(client)
    settings: Settings = keyed.config["YBB_SETTINGS"]
    good = signed_download_path(settings, data["individual_files"][0]["download_url"])
    other_file = good.replace("/batch/1?", "/batch/2?")
    later = _tamper(good, expires=str(int(good.split("expires=")[1].split("&")[0]) + 1))
    flipped_sig = _tamper(good, signature="A" * 43)
    expired = signed_path_until(settings, data["download_url"], 1_000_000_000)
    for bad, code in [
        (other_file, "INVALID_SIGNATURE"),
        (later, "INVALID_SIGNATURE"),
        (flipped_sig, "INVALID_SIGNATURE"),
        (_tamper(good, signature="x"), "INVALID_SIGNATURE"),
        (_tamper(good, expires="-5"), "INVALID_SIGNATURE"),
        (expired, "LINK_EXPIRED"),
    ]:
        assert assert_error_envelope(client.get(bad), 403)["error_code"] == code, bad
    # a valid link authorises neither another method nor another route: the key is needed
    assert_error_envelope(client.delete(good), 401)
    status = f"/api/ybb/export/{data['export_id']}/status?" + good.split("?")[1]
    assert_error_envelope(client.get(status), 401)
    wrong_key = Settings(secret_key="someone-else")
    assert_error_envelope(client.get(signed_download_path(wrong_key, data["download_url"])), 403)


def test_mint_route_needs_the_key_and_checks_ttl(keyed: Any) -> None:
    client = keyed.test_client()
    export_id = _multi_export(client)["export_id"]
    path = f"/api/ybb/export/{export_id}/signed-links"
    assert_error_envelope(client.post(path), 401)
    assert (
        client.post(path, json={"ttl_seconds": 60}, headers=KEY).get_json()["data"]["ttl_seconds"]
        == 60
    )
    assert (
        client.post(f"{path}?ttl_seconds=120", headers=KEY).get_json()["data"]["ttl_seconds"] == 120
    )
    for bad in ("0", "-1", "1.5", "²", "9" * 5000, "604801"):
        assert_error_envelope(client.post(f"{path}?ttl_seconds={bad}", headers=KEY), 400)
    assert_error_envelope(client.post(path, data=b"[1]", headers=KEY), 400)
    # a valid query does not hide an invalid body (found by schemathesis)
    bad_body = client.post(f"{path}?ttl_seconds=871", json={"ttl_seconds": -1e-54}, headers=KEY)
    assert_error_envelope(bad_body, 400)
    assert_error_envelope(client.post(path, data=b"{nope", headers=KEY), 400)
    missing = "/api/ybb/export/00000000-0000-4000-8000-000000000000/signed-links"
    assert_error_envelope(client.post(missing, headers=KEY), 404)


def test_signing_key_setting_takes_precedence(make_app: AppFactory) -> None:
    server = make_app(YBB_SIGNING_KEY="dedicated")
    settings: Settings = server.config["YBB_SETTINGS"]
    path = "/api/ybb/export/00000000-0000-4000-8000-000000000000/download"
    plain = Settings(secret_key=settings.secret_key)
    expires = 2_000_000_000
    assert signed_path_until(settings, path, expires) != signed_path_until(plain, path, expires)
    same = Settings(secret_key=settings.secret_key, signing_key="dedicated")
    assert signed_path_until(settings, path, expires) == signed_path_until(same, path, expires)
