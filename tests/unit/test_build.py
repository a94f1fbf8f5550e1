"""export_core/_build.py: a C extension is rebuilt when its source or the header every module
includes (arrow_c.h) is newer than the built file, and only then (a real compiler run)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from export_core import _build

SOURCE_DIR = Path(_build.__file__).resolve().parent


def test_a_module_is_rebuilt_after_its_header_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("_jsoncols.c", *_build.HEADERS):
        shutil.copy2(SOURCE_DIR / name, tmp_path / name)
    source_written = (tmp_path / "_jsoncols.c").stat().st_mtime_ns - 100_000_000_000
    os.utime(tmp_path / "_jsoncols.c", ns=(source_written, source_written))  # long before
    monkeypatch.setattr(_build, "HERE", tmp_path)
    built = _build.build_one("_jsoncols")
    assert built.parent == tmp_path and built.stat().st_size > 0

    def built_before(path: Path) -> int:
        """Date the built file 10 s before `path` was changed; returns that time."""
        older = path.stat().st_mtime_ns - 10_000_000_000
        os.utime(built, ns=(older, older))
        return older

    def rebuilt_since(stamp: int) -> bool:
        return _build.build_one("_jsoncols").stat().st_mtime_ns != stamp

    assert not rebuilt_since(built.stat().st_mtime_ns), "rebuilt while up to date"
    assert rebuilt_since(built_before(tmp_path / "arrow_c.h")), "a newer header, no rebuild"
    assert not rebuilt_since(built.stat().st_mtime_ns)
    assert rebuilt_since(built_before(tmp_path / "_jsoncols.c")), "a newer source, no rebuild"
