"""The CLI's --map SRC=FIELD and "team:<name>" templates, in a real child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl

from export_core.catalog import get_catalog
from export_core.settings import Settings
from export_core.store.templates import open_template_store
from export_core.team_templates import build_team_template

ROOT = Path(__file__).resolve().parents[2]
PARTNER_CSV = (
    "No,Form ID,First Name,Email Address,Contact,Status\n"
    "1,F-1,Ann,ann@example.org,0812,Approved\n"
    "2,F-2,Bo,bo@example.org,0813,pending\n"
)


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "YBB_DATA_DIR": str(data_dir), "YBB_STORE": "sqlite"}
    return subprocess.run(
        [sys.executable, "-m", "export_core", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rows_of(path: Path) -> list[list[object]]:
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_export_with_map_options(tmp_path: Path) -> None:
    source = tmp_path / "partner.csv"
    source.write_text(PARTNER_CSV, encoding="utf-8")
    out = tmp_path / "out"
    done = run(
        tmp_path / "data", "export", "participants", str(source), "--out", str(out),
        "--map", "Contact=phone", "--map", "Form ID=", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    rows = rows_of(out / result["files"][0]["file_name"])
    first = dict(zip(rows[0], rows[1], strict=True))
    assert (first["Email"], first["Phone"], first["Form ID"]) == ("ann@example.org", "0812", None)
    assert result["quality"]["columns"]["Contact"]["method"] == "manual"
    assert result["quality"]["unknown_codes"] == {"Status": {"pending": 1}}


def test_bad_maps_exit_2_saying_why(tmp_path: Path) -> None:
    source = tmp_path / "partner.csv"
    source.write_text(PARTNER_CSV, encoding="utf-8")
    for bad, message in [
        ("Contact", "--map 'Contact': write SRC=FIELD"),
        ("Contact=mobile", "'Contact' is mapped to 'mobile', which is not a field"),
    ]:
        done = run(tmp_path, "preview", "participants", str(source), "--map", bad)
        assert done.returncode == 2
        assert message in done.stderr


def test_export_with_a_team_template(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    team = build_team_template(
        get_catalog(), "participants", "Outreach", [("email", "Mail"), ("form_status", "Stage")]
    )
    open_template_store(Settings(data_dir=data_dir)).save_template(team)
    source = tmp_path / "partner.csv"
    source.write_text(PARTNER_CSV, encoding="utf-8")
    out = tmp_path / "out"
    done = run(
        data_dir, "export", "participants", str(source), "--out", str(out),
        "--template", "team:Outreach", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    name = json.loads(done.stdout)["files"][0]["file_name"]
    assert rows_of(out / name) == [
        ["Mail", "Stage"],
        ["ann@example.org", "Approved"],
        ["bo@example.org", "pending"],
    ]
    done = run(data_dir, "preview", "participants", str(source), "--template", "team:Nope")
    assert done.returncode == 2
    assert "Template 'team:Nope' not found for participants" in done.stderr
