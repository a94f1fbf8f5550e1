"""Team templates and saved mappings: the TemplateStore (every backend), checks, and exports
written with a team template (reopened with openpyxl)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from export_core.catalog import get_catalog
from export_core.errors import MappingConflict, NotFound, ValidationError
from export_core.matching import header_fingerprint
from export_core.model import ExportOptions
from export_core.readers import records_to_frame
from export_core.service import resolve_template, write_export
from export_core.settings import Settings
from export_core.store.templates import TemplateStore, open_template_store
from export_core.team_templates import (
    SavedMapping,
    TeamTemplate,
    build_team_template,
    resolve_options,
    to_template,
)

CATALOG = get_catalog()
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TemplateStore]:
    """The template store of each backend (PostgreSQL: a fresh database, migrated)."""
    if request.param == "sqlite":
        yield open_template_store(Settings(data_dir=tmp_path), "sqlite")
        return
    url = request.getfixturevalue("database_url")
    settings = Settings.from_env({"YBB_DATA_DIR": str(tmp_path), "YBB_STORE": "postgres",
                                  "DATABASE_URL": url})  # fmt: skip
    yield open_template_store(settings)


def outreach() -> TeamTemplate:
    return build_team_template(
        CATALOG,
        "participants",
        "Outreach list",
        [("email", "E-mail"), ("first_name", "Given name"), ("form_status", "Stage")],
        "For the newsletter",
    )


def test_save_list_get_replace_delete(store: TemplateStore) -> None:
    team = outreach()
    store.save_template(team)
    assert store.get_template("participants", "Outreach list") == team
    assert store.get_template("payments", "Outreach list") is None
    assert store.list_templates() == [team]
    assert store.list_templates("payments") == []
    changed = build_team_template(CATALOG, "participants", "Outreach list", [("id", "No")])
    store.save_template(changed)
    assert store.list_templates("participants") == [changed]
    assert store.delete_template("participants", "Outreach list") is True
    assert store.delete_template("participants", "Outreach list") is False
    assert store.get_template("participants", "Outreach list") is None


def test_saved_mappings_are_found_by_header_set(store: TemplateStore) -> None:
    columns = ["No", "Email Address", "Contact"]
    mapping = SavedMapping(
        "participants",
        "Partner A",
        header_fingerprint(columns),
        (("No", None), ("Contact", "phone")),
    )
    store.save_mapping(mapping)
    assert store.find_mappings(
        "participants", header_fingerprint(["contact", "no", "EMAIL ADDRESS"])
    ) == [mapping]
    assert store.find_mappings("participants", header_fingerprint(columns[:2])) == []
    assert store.find_mappings("payments", mapping.fingerprint) == []
    assert store.delete_mapping("participants", "Partner A") is True
    assert store.find_mappings("participants", mapping.fingerprint) == []


def test_a_second_store_on_the_same_database_sees_the_templates(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    open_template_store(settings, "sqlite").save_template(outreach())
    assert [t.name for t in open_template_store(settings, "sqlite").list_templates()] == [
        "Outreach list"
    ]


def test_a_team_template_named_like_a_seed_one_shadows_nothing(
    store: TemplateStore, tmp_path: Path
) -> None:
    store.save_template(build_team_template(CATALOG, "participants", "standard", [("id", "No")]))
    seed = resolve_options(ExportOptions("participants", "standard"), CATALOG, store)
    team = resolve_options(ExportOptions("participants", "team:standard"), CATALOG, store)
    assert seed.team_template is None
    assert resolve_template(seed, CATALOG) is CATALOG.template("participants", "standard")
    assert resolve_template(team, CATALOG).headers == ("No",)
    assert CATALOG.template("participants", "standard").headers[0] == "ID"


@pytest.mark.parametrize(
    ("name", "columns", "message"),
    [
        ("", [("id", "ID")], "Template name must be"),
        ("../etc", [("id", "ID")], "Template name must be"),
        (" padded", [("id", "ID")], "Template name must be"),
        ("team:x", [("id", "ID")], "Template name must be"),
        ("ok", [("id", "A\x00B")], "without control characters"),
        ("ok", [("id", " A")], "not starting"),
        ("ok", [], "at least one column"),
        ("ok", [("emial", "Mail")], "Unknown participants field"),
        ("ok", [("id", "=HYPERLINK(1)")], "not starting"),
        ("ok", [("id", " ")], "Header"),
    ],
)
def test_bad_team_templates_are_refused(
    name: str, columns: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        build_team_template(CATALOG, "participants", name, columns)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([("id", "A"), ("id", "B")], "Each field may appear once"),
        ([("id", "A"), ("email", "a")], "Each header may appear once"),
    ],
)
def test_contradicting_columns_are_a_conflict(columns: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(MappingConflict, match=message):
        build_team_template(CATALOG, "participants", "ok", columns)


def test_team_template_as_engine_template() -> None:
    template = to_template(outreach(), CATALOG)
    assert template.name == "team:Outreach list"
    assert template.headers == ("E-mail", "Given name", "Stage")
    assert [c.kind for c in template.columns] == ["text", "text", "status"]
    assert template.includes_sensitive_data is False  # all in the non-sensitive standard
    dob = build_team_template(CATALOG, "participants", "dob", [("birthdate", "Born")])
    assert to_template(dob, CATALOG).includes_sensitive_data is True
    assert template.chunk_size == CATALOG.template("participants", "standard").chunk_size
    # The catalog's templates are untouched.
    assert CATALOG.template("participants", "standard").headers[4] == "Email"


def test_export_with_a_team_template(store: TemplateStore, tmp_path: Path) -> None:
    store.save_template(outreach())
    options = resolve_options(ExportOptions("participants", "team:Outreach list"), CATALOG, store)
    frame = records_to_frame(
        [{"Email Address": "a@example.org", "First Name": "Ann", "Status": "3", "x": "1"}]
    )
    result = write_export(frame, options, tmp_path / "out")
    sheet = openpyxl.load_workbook(tmp_path / "out" / result.files[0].file_name).active
    assert sheet is not None
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [
        ["E-mail", "Given name", "Stage"],
        ["a@example.org", "Ann", "Approved"],
    ]
    with pytest.raises(NotFound, match="Template 'team:nope' not found for participants"):
        resolve_options(ExportOptions("participants", "team:nope"), CATALOG, store)
    with pytest.raises(NotFound, match="'team:Outreach list' not found for payments"):
        resolve_options(ExportOptions("payments", "team:Outreach list"), CATALOG, store)
