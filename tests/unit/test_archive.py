"""The ZIP of a multi-file export: stored xlsx, deflated csv, sizes and ratio from real files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from export_core.archive import build_zip
from export_core.model import WrittenArchive


def _members(tmp_path: Path) -> list[Path]:
    xlsx = tmp_path / "participants_batch_1_of_2.xlsx"
    xlsx.write_bytes(bytes(range(256)) * 40)  # stands in for an (incompressible-ish) workbook
    csv = tmp_path / "participants_batch_2_of_2.csv"
    csv.write_text("ID,Name\r\n" + "1,Budi Santoso\r\n" * 2_000, encoding="utf-8")
    return [xlsx, csv]


def test_compress_types_names_and_contents(tmp_path: Path) -> None:
    members = _members(tmp_path)
    target = tmp_path / "out" / "participants_complete_export.zip"
    target.parent.mkdir()
    archive = build_zip(members, target)
    with zipfile.ZipFile(target) as zf:
        assert zf.testzip() is None
        infos = {i.filename: i for i in zf.infolist()}
        assert list(infos) == [m.name for m in members]
        assert infos[members[0].name].compress_type == zipfile.ZIP_STORED
        assert infos[members[1].name].compress_type == zipfile.ZIP_DEFLATED
        for member in members:
            assert zf.read(member.name) == member.read_bytes()
    assert archive.zip_file_name == "participants_complete_export.zip"


def test_sizes_and_ratio_are_measured(tmp_path: Path) -> None:
    members = _members(tmp_path)
    target = tmp_path / "a.zip"
    archive = build_zip(members, target)
    assert archive.zip_file_size == target.stat().st_size
    assert archive.uncompressed_size == sum(m.stat().st_size for m in members)
    saved = 1 - archive.zip_file_size / archive.uncompressed_size
    assert archive.compression_ratio == f"{saved * 100:.1f}%"
    assert 0 < saved < 1


def test_ratio_of_stored_members_is_honest(tmp_path: Path) -> None:
    member = tmp_path / "only.xlsx"
    member.write_bytes(b"\x00" * 10_000)  # compressible, but xlsx members are stored as is
    archive = build_zip([member], tmp_path / "s.zip")
    assert archive.zip_file_size > archive.uncompressed_size  # headers make it bigger
    assert archive.compression_ratio == "0.0%"
    assert WrittenArchive("x.zip", 0, 0).compression_ratio == "0.0%"


def test_duplicate_member_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.csv").write_text("1")
    (tmp_path / "x.csv").write_text("2")
    with pytest.raises(ValueError, match="distinct names"):
        build_zip([tmp_path / "a" / "x.csv", tmp_path / "x.csv"], tmp_path / "d.zip")
