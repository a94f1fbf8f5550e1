"""ZIP of a multi-file export: xlsx members stored (already deflated), csv members deflated."""

from __future__ import annotations

from pathlib import Path

from .model import WrittenArchive


def build_zip(members: list[Path], target: Path) -> WrittenArchive:
    """Write `members` (by base name) into the ZIP `target`; sizes measured, not guessed."""
    raise NotImplementedError
