"""JSON / CSV / XLSX input -> a polars DataFrame of String columns (null for missing values).

Every reader returns one column per input field, all of dtype String, in first-seen order; JSON
numbers/booleans become their text ("1", "1500.0", "true"), nested values their compact JSON
text. Bad input raises InputError naming what is wrong and where (line/column/row).

Readers never infer types: typing is the mapping's job, driven by the template. An input with
no records is not an error here (an empty frame); the service decides what that means."""

from __future__ import annotations

import json
import math
import re
from itertools import chain
from typing import Any

import orjson
import polars as pl

from .errors import InputError

_BOM = b"\xef\xbb\xbf"
_DELIMITERS = ",;\t"
_SNIFF_CHARS = 64 * 1024
# orjson reads integers beyond 64 bits as floats; a long digit run sends the text through the
# standard library instead, which keeps such integers exact.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_TEXT_TYPES = frozenset({str, type(None)})
ACCEPTED_EXTENSIONS = (".json", ".csv", ".tsv", ".txt", ".xlsx")


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _json_text(value: Any) -> str | None:
    """A decoded JSON value as the text a reader column holds."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _float_text(value)
    if isinstance(value, dict | list | tuple):
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return str(value)


def _records_of(value: Any) -> list[Any]:
    """The record list inside a decoded JSON document, or InputError saying what was found."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if "data" not in value:
            keys = ", ".join(list(map(str, value))[:5]) or "none"
            raise InputError(
                'Expected a JSON list of records or an object with a "data" list; found an '
                f'object without a "data" key (keys: {keys})'
            )
        data = value["data"]
        if isinstance(data, list):
            return data
        raise InputError(f'"data" must be a list of records; found {_json_type(data)}')
    raise InputError(
        'Expected a JSON list of records or an object with a "data" list; '
        f"found {_json_type(value)}"
    )


def _frame(columns: dict[str, list[str | None]], height: int) -> pl.DataFrame:
    """All-String frame from plain column lists (no inference: that is the slow path)."""
    if not columns:
        return pl.DataFrame(height=height)
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


def _column_text(values: list[Any]) -> list[Any]:
    """One column of decoded JSON values as text; whole-column fast paths for the usual cases."""
    kinds = set(map(type, values))
    if kinds <= _TEXT_TYPES:
        return values
    if kinds == {int}:
        return list(map(str, values))
    return list(map(_json_text, values))


def _check_records(rows: list[Any]) -> None:
    """InputError naming the first record that is not an object, or a key that is not text."""
    if set(map(type, rows)) - {dict}:
        index, record = next((i, r) for i, r in enumerate(rows) if type(r) is not dict)
        raise InputError(
            f"Record {index + 1} is not an object (got {_json_type(record)})", row=index + 1
        )


def records_to_frame(records: Any) -> pl.DataFrame:
    """An already-decoded JSON value (list of objects, or {"data": [...]}) -> frame."""
    rows = _records_of(records)
    _check_records(rows)
    # Union of keys in first-seen order, gathered in C; then one list per column.
    keys = list(dict.fromkeys(chain.from_iterable(rows)))
    for key in keys:
        if type(key) is not str:
            index = next(i for i, r in enumerate(rows) if key in r)
            raise InputError(f"Record {index + 1} has a non-text key {key!r}", row=index + 1)
    columns = {key: _column_text([r.get(key) for r in rows]) for key in keys}
    return _frame(columns, len(rows))


def _decode_error(data: bytes, exc: UnicodeDecodeError) -> InputError:
    line = data.count(b"\n", 0, exc.start) + 1
    return InputError(
        f"The file is not valid UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start} "
        f"(line {line}). Save it as UTF-8 and try again.",
        line=line,
        details={"byte_offset": exc.start},
    )


def _syntax_error(exc: json.JSONDecodeError) -> InputError:
    return InputError(
        f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
        line=exc.lineno,
        column=exc.colno,
        details={"position": exc.pos},
    )


def read_json(data: bytes | str) -> pl.DataFrame:
    """JSON text: a list of objects, or an object with a `data` list."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if not raw.strip():
        raise InputError("The JSON input is empty; expected a list of records")
    try:
        value = json.loads(raw) if _LONG_DIGITS.search(raw) else orjson.loads(raw)
    except (orjson.JSONDecodeError, json.JSONDecodeError, UnicodeDecodeError):
        # Re-read with the standard library for a precise message (orjson's is terse).
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _decode_error(raw, exc) from None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _syntax_error(exc) from None
    return records_to_frame(value)


def read_csv(data: bytes | str) -> pl.DataFrame:
    """CSV text: UTF-8 with or without BOM; comma, semicolon or tab detected; RFC 4180 quoting."""
    raise NotImplementedError


def read_xlsx(data: bytes) -> pl.DataFrame:
    """XLSX workbook: first sheet, first row is the header."""
    raise NotImplementedError


def read_any(data: bytes, filename: str | None = None) -> pl.DataFrame:
    """Pick the reader from the file name's extension, else sniff the content."""
    raise NotImplementedError
