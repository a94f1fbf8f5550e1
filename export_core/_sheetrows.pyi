"""Stub of the C extension export_core/_sheetrows.c (built by `make`)."""

def render(
    columns: list[tuple[int, object, object | None, str, int]],
    files: list[tuple[int, int]],
    /,
) -> tuple[bytes, list[tuple[int, int]]] | None:
    """The `<row>` XML of every file's rows, back to back, and per file (end offset, 1-based
    sheet row of its last row with a cell, 0 for none); None when the block needs what only
    the polars renderer does. columns: (kind, Arrow stream capsule, raw-text stream capsule
    or None, column letters, style); files: (rows, first 1-based sheet row), consecutive."""

def csv(
    columns: list[tuple[int, object, object | None]],
    files: list[int],
    head: bytes,
    /,
) -> tuple[bytes, list[int]] | None:
    """Every file as a UTF-8 BOM, `head` (the header line) and its CSV rows, back to back, and
    per file its end offset; None when the block needs what only the polars path writes.
    columns: (kind, Arrow stream capsule, raw-text stream capsule or None); files: rows per
    file, consecutive."""
