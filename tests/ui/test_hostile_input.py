"""Broken and hostile input in the UI, without a browser: each case gives an alert that says
what is wrong and where (never a stack trace, never the generic "something went wrong"), the
loaded data stays as it was, and a valid paste right after works. The last test drives the
real Dash callback through the server's /_dash-update-component route."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
import pytest

from app.factory import create_app
from components import data_in, runtime
from components.samples import sample_json
from export_core.settings import Settings
from tests.ui.test_components import _texts
from tests.ui.test_upload_route import upload_request

LIMIT_MB = 1


@pytest.fixture
def ui(tmp_path: Path) -> Settings:
    settings = Settings.from_env(
        {
            "YBB_DATA_DIR": str(tmp_path / "data"),
            "YBB_SECRET_KEY": "t",
            "YBB_MAX_UPLOAD_MB": str(LIMIT_MB),
        }
    )
    runtime.configure(settings)
    return settings


def _upload(name: str, raw: bytes) -> tuple[str, dict[str, Any]]:
    """Through the real upload route, as the page's script sends it and hands on the answer."""
    client = create_app(runtime.get_settings()).server.test_client()
    return data_in.UPLOAD_REQUEST, upload_request(client, name, raw)


def _paste(text: str) -> tuple[str, dict[str, Any]]:
    return data_in.PASTE_REQUEST, {"text": text, "at": 1}


def _garbage() -> bytes:
    return random.Random(7).randbytes(4096)  # deterministic "binary garbage"


def _xlsx_looking() -> bytes:
    return b"id,first_name\n1,Amina\n"  # a text file saved with an .xlsx name


# (what was given, expected substrings of the alert)
CASES: dict[str, tuple[Callable[[], tuple[str, dict[str, Any]]], list[str]]] = {
    "binary garbage as .json": (
        lambda: _upload("data.json", _garbage()),
        ["of the file data.json", "not valid UTF-8", "line 1"],
    ),
    "binary garbage as .csv": (
        lambda: _upload("data.csv", b"\x89PNG\r\n\x1a\n" + _garbage()),
        ["the file data.csv", "not valid UTF-8"],
    ),
    "truncated JSON": (
        lambda: _upload("cut.json", b'[{"id": 1, "first_name": "Amina"},\n {"id": 2, "first'),
        ["at line 2, column", "of the file cut.json", "Invalid JSON"],
    ),
    "CSV with a ragged row": (
        lambda: _upload("people.csv", b"id,first_name,last_name\n1,A,B\n2,C,D,E,F\n3,G,H\n"),
        ["at line 3 of the file people.csv", "Line 3 has 5 fields but the header has 3"],
    ),
    "xlsx that is really text": (
        lambda: _upload("people.xlsx", _xlsx_looking()),
        ["in the file people.xlsx", "Not a valid .xlsx file"],
    ),
    "0-byte .json": (
        lambda: _upload("empty.json", b""),
        ["The file empty.json is empty (0 bytes)"],
    ),
    "0-byte .csv": (
        lambda: _upload("empty.csv", b""),
        ["The file empty.csv is empty (0 bytes)"],
    ),
    "unknown file type": (
        lambda: _upload("notes.pdf", b"%PDF-1.7"),
        ["in the file notes.pdf", "accepted file types are"],
    ),
    "an upload request with neither summary nor message": (
        lambda: (data_in.UPLOAD_REQUEST, {"filename": "x.json", "error": {}, "at": 1}),
        ["The upload failed. Try again."],
    ),
    "file over the limit (refused in the browser)": (
        lambda: (data_in.UPLOAD_REQUEST, {"filename": "big.csv", "too_large": 3 * 1048576}),
        ["The file big.csv is 3.0 MB; the limit is 1 MB"],
    ),
    "file over the limit (reaching the server)": (
        lambda: _upload("big.json", b"[" + b" " * (LIMIT_MB * 1048576 + 10) + b"]"),
        ["The file big.json is 1.0 MB; the limit is 1 MB"],
    ),
    "latin-1 CSV": (
        lambda: _upload("latin.csv", "id,first_name\n1,José\n".encode("latin-1")),
        ["at line 2 of the file latin.csv", "Save it as UTF-8"],
    ),
    "huge single-line paste over the limit (refused in the browser)": (
        lambda: (data_in.PASTE_REQUEST, {"too_large": 5 * 1048576, "at": 1}),
        ["The pasted text is 5.0 MB; the limit is 1 MB"],
    ),
    "huge single-line paste over the limit": (
        lambda: _paste("x" * (LIMIT_MB * 1048576 + 1)),
        ["in the pasted text", "the limit is 1 MB"],
    ),
    "huge single-line JSON paste broken at the end": (
        lambda: _paste(json.dumps(json.loads(sample_json("participants", 1500)))[:-2]),
        ["at line 1, column", "of the pasted text", "Invalid JSON"],
    ),
    "huge single-line CSV header repeated": (
        lambda: _paste(("h" * 100_000 + ",") * 2 + "\n1,2\n"),
        ["appears more than once"],
    ),
    "deeply nested JSON": (
        lambda: _paste("[" * 100_000 + "]" * 100_000),
        ["nested too deeply"],
    ),
    "JSON that is not a list": (lambda: _paste('"hello"'), ["the pasted text"]),
    "records that are not objects": (lambda: _paste("[1, 2, 3]"), ["the pasted text"]),
    "whitespace only": (lambda: _paste("   \n\t "), ["The text box is empty"]),
    "header only": (lambda: _paste("id,first_name\n"), ["contains no records"]),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_alerts_and_the_page_keeps_working(ui: Settings, case: str) -> None:
    make, expected = CASES[case]
    good, _ = data_in.load_data(*_paste(sample_json("payments")), None, None)
    assert isinstance(good, dict)
    trigger, request = make()
    summary, alert = data_in.load_data(trigger, request, None, None)
    assert isinstance(summary, type(dash.no_update)), "the loaded data stays as it was"
    assert alert.color == "danger"
    text = _texts(alert)
    for fragment in expected:
        assert fragment in text, (fragment, text[:500])
    assert "Traceback" not in text and "Something went wrong" not in text
    assert len(text) < 1500  # a hostile input is never echoed back whole
    uploads, pastes, box = data_in.release_large_inputs(trigger, request, loaded=False)
    assert (uploads if trigger == data_in.UPLOAD_REQUEST else pastes) is None  # dropped
    assert box is dash.no_update
    after, ok = data_in.load_data(*_paste(sample_json("ambassadors")), None, None)
    assert isinstance(after, dict) and after["detected_type"] == "ambassadors"
    assert "Data loaded." in _texts(ok)


def test_a_large_valid_paste_is_cleared_from_the_text_box(settings: Settings) -> None:
    runtime.configure(settings)  # the default 50 MB limit
    text = sample_json("participants", 3000)
    assert len(text) > data_in.LARGE_PASTE_CHARS
    trigger, request = _paste(text)
    summary, _ = data_in.load_data(trigger, request, None, None)
    assert summary["rows"] == 3000
    assert data_in.release_large_inputs(trigger, request, loaded=True) == (
        dash.no_update,
        None,
        "",
    )


def _load_callback(client: Any) -> dict[str, Any]:
    resp = client.get("/_dash-dependencies")
    assert resp.status_code == 200, resp.text[:300]
    dependencies = resp.json
    for dep in dependencies:
        if any(i["id"] == data_in.PASTE_REQUEST for i in dep["inputs"]) and not dep.get(
            "clientside_function"
        ):
            return dict(dep)
    raise AssertionError("the load callback is not registered")


def _post_paste(client: Any, dep: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    outputs = [
        {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
        for part in dep["output"].strip(".").split("...")
    ]
    values = {data_in.PASTE_REQUEST: request}
    body = {
        "output": dep["output"],
        "outputs": outputs,
        "inputs": [
            {"id": i["id"], "property": i["property"], "value": values.get(i["id"])}
            for i in dep["inputs"]
        ],
        "changedPropIds": [f"{data_in.PASTE_REQUEST}.data"],
        "state": [
            {"id": s["id"], "property": s["property"], "value": "participants"}
            for s in dep["state"]
        ],
    }
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.text[:500]
    return dict(resp.json["response"])


def test_the_real_callback_route_alerts_then_loads(ui: Settings) -> None:
    client = create_app(ui).server.test_client()
    dep = _load_callback(client)
    broken = _post_paste(client, dep, {"text": '[{"id": 1,\n "x": }]', "at": 1})
    assert "Could not read your data at line 2" in json.dumps(broken[data_in.ALERT])
    assert data_in.SUMMARY not in broken  # no_update: the data stays as it was
    assert broken[data_in.PASTE_REQUEST]["data"] is None
    garbage = os.urandom(64).hex()  # one long line that is neither JSON nor a CSV table
    assert "contains no records" in json.dumps(
        _post_paste(client, dep, {"text": garbage, "at": 2})[data_in.ALERT]
    )
    good = _post_paste(client, dep, {"text": sample_json("participants"), "at": 3})
    assert good[data_in.SUMMARY]["data"]["rows"] == 25
