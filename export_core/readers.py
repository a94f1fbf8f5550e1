"""JSON / CSV / XLSX input -> a polars DataFrame of String columns (null for missing values).

Every reader returns one column per input field, all of dtype String, in first-seen order; JSON
numbers/booleans become their text ("1", "1500.0", "true"), nested values their compact JSON
text. Bad input raises InputError naming what is wrong and where (line/column/row)."""

from __future__ import annotations

from typing import Any

import polars as pl


def records_to_frame(records: Any) -> pl.DataFrame:
    """An already-decoded JSON value (list of objects, or {"data": [...]}) -> frame."""
    raise NotImplementedError


def read_json(data: bytes | str) -> pl.DataFrame:
    """JSON text: a list of objects, or an object with a `data` list."""
    raise NotImplementedError


def read_csv(data: bytes | str) -> pl.DataFrame:
    """CSV text: UTF-8 with or without BOM; comma, semicolon or tab detected; RFC 4180 quoting."""
    raise NotImplementedError


def read_xlsx(data: bytes) -> pl.DataFrame:
    """XLSX workbook: first sheet, first row is the header."""
    raise NotImplementedError


def read_any(data: bytes, filename: str | None = None) -> pl.DataFrame:
    """Pick the reader from the file name's extension, else sniff the content."""
    raise NotImplementedError
