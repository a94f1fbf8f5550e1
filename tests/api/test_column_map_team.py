"""column_map and team templates through the REST API, good and bad input."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
from flask.testing import FlaskClient

from tests.api.envelope import assert_error_envelope
from tests.api.openapi_check import assert_matches_openapi

STORE_BACKENDS = ("sqlite", "postgres")  # every test here runs on both (tests/api/conftest.py)
PARTNER_ROWS = [
    {"No": "1", "Form ID": "F-1", "E-mail Address": "ann@example.org", "Contact": "0812",
     "Status": "Approved"},
    {"No": "2", "Form ID": "F-2", "E-mail Address": "bo@example.org", "Contact": "0813",
     "Status": "rejected"},
]  # fmt: skip


def sheet_rows(client: FlaskClient, payload: dict[str, Any]) -> list[list[Any]]:
    resp = client.get(payload["data"]["download_url"])
    assert resp.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(resp.get_data())).active
    assert sheet is not None
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_export_matches_headers_and_takes_the_column_map(client: FlaskClient) -> None:
    body = {"data": PARTNER_ROWS, "column_map": {"Contact": "phone", "Form ID": None}}
    resp = client.post("/api/ybb/export/participants", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    payload = resp.get_json()
    rows = sheet_rows(client, payload)
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    assert first["Email"] == "ann@example.org"  # matched by synonym, no map needed
    assert first["Phone"] == "0812"  # mapped by the person
    assert first["Form ID"] is None  # ignored by the person
    assert [dict(zip(header, r, strict=True))["Status"] for r in rows[1:]] == [
        "Approved",
        "Rejected",
    ]
    columns = payload["data"]["quality"]["columns"]
    assert columns["Contact"] == {"field": "phone", "method": "manual", "score": 1.0}
    assert columns["E-mail Address"]["method"] == "synonym"
    assert columns["No"]["field"] is None
    doc = client.get("/api/ybb/openapi.json").get_json()
    body_schema = doc["paths"]["/api/ybb/export/participants"]["post"]["requestBody"]
    properties = body_schema["content"]["application/json"]["schema"]["properties"]
    assert "phone" in properties["column_map"]["additionalProperties"]["enum"]
    assert_matches_openapi(doc, "/api/ybb/export/participants", "post", 200, payload)


@pytest.mark.parametrize(
    ("column_map", "message"),
    [
        (["Contact", "phone"], "'column_map' must be a JSON object"),
        ("Contact=phone", "'column_map' must be a JSON object"),
        ({"Contact": 5}, "'column_map' value for 'Contact' must be a field name or null"),
        ({"Contact": ["phone"]}, "must be a field name or null, not a JSON array"),
        (
            {"Contact": "mobile"},
            "column_map: 'Contact' is mapped to 'mobile', which is not a field of participants.",
        ),
    ],
)
def test_bad_column_maps_are_400_envelopes(
    client: FlaskClient, column_map: Any, message: str
) -> None:
    body = {"data": PARTNER_ROWS, "column_map": column_map}
    resp = client.post("/api/ybb/export/participants", json=body)
    envelope = assert_error_envelope(resp, 400)
    assert message in envelope["message"]
    assert envelope["details"]["field"] == "column_map"


def test_two_columns_on_one_field_is_a_422_conflict(client: FlaskClient) -> None:
    body = {"data": PARTNER_ROWS, "column_map": {"Contact": "phone", "No": "phone"}}
    envelope = assert_error_envelope(client.post("/api/ybb/export/participants", json=body), 422)
    assert "'Contact' and 'No' are both mapped to 'phone'" in envelope["message"]
    assert envelope["error_code"] == "MAPPING_CONFLICT"


def test_a_map_naming_another_types_field_is_refused(client: FlaskClient) -> None:
    body = {"data": PARTNER_ROWS, "column_map": {"Contact": "amount"}}
    resp = client.post("/api/ybb/export/participants", json=body)
    assert "not a field of participants" in assert_error_envelope(resp, 400)["message"]


OUTREACH = {
    "name": "Outreach",
    "description": "Newsletter list",
    "columns": [
        {"field": "email", "header": "E-mail"},
        {"field": "first_name", "header": "Given name"},
        {"field": "form_status", "header": "Stage"},
    ],
}


def test_team_template_create_list_use_delete(client: FlaskClient) -> None:
    resp = client.post("/api/ybb/team-templates/participants", json=OUTREACH)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    doc = client.get("/api/ybb/openapi.json").get_json()
    path = "/api/ybb/team-templates/participants"  # POST is documented per data type
    assert_matches_openapi(doc, path, "post", 201, resp.get_json())
    created = resp.get_json()["data"]
    assert created["template"] == "team:Outreach"
    assert created["headers"] == ["E-mail", "Given name", "Stage"]
    everything = client.get("/api/ybb/team-templates").get_json()
    assert_matches_openapi(doc, "/api/ybb/team-templates", "get", 200, everything)
    listed = everything["data"]
    assert [t["template"] for t in listed] == ["team:Outreach"]
    assert client.get("/api/ybb/team-templates/payments").get_json()["data"] == []
    # The seed's template routes are untouched: still the catalog's templates only.
    seed = client.get("/api/ybb/templates/participants").get_json()["data"]
    assert sorted(seed) == ["complete", "detailed", "standard", "summary"]
    assert seed["standard"]["headers"][4] == "Email"

    body = {"data": PARTNER_ROWS, "template": "team:Outreach", "format": "excel"}
    resp = client.post("/api/ybb/export/participants", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    payload = resp.get_json()
    assert payload["data"]["template"] == "team:Outreach"
    assert sheet_rows(client, payload) == [
        ["E-mail", "Given name", "Stage"],
        ["ann@example.org", None, "Approved"],
        ["bo@example.org", None, "Rejected"],
    ]
    resp = client.delete("/api/ybb/team-templates/participants/Outreach")
    path = "/api/ybb/team-templates/{export_type}/{name}"
    assert_matches_openapi(doc, path, "delete", 200, resp.get_json())
    resp = client.post("/api/ybb/export/participants", json=body)
    assert_error_envelope(resp, 404, "Template 'team:Outreach' not found for participants")
    resp = client.delete("/api/ybb/team-templates/participants/Outreach")
    assert_error_envelope(resp, 404, "Team template 'Outreach' not found for participants")


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/ybb/team-templates/participants",
         {**OUTREACH, "columns": [{"field": "id", "header": "A"}, {"field": "id"}]}, 422,
         "Each field may appear once"),
        ("/api/ybb/team-templates/participants",
         {**OUTREACH, "columns": [{"field": "id", "header": ""}]}, 400, "Header ''"),
        ("/api/ybb/team-templates/participants",
         {**OUTREACH, "columns": [{"field": "id", "header": 0}]}, 400, "'columns' must be"),
        ("/api/ybb/team-templates/participants", {**OUTREACH, "name": "a/b"}, 400,
         "Template name must be"),
        ("/api/ybb/team-templates/participants", {**OUTREACH, "columns": "email"}, 400,
         "'columns' must be a list"),
        ("/api/ybb/team-templates/participants", {**OUTREACH, "columns": [{"field": 1}]}, 400,
         "'columns' must be a list"),
        ("/api/ybb/team-templates/participants",
         {**OUTREACH, "columns": [{"field": "amount", "header": "A"}]}, 400,
         "Unknown participants field(s): amount"),
        ("/api/ybb/team-templates/participants", {**OUTREACH, "description": 3}, 400,
         "'description' must be a string"),
        ("/api/ybb/team-templates/visitors", OUTREACH, 404, "Unknown export type 'visitors'"),
        ("/api/ybb/team-templates/participants", [1], 400, None),
    ],
)  # fmt: skip
def test_bad_team_templates_are_envelopes(
    client: FlaskClient, path: str, body: Any, status: int, message: str | None
) -> None:
    resp = client.post(path, json=body)
    envelope = assert_error_envelope(resp, status)
    if message:
        assert message in envelope["message"]
    assert client.get("/api/ybb/team-templates").get_json()["data"] == []


def test_team_templates_need_the_api_key_when_one_is_set(make_app: Any) -> None:
    client = make_app(YBB_API_KEY="secret-key").test_client()
    assert_error_envelope(client.post("/api/ybb/team-templates/participants", json=OUTREACH), 401)
    resp = client.post(
        "/api/ybb/team-templates/participants", json=OUTREACH, headers={"X-API-Key": "secret-key"}
    )
    assert resp.status_code == 201


def test_a_team_template_named_standard_leaves_the_seed_standard_alone(
    client: FlaskClient,
) -> None:
    team = {"name": "standard", "columns": [{"field": "email", "header": "Mail"}]}
    assert client.post("/api/ybb/team-templates/participants", json=team).status_code == 201
    seed = client.post("/api/ybb/export/participants", json={"data": PARTNER_ROWS}).get_json()
    assert sheet_rows(client, seed)[0][:3] == ["ID", "Form ID", "First Name"]
    body = {"data": PARTNER_ROWS, "template": "team:standard"}
    own = client.post("/api/ybb/export/participants", json=body).get_json()
    assert sheet_rows(client, own) == [["Mail"], ["ann@example.org"], ["bo@example.org"]]
