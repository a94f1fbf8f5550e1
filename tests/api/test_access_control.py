"""With YBB_API_KEY set, no /api route answers without it: every operation of the OpenAPI
document (the seed's alias paths included), HEAD on every GET, and undocumented paths. /health
stays open; a signed link opens exactly its one download."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from .conftest import AppFactory, participants
from .envelope import assert_error_envelope

KEY = "ac-key-7f3b"
GOOD = {"X-API-Key": KEY}


@pytest.fixture
def keyed(make_app: AppFactory) -> FlaskClient:
    return make_app(YBB_API_KEY=KEY).test_client()


def _operations(client: FlaskClient, export_id: str) -> list[tuple[str, str]]:
    doc = client.get("/api/ybb/openapi.json", headers=GOOD).get_json()
    values = {"{export_id}": export_id, "{export_type}": "participants", "{n}": "1"}
    values["{name}"] = "Outreach"  # a team template (issue 18)
    ops = []
    for template, item in doc["paths"].items():
        path = template
        for name, value in values.items():
            path = path.replace(name, value)
        assert "{" not in path, template
        ops += [(method.upper(), path) for method in item]
        ops += [("HEAD", path) for method in item if method == "get"]
    return ops


def test_every_documented_route_needs_the_key(keyed: FlaskClient) -> None:
    created = keyed.post(
        "/api/ybb/export/participants", json={"data": participants(3)}, headers=GOOD
    )
    export_id = created.get_json()["data"]["export_id"]
    ops = _operations(keyed, export_id)
    assert any(path.startswith("/api/export/") for _, path in ops)  # the aliases are covered
    assert len([op for op in ops if op[1] != "/health"]) >= 25
    for method, path in ops:
        if path == "/health":
            assert keyed.open(path, method=method).status_code == 200
            continue
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": f"Basic {KEY}"}):
            resp = keyed.open(path, method=method, headers=headers, json={"data": participants(1)})
            if method == "HEAD":
                assert resp.status_code == 401, (method, path)
            else:
                assert assert_error_envelope(resp, 401)["error_code"] == "UNAUTHORIZED"
        ok = keyed.open(path, method=method, headers=GOOD, json={"data": participants(1)})
        assert ok.status_code != 401, (method, path)


@pytest.mark.parametrize(
    "path",
    ["/api/ybb", "/api/ybb/", "/api/ybb/export/", "/api/ybb/nope", "/api/x/y"],
)
def test_undocumented_paths_need_the_key_too(keyed: FlaskClient, path: str) -> None:
    for method in ("GET", "POST", "DELETE", "PUT"):
        assert_error_envelope(keyed.open(path, method=method), 401)
    assert keyed.get(path, headers=GOOD).status_code == 404  # and there is no listing


def test_the_ui_documentation_page_at_api_is_not_an_api_route(keyed: FlaskClient) -> None:
    # /api is the UI's static API page (guarded by the UI login when that is on), not data
    page = keyed.get("/api")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b"ac-key" not in page.data


def test_delete_with_the_key_only(keyed: FlaskClient) -> None:
    created = keyed.post(
        "/api/ybb/export/participants", json={"data": participants(3)}, headers=GOOD
    )
    export_id = created.get_json()["data"]["export_id"]
    assert_error_envelope(keyed.delete(f"/api/ybb/export/{export_id}"), 401)
    assert keyed.get(f"/api/ybb/export/{export_id}/status", headers=GOOD).status_code == 200
    assert keyed.delete(f"/api/ybb/export/{export_id}", headers=GOOD).status_code == 200


def test_export_ids_are_random_uuid4(keyed: FlaskClient) -> None:
    import uuid

    ids: list[Any] = []
    for _ in range(3):
        resp = keyed.post(
            "/api/ybb/export/participants", json={"data": participants(1)}, headers=GOOD
        )
        ids.append(uuid.UUID(resp.get_json()["data"]["export_id"]))
    assert all(i.version == 4 for i in ids) and len(set(ids)) == 3
