"""The mapping step and team-template pieces without a browser: their functions called with
the real engine, upload cache and template store on a temporary data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from components import column_map, runtime, team_editor, team_ui
from components.preview import build_preview, rows_response
from export_core.errors import ValidationError
from export_core.matching import ColumnMatch
from export_core.readers import read_csv
from export_core.settings import Settings

PARTNER = b"No,Email Address,Contact,Status\n1,a@example.org,0812,Approved\n"


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[dict[str, object]]:
    runtime.configure(Settings(data_dir=tmp_path))
    key = runtime.get_upload_cache().put_frame(read_csv(PARTNER))
    yield {"key": key, "rows": 1}
    runtime.configure(Settings(data_dir=tmp_path / "unused"))


def test_table_prefills_and_choices_become_overrides(loaded: dict[str, object]) -> None:
    _, auto, offer = column_map.build_table(loaded, "participants", "standard")
    assert [a[:3] for a in auto] == [
        ["No", None, "none"],
        ["Email Address", "email", "synonym"],
        ["Contact", None, "none"],
        ["Status", "form_status", "header"],
    ]
    assert offer is None
    values = ["-", "email", "phone", "form_status"]  # the person picks phone for Contact
    assert column_map.overrides(auto, values) == {"Contact": "phone"}
    assert column_map.overrides(auto, ["notes", "-", None, "form_status"]) == {
        "No": "notes",
        "Email Address": None,
    }


def test_preview_and_grid_pages_use_the_choices(loaded: dict[str, object]) -> None:
    without = build_preview(loaded, "participants", "standard", "excel", "auto", {})
    with_map = build_preview(
        loaded, "participants", "standard", "excel", "auto", {"Contact": "phone"}
    )
    assert without[1]["column_map"] == {} and with_map[1]["column_map"] == {"Contact": "phone"}
    page = rows_response({"startRow": 0, "endRow": 100}, with_map[1])
    headers = ["ID", "Form ID", "First Name", "Last Name", "Email", "Phone"]
    assert page["rowData"][0][f"c{headers.index('Phone')}"] == "0812"
    plain = rows_response({"startRow": 0, "endRow": 100}, without[1])
    assert plain["rowData"][0][f"c{headers.index('Phone')}"] == ""
    # A map naming a field twice is an alert in the preview, not an exception.
    clash = build_preview(
        loaded, "participants", "standard", "excel", "auto", {"No": "phone", "Contact": "phone"}
    )
    assert clash[1] is None and "both mapped to 'phone'" in str(clash[4])


def test_confidence_badges() -> None:
    match = ColumnMatch("Frist", "first_name", "similar", 0.9)
    assert column_map.confidence(match, "first_name") == ("similar 90%", "info")
    assert column_map.confidence(match, "email") == ("your choice", "primary")
    unsure = ColumnMatch("First Last", None, "ambiguous", 0.8, ("first_name", "last_name"))
    assert column_map.confidence(unsure, None)[0] == "unsure: first_name / last_name"


def test_team_editor_lines_and_browser_maps_are_checked() -> None:
    assert team_editor.parse_columns("email: E-mail\n\n id \nphone:Phone") == [
        ("email", "E-mail"),
        ("id", "id"),
        ("phone", "Phone"),
    ]
    with pytest.raises(ValidationError):
        team_ui.column_map_pairs(["Contact", "phone"])
    with pytest.raises(ValidationError):
        team_ui.column_map_pairs({"Contact": 3})
    assert team_ui.column_map_pairs({"Contact": "", "No": "notes"}) == (
        ("Contact", None),
        ("No", "notes"),
    )
