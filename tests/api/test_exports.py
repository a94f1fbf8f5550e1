"""Export routes end to end through the test client: the seed's exact shapes, downloads with
the right headers, the /api/export aliases, status, list, delete, and the OpenAPI document."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import openpyxl
import pytest
from flask.testing import FlaskClient

from export_core.catalog import get_catalog

from .conftest import participants, sample_records
from .envelope import assert_error_envelope
from .openapi_check import assert_matches_openapi

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SEED_SINGLE_KEYS = {"export_id", "file_name", "file_size", "record_count", "download_url"}
SEED_MULTI_KEYS = {"export_id", "total_records", "total_files", "individual_files", "archive"}
SEED_STATUS_KEYS = {
    "status",
    "export_id",
    "export_type",
    "template",
    "record_count",
    "created_at",
    "expires_at",
}


def openapi(client: FlaskClient) -> dict[str, Any]:
    return client.get("/api/ybb/openapi.json").get_json()


def create(client: FlaskClient, export_type: str = "participants", **body: Any) -> dict[str, Any]:
    body.setdefault("data", sample_records(export_type))
    resp = client.post(f"/api/ybb/export/{export_type}", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = openapi(client)
    assert_matches_openapi(doc, f"/api/ybb/export/{export_type}", "post", 200, resp.get_json())
    return resp.get_json()


@pytest.mark.parametrize("export_type", ["participants", "payments", "ambassadors"])
def test_single_file_export_has_the_seed_shape(client: FlaskClient, export_type: str) -> None:
    body = create(client, export_type, filename="my_export.xlsx")
    assert body["status"] == "success"
    # the seed's CodeIgniter controller reads isset($result['data']['export_strategy']) as
    # "large export": a single-file answer must not carry the key
    assert "export_strategy" not in body
    data = body["data"]
    assert set(data) >= SEED_SINGLE_KEYS
    assert data["record_count"] == 3
    assert data["file_name"].endswith(".xlsx")
    export_id = data["export_id"]
    assert data["download_url"] == f"/api/ybb/export/{export_id}/download"
    resp = client.get(data["download_url"])
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == XLSX
    assert int(resp.headers["Content-Length"]) == data["file_size"] == len(resp.data)
    assert resp.headers["Content-Disposition"].startswith("attachment; filename=")
    sheet = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    assert sheet.max_row == 4
    template = get_catalog().template(export_type, "standard")
    assert [c.value for c in sheet[1]] == list(template.headers)


def test_multi_file_export_has_the_seed_shape_and_every_url_works(client: FlaskClient) -> None:
    body = create(client, data=participants(6000), template="complete")
    assert body["export_strategy"] == "multi_file"
    data = body["data"]
    assert set(data) >= SEED_MULTI_KEYS
    assert (data["total_records"], data["total_files"]) == (6000, 3)
    ranges = [f["record_range"] for f in data["individual_files"]]
    assert ranges == ["1-2000", "2001-4000", "4001-6000"]
    assert data["individual_files"][0]["file_name"] == "participants_batch_1_of_3.xlsx"
    archive = data["archive"]
    assert set(archive) == {"zip_file_name", "zip_file_size", "download_url", "compression_ratio"}
    assert archive["zip_file_name"] == "participants_complete_export.zip"
    for batch in data["individual_files"]:
        resp = client.get(batch["download_url"])
        assert resp.status_code == 200 and resp.headers["Content-Type"] == XLSX
        assert len(resp.data) == batch["file_size"]
    for url in (archive["download_url"], data["download_url"]):
        resp = client.get(url)
        assert resp.headers["Content-Type"] == "application/zip"
        assert len(resp.data) == archive["zip_file_size"]
        names = zipfile.ZipFile(io.BytesIO(resp.data)).namelist()
        assert names == [f["file_name"] for f in data["individual_files"]]
    export_id = data["export_id"]
    assert_error_envelope(
        client.get(f"/api/ybb/export/{export_id}/download/batch/5"),
        404,
        "Batch file 5 not found or expired",
    )


def test_seed_example_alias_urls_work(client: FlaskClient) -> None:
    data = create(client, data=participants(6000))["data"]
    export_id = data["export_id"]
    for suffix in ("/download", "/download/zip", "/download/batch/1", "/status"):
        alias = client.get(f"/api/export/{export_id}{suffix}")
        canonical = client.get(f"/api/ybb/export/{export_id}{suffix}")
        assert alias.status_code == 200
        if suffix != "/status":
            assert alias.data == canonical.data


def test_csv_export_and_xlsx_alias(client: FlaskClient) -> None:
    data = create(client, format="csv", csv_bom=True)["data"]
    resp = client.get(data["download_url"])
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = resp.data.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["ID", "Form ID", "First Name"]
    assert len(rows) == 4
    assert create(client, format="xlsx")["data"]["format"] == "excel"


def test_unicode_filename_gets_a_safe_content_disposition(client: FlaskClient) -> None:
    data = create(client, filename="Teilnehmer Übersicht 2024")["data"]
    disposition = client.get(data["download_url"]).headers["Content-Disposition"]
    ascii_part, _, utf8_part = disposition.partition("; filename*=UTF-8''")
    assert ascii_part.startswith('attachment; filename="') and ascii_part.isascii()
    assert "%C3%9C" in utf8_part or "%C3%BC" in utf8_part.lower() or data["file_name"].isascii()


def test_status_has_the_seed_keys_and_state(client: FlaskClient) -> None:
    data = create(client)["data"]
    resp = client.get(f"/api/ybb/export/{data['export_id']}/status")
    body = resp.get_json()
    assert set(body) >= SEED_STATUS_KEYS
    assert body["state"] == "completed" and body["progress"] == 100
    assert "export_strategy" not in body
    assert body["download_url"] == data["download_url"]
    path = "/api/ybb/export/{export_id}/status"
    assert_matches_openapi(openapi(client), path, "get", 200, body)


def test_list_is_paginated_newest_first(client: FlaskClient) -> None:
    ids = [create(client)["data"]["export_id"] for _ in range(3)]
    body = client.get("/api/ybb/exports?limit=2").get_json()
    assert body["data"]["total"] == 3
    assert [e["export_id"] for e in body["data"]["exports"]] == ids[::-1][:2]
    page2 = client.get("/api/ybb/exports?limit=2&offset=2").get_json()
    assert [e["export_id"] for e in page2["data"]["exports"]] == [ids[0]]
    assert_matches_openapi(openapi(client), "/api/ybb/exports", "get", 200, body)


def test_delete_removes_the_export(client: FlaskClient) -> None:
    data = create(client)["data"]
    resp = client.delete(f"/api/ybb/export/{data['export_id']}")
    assert resp.get_json() == {
        "status": "success",
        "data": {"export_id": data["export_id"], "deleted": True},
    }
    assert_error_envelope(client.get(data["download_url"]), 404, "Export not found or expired")


def test_templates_routes_loop_over_the_catalog(client: FlaskClient) -> None:
    catalog = get_catalog()
    doc = openapi(client)
    body = client.get("/api/ybb/templates").get_json()
    assert_matches_openapi(doc, "/api/ybb/templates", "get", 200, body)
    for type_name, data_type in catalog.types.items():
        one = client.get(f"/api/ybb/templates/{type_name}").get_json()
        assert_matches_openapi(doc, "/api/ybb/templates/{export_type}", "get", 200, one)
        for name, template in data_type.templates.items():
            shown = body["data"][type_name][name]
            assert shown == one["data"][name]
            assert shown["fields"] == list(template.fields)
            assert shown["headers"] == list(template.headers)
            assert shown["includes_sensitive_data"] == template.includes_sensitive_data
            assert [c["kind"] for c in shown["columns"]] == [c.kind for c in template.columns]


def test_status_mappings_and_system_config(client: FlaskClient) -> None:
    doc = openapi(client)
    mappings = client.get("/api/ybb/status-mappings").get_json()
    assert mappings["data"] == get_catalog().status_mappings
    assert mappings["data"]["form_status"]["3"] == "Approved"
    config = client.get("/api/ybb/system-config").get_json()
    assert_matches_openapi(doc, "/api/ybb/system-config", "get", 200, config)
    limits = config["data"]["limits"]
    assert limits["max_records_per_request"] == 50_000
    assert limits["max_concurrent_exports"] == 10
    assert config["data"]["chunk_sizes"]["participants"]["standard"] == 2000
    assert "secret" not in str(config).lower() and 'api_key"' not in str(config)


def test_openapi_documents_every_api_route(client: FlaskClient) -> None:
    doc = openapi(client)
    assert doc["openapi"].startswith("3.1")
    documented = {p.replace("{", "<").replace("}", ">") for p in doc["paths"]}
    rules = client.application.url_map.iter_rules()
    api_rules = {
        r.rule.replace("<int:", "<") for r in rules if r.rule.startswith(("/api/", "/health"))
    }
    api_rules.discard("/api/<path:rest>")
    for per_type in ("/api/ybb/export", "/api/ybb/team-templates"):  # documented per type
        api_rules.discard(f"{per_type}/<export_type>")
        api_rules |= {f"{per_type}/{t}" for t in get_catalog().types}
    normalise = {p.replace("<number>", "<n>") for p in api_rules}
    assert normalise <= documented, normalise - documented
    body = doc["paths"]["/api/ybb/export/participants"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["properties"]["data"]["maxItems"] == 50_000
    # A catalog template (enum) or a team template ("team:<name>", issue 18).
    catalog_names, team_names = schema["properties"]["template"]["anyOf"]
    assert None in catalog_names["enum"]
    assert "complete" in catalog_names["enum"]
    assert team_names["pattern"].startswith("^team:")


def test_error_responses_match_the_documented_envelope(client: FlaskClient) -> None:
    doc = openapi(client)
    resp = client.post("/api/ybb/export/participants", json={"data": []})
    assert_matches_openapi(doc, "/api/ybb/export/participants", "post", 400, resp.get_json())
    missing = client.get("/api/ybb/export/00000000-0000-0000-0000-000000000000/status")
    path = "/api/ybb/export/{export_id}/status"
    assert_matches_openapi(doc, path, "get", 404, missing.get_json())
