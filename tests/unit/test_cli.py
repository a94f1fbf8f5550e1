"""`python -m export_core` in a real child process: export, preview, templates, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from benchmarks.datagen import records
from export_core.catalog import get_catalog
from tests.unit.engine_helpers import sheet_rows

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "export_core", *args],
        cwd=ROOT,
        input=None if stdin is None else stdin.decode(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def input_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "participants.json"
    path.write_text(json.dumps({"data": records("participants", 25, seed=4)}), encoding="utf-8")
    return path


def test_export_single_file(input_json: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run(
        "export", "participants", str(input_json), "--template", "complete", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "25 records -> 1 Excel file" in done.stdout
    assert "participants_complete_export.xlsx" in done.stdout
    rows = sheet_rows(out / "participants_complete_export.xlsx")
    assert rows[0] == list(get_catalog().template("participants", "complete").headers)
    assert [r[0] for r in rows[1:]] == list(range(1, 26))


def test_export_json_output_multi_file(tmp_path: Path) -> None:
    source = tmp_path / "payments.json"
    source.write_text(json.dumps(records("payments", 6_500, seed=2)), encoding="utf-8")
    out = tmp_path / "out"
    args = ["export", "payments", str(source), "--format", "csv", "--out", str(out)]
    done = run(*args, "--filename", "pay.csv", "--csv-bom", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["export_strategy"] == "multi_file"
    assert summary["record_count"] == 6_500
    assert [f["file_name"] for f in summary["files"]] == [
        "pay_batch_1_of_3.csv",
        "pay_batch_2_of_3.csv",
        "pay_batch_3_of_3.csv",
    ]
    assert [f["record_range"] for f in summary["files"]] == ["1-3000", "3001-6000", "6001-6500"]
    assert summary["archive"]["zip_file_name"] == "pay.zip"
    assert summary["archive"]["compression_ratio"].endswith("%")
    assert (out / "pay_batch_1_of_3.csv").read_bytes().startswith(b"\xef\xbb\xbfID,")
    with zipfile.ZipFile(out / "pay.zip") as zf:
        assert len(zf.namelist()) == 3


def test_preview_prints_quality_plan_and_table(input_json: Path) -> None:
    done = run("preview", "participants", str(input_json), "--template", "summary", "--rows", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Quality: 25 rows")
    assert lines[1] == "Plan: 25 records -> 1 Excel file"
    assert [cell.strip() for cell in lines[2].split(" | ")] == [
        "ID",
        "First Name",
        "Last Name",
        "Email",
        "Status",
        "Registration Date",
    ]
    assert len(lines) == 3 + 1 + 3  # header, rule, three rows
    assert lines[4].startswith("1 ")


def test_preview_from_stdin_as_json(input_json: Path) -> None:
    done = run(
        "preview", "participants", "-", "--rows", "2", "--json", stdin=input_json.read_bytes()
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["total_rows"] == 25
    assert [r["ID"] for r in payload["rows"]] == ["1", "2"]


def test_templates() -> None:
    done = run("templates")
    assert done.returncode == 0
    for data_type in get_catalog().types.values():
        assert f"{data_type.name} ({data_type.label})" in done.stdout
    listed = json.loads(run("templates", "--json").stdout)
    assert sum(len(t) for t in listed.values()) == 8
    assert listed["payments"]["standard"]["headers"][2] == "Amount"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--template", "nope"], 2, "error: Template 'nope' not found for participants"),
        (["--format", "pdf"], 2, "error: Unsupported format 'pdf'. Use one of: excel, csv"),
    ],
)
def test_bad_options_exit_2(
    input_json: Path, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    done = run("export", "participants", str(input_json), "--out", str(tmp_path), *args)
    assert done.returncode == code
    assert done.stderr.startswith(message)
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_unreadable_input_and_unknown_type_exit_2(input_json: Path, tmp_path: Path) -> None:
    missing = run("export", "participants", str(tmp_path / "nope.json"), "--out", str(tmp_path))
    assert missing.returncode == 2
    assert "Cannot read input file" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": 1}, {"id": ', encoding="utf-8")
    broken = run("preview", "participants", str(bad))
    assert broken.returncode == 2
    assert broken.stderr.startswith("error: ")
    assert run("templates", "visitors").returncode == 2


def test_storage_failure_exits_1(input_json: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = run("export", "participants", str(input_json), "--out", str(blocker / "sub"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: Could not write export files: ")
