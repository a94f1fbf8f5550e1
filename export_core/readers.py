"""JSON / CSV / XLSX input -> a polars DataFrame of String columns (null for missing values).

Every reader returns one column per input field, all of dtype String, in first-seen order; JSON
numbers/booleans become their text ("1", "1500.0", "true"), nested values their compact JSON
text. Bad input raises InputError naming what is wrong and where (line/column/row).

Readers never infer types: typing is the mapping's job, driven by the template. An input with
no records is not an error here (an empty frame); the service decides what that means."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from itertools import chain
from typing import Any

import orjson
import polars as pl

from .errors import InputError

_BOM = b"\xef\xbb\xbf"
_DELIMITERS = ",;\t"
_SNIFF_CHARS = 64 * 1024
# orjson reads integers beyond 64 bits as floats; a run of 19+ digits sends the text through the
# standard library instead, which keeps such integers exact. Found with translate + find (C
# speed, ~30 ms for 22 MB) because a regex search costs ~0.5 s on such a body.
_DIGITS_ONLY = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_LONG_DIGIT_RUN = b"0" * 19
_TEXT_TYPES = frozenset({str, type(None)})
_MAX_NESTING = 255  # orjson's limit for writing a nested value back as JSON text
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


def _float_texts(values: list[Any]) -> list[Any]:
    """`values` with every float replaced by its text as polars' own conversion of records
    gives it (`plain_frame`, the main JSON path): shortest round-trip digits written out
    without an exponent ("0.0000001", not Python's "1e-07"), integral values without ".0".
    One polars call for the lot, so that the JSON fallback path and the xlsx reader spell a
    float exactly as the main path does (Python's repr differs for ~half of all doubles, and
    polars breaks shortest-digit ties its own way)."""
    at = [i for i, v in enumerate(values) if type(v) is float]
    if not at:
        return values
    texts = pl.from_dicts(
        [{"v": values[i]} for i in at], schema={"v": pl.String}, strict=False
    ).get_column("v")
    out = list(values)
    for i, text in zip(at, texts, strict=True):
        out[i] = text
    return out


def _json_text(value: Any) -> str | float | None:
    """A decoded JSON value as the text a reader column holds; a float is returned as it is,
    for `_float_texts` to spell with the rest of its column."""
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
        return value  # type: ignore[no-any-return]
    if isinstance(value, dict | list | tuple):
        try:
            return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # orjson refuses nesting deeper than 255 levels
            raise _TooDeep from None
    return str(value)


class _TooDeep(Exception):
    """A nested value too deep to be kept as JSON text (turned into InputError with its row)."""


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
    texts = list(map(_json_text, values))
    return _float_texts(texts) if float in kinds else texts


def _nested_column_text(key: str, values: list[Any]) -> list[Any]:
    try:
        return _column_text(values)
    except _TooDeep:
        row = next(i for i, v in enumerate(values) if isinstance(v, dict | list)
                   and _too_deep(v)) + 1  # fmt: skip
        raise InputError(
            f"Record {row}, field '{key}': the value is nested more than "
            f"{_MAX_NESTING} levels deep; send plain values",
            row=row,
            column=key,
        ) from None


def _too_deep(value: Any) -> bool:
    try:
        orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return True
    return False


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
    keys = _keys(rows)
    if not keys:
        return pl.DataFrame(height=len(rows))
    frame = plain_frame(rows, keys)
    if frame is not None:
        return frame
    if value_types(rows) & {dict, list}:
        columns = {key: _nested_column_text(key, [r.get(key) for r in rows]) for key in keys}
    else:
        columns = {key: _column_text([r.get(key) for r in rows]) for key in keys}
    return _frame(columns, len(rows))


def plain_frame(
    rows: list[dict[str, Any]], keys: list[str] | None = None, *, scalars: bool = False
) -> pl.DataFrame | None:
    """The frame of records holding only scalars, converted by polars itself (~3x the Python
    loop), or None when that fast path does not apply. Each value's text depends on that value
    alone, so the frames of consecutive slices of records, concatenated, equal the frame of
    all of them (export_core.jsonslices relies on that). `scalars`: the caller has made sure
    that no value is a list or an object."""
    keys = _keys(rows) if keys is None else keys
    # Nested values go to the Python path: polars' own conversion of deeply nested lists can
    # recurse without bound (a 1,000-level list exhausted memory).
    if not keys or (not scalars and value_types(rows) & {dict, list}):
        return None
    try:
        # An explicit all-String schema: nothing is inferred. Polars refuses integers beyond
        # 64 bits; some shapes make it raise TypeError rather than a PolarsError.
        return pl.from_dicts(rows, schema=dict.fromkeys(keys, pl.String), strict=False)
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
        return None


def _keys(rows: list[dict[str, Any]]) -> list[str]:
    """Union of keys in first-seen order, gathered in C; InputError for a non-text key."""
    keys = list(dict.fromkeys(chain.from_iterable(rows)))
    for key in keys:
        if type(key) is not str:
            index = next(i for i, r in enumerate(rows) if key in r)
            raise InputError(f"Record {index + 1} has a non-text key {key!r}", row=index + 1)
    return keys


def value_types(rows: list[dict[str, Any]]) -> set[type]:
    """The Python types of all values in `rows`."""
    return set(map(type, chain.from_iterable(map(dict.values, rows))))


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


def has_long_digit_run(raw: bytes) -> bool:
    """Whether `raw` holds 19 digits in a row (an integer that may not fit 64 bits)."""
    return _LONG_DIGIT_RUN in raw.translate(_DIGITS_ONLY)


def read_json(data: bytes | str) -> pl.DataFrame:
    """JSON text: a list of objects, or an object with a `data` list."""
    original = data.encode() if isinstance(data, str) else bytes(data)
    raw = original.removeprefix(_BOM)
    if not raw.strip():
        raise InputError("The JSON input is empty; expected a list of records")
    long_digits = has_long_digit_run(raw)
    if not long_digits:  # orjson would read such integers as floats
        from .jsonslices import decode_records  # it builds on this module

        sliced = decode_records(raw)  # a slice at a time; None for anything unusual
        if sliced is not None:
            return sliced.frame
    try:
        value = json.loads(raw) if long_digits else orjson.loads(raw)
    except (orjson.JSONDecodeError, json.JSONDecodeError, UnicodeDecodeError):
        # Re-read with the standard library for a precise message (orjson's is terse).
        text = _text_of(original)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _syntax_error(exc) from None
        except RecursionError:
            raise InputError(
                "The JSON is nested too deeply to read; send a list of flat records"
            ) from None
    return records_to_frame(value)


def _text_of(data: bytes | str) -> str:
    """Bytes -> text (UTF-8, BOM dropped), or InputError naming the offending line."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        # Decoded whole (not utf-8-sig) so error offsets count the BOM's bytes too.
        return bytes(data).decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise _decode_error(bytes(data), exc) from None


def _header_line(text: str) -> str:
    """The first logical line (newlines inside quotes do not end it)."""
    quoted = False
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char in "\r\n" and not quoted:
            return text[:index]
    return text


def _detect_delimiter(text: str) -> str:
    """Comma, semicolon or tab: the clear winner in the header line, else csv.Sniffer's pick."""
    header = re.sub(r'"[^"]*"', "", _header_line(text))  # delimiters inside quotes don't count
    counts = sorted(((header.count(d), d) for d in _DELIMITERS), reverse=True)
    if counts[0][0] == 0:
        return ","  # a single-column file: the header has no delimiter at all
    if counts[0][0] > counts[1][0]:
        return counts[0][1]
    try:
        return csv.Sniffer().sniff(text[:_SNIFF_CHARS], delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _csv_header(fields: list[str]) -> list[str]:
    names = [f.strip() for f in fields]
    seen: set[str] = set()
    for number, name in enumerate(names, start=1):
        if not name:
            raise InputError(
                f"Header column {number} has no name; every column needs a header", column=number
            )
        if name in seen:
            raise InputError(
                f"Header name '{name}' appears more than once (column {number})", column=number
            )
        seen.add(name)
    return names


def csv_records(
    reader: Any, header: list[str] | None = None, lines_before: int = 0
) -> Iterator[list[str]]:
    """The checked header of a csv.reader, then the fields of each data record; blank lines
    are skipped. A record with more fields than the header, or malformed quoting, raises
    InputError naming the line the record starts on. `header`: a reader that starts after
    the header (names already checked), `lines_before` physical lines into the file."""
    names = header
    line = lines_before + 1  # first physical line of the record being read
    try:
        for fields in reader:
            if not fields or fields == [""]:
                line = reader.line_num + lines_before + 1
                continue
            if names is None:
                names = _csv_header(fields)
                yield names
            elif len(fields) > len(names):
                raise InputError(
                    f"Line {line} has {len(fields)} fields but the header has {len(names)}",
                    line=line,
                    details={"expected": len(names), "got": len(fields)},
                )
            else:
                yield fields
            line = reader.line_num + lines_before + 1
    except csv.Error as exc:
        at = reader.line_num + lines_before
        raise InputError(f"Malformed CSV at line {at}: {exc}", line=at) from None


def read_csv(data: bytes | str) -> pl.DataFrame:
    """CSV text: UTF-8 with or without BOM; comma, semicolon or tab detected; RFC 4180 quoting."""
    text = _text_of(data)
    if not text.strip():
        return pl.DataFrame()
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=_detect_delimiter(text), strict=True
    )
    records = csv_records(reader)
    names = next(records, None)
    if names is None:
        return pl.DataFrame()
    rows = list(records)
    columns = {
        name: [(row[i] or None) if i < len(row) else None for row in rows]
        for i, name in enumerate(names)
    }
    return _frame(columns, len(rows))


def _cell_text(value: Any) -> str | float | None:
    """An openpyxl cell value as reader text; a float is returned as it is, for
    `_float_texts` to spell with the rest of its column."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return value
    if isinstance(value, datetime):
        if value.time() == time(0):
            # Excel stores dates as datetimes; midnight reads back as the date it was.
            return value.date().isoformat()
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return f"{text}.{value.microsecond:06d}" if value.microsecond else text
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _sheet_rows(data: bytes) -> Iterator[tuple[Any, ...]]:
    """Value rows of the first sheet, or InputError when the bytes are no workbook."""
    # Imported here: openpyxl (and the numpy it pulls in) is ~30 MB of every worker's memory,
    # and only an uploaded .xlsx needs it.
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():
            # openpyxl warns about harmless things (no default style, unknown extensions).
            warnings.simplefilter("ignore")
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, InvalidFileException, OSError, ValueError) as exc:
        raise InputError(f"Not a valid .xlsx file: {exc}") from None
    try:
        if not book.worksheets:
            raise InputError("The workbook has no sheets")
        yield from book.worksheets[0].iter_rows(values_only=True)
    finally:
        book.close()


def _xlsx_header(row: tuple[Any, ...]) -> list[str]:
    cells = _float_texts([_cell_text(v) for v in row])
    while cells and cells[-1] is None:
        cells.pop()  # read-only sheets often report trailing empty cells
    return _csv_header([c or "" for c in cells])


def read_xlsx(data: bytes) -> pl.DataFrame:
    """XLSX workbook: first sheet, first row is the header."""
    names: list[str] | None = None
    rows: list[list[str | float | None]] = []
    for number, values in enumerate(_sheet_rows(data), start=1):
        cells = [_cell_text(v) for v in values]
        if all(c is None for c in cells):
            continue
        if names is None:
            names = _xlsx_header(values)
            continue
        extra = next((i for i in range(len(names), len(cells)) if cells[i] is not None), None)
        if extra is not None:
            raise InputError(
                f"Row {number} has a value in column {extra + 1}, which has no header",
                row=number,
                column=extra + 1,
            )
        rows.append(cells[: len(names)] + [None] * (len(names) - len(cells)))
    if names is None:
        raise InputError("The first sheet of the workbook is empty; expected a header row")
    columns = {name: _float_texts([row[i] for row in rows]) for i, name in enumerate(names)}
    return _frame(columns, len(rows))


def _sniff(data: bytes) -> str:
    if data.startswith(b"PK\x03\x04"):
        return ".xlsx"
    head = data[:1024].lstrip(_BOM + b" \t\r\n")
    return ".json" if head[:1] in (b"[", b"{") else ".csv"


def read_any(data: bytes, filename: str | None = None) -> pl.DataFrame:
    """Pick the reader from the file name's extension, else sniff the content."""
    extension = ""
    if filename and "." in filename.rsplit("/", 1)[-1]:
        extension = "." + filename.rsplit(".", 1)[-1].lower()
        if extension not in ACCEPTED_EXTENSIONS:
            raise InputError(
                f"Cannot read '{filename}': accepted file types are "
                + ", ".join(ACCEPTED_EXTENSIONS),
                details={"accepted": list(ACCEPTED_EXTENSIONS)},
            )
    kind = extension or _sniff(data)
    if kind == ".json":
        return read_json(data)
    if kind == ".xlsx":
        return read_xlsx(data)
    return read_csv(data)
