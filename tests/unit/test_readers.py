"""Readers: JSON, CSV and XLSX bytes -> all-String polars frames, and their error messages."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from export_core.errors import InputError
from export_core.readers import read_any, read_csv, read_json, read_xlsx, records_to_frame

FIXTURES = Path(__file__).parent.parent / "fixtures"
BOM = b"\xef\xbb\xbf"


def assert_all_string(frame: pl.DataFrame) -> None:
    assert all(dtype == pl.String for dtype in frame.schema.values()), frame.schema


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    """A real workbook written by openpyxl, first sheet holding `rows`."""
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- records_to_frame / read_json ------------------------------------------------------------


def test_records_union_of_keys_in_first_seen_order() -> None:
    frame = records_to_frame([{"b": "1", "a": "2"}, {"c": "3", "a": "4"}, {}])
    assert frame.columns == ["b", "a", "c"]
    assert frame.rows() == [("1", "2", None), (None, "4", "3"), (None, None, None)]
    assert_all_string(frame)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (0, "0"),
        (-7, "-7"),
        (10**30, str(10**30)),
        (1.5, "1.5"),
        (1500.25, "1500.25"),
        (True, "true"),
        (False, "false"),
        (None, None),
        ("", ""),
        ("héllo 世界 🎉", "héllo 世界 🎉"),
        ({"x": [1, 2]}, '{"x":[1,2]}'),
        ([1, "a"], '[1,"a"]'),
    ],
)
def test_records_values_become_text(value: Any, text: str | None) -> None:
    frame = records_to_frame({"data": [{"v": "first"}, {"v": value}]})
    assert frame["v"].to_list() == ["first", text]
    assert_all_string(frame)


@pytest.mark.parametrize("value", [1500.0, float("nan"), float("inf")])
def test_records_floats_keep_a_numeric_text(value: float) -> None:
    text = records_to_frame([{"v": value}])["v"][0]
    assert isinstance(text, str)
    assert float(text) == value or text.lower() == "nan"


FLOAT_EDGES = [0.0, -0.0, 1e-7, 5e-324, 1e16, 2.0**53, 2.0**53 + 2, 1e300, 0.1, 1 / 3]
FLOAT_EDGES += [1801514316094494.2, float("nan"), float("inf"), float("-inf")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats() | st.sampled_from(FLOAT_EDGES), min_size=1, max_size=20))
def test_floats_are_spelt_alike_whichever_path_reads_them(values: list[float]) -> None:
    """A nested value anywhere sends a document down the Python path; a float is still
    spelt exactly as polars' own conversion (the main path) spells it: "0.0000001", not
    Python's "1e-07" (and polars' tie-breaking, e.g. ...494.3 where repr says ...494.2)."""
    plain = records_to_frame([{"v": v} for v in values])["v"].to_list()
    nested = records_to_frame([{"v": v} for v in values] + [{"n": [1]}])["v"].to_list()
    assert nested[:-1] == plain
    assert records_to_frame([{"v": 1e-7}, {"n": [1]}])["v"][0] == "0.0000001"


@pytest.mark.parametrize(
    ("records", "row", "got"),
    [([{"a": 1}, {"a": 2}, [1, 2]], 3, "list"), (["x"], 1, "string"), ([{}, None], 2, "null")],
)
def test_record_that_is_not_an_object_names_its_row(records: Any, row: int, got: str) -> None:
    with pytest.raises(InputError) as info:
        records_to_frame(records)
    assert info.value.row == row
    assert info.value.message == f"Record {row} is not an object (got {got})"


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("text", "string"),
        (42, "number"),
        ({"records": []}, 'without a "data" key'),
        ({"data": {"a": 1}}, "object"),
    ],
)
def test_top_level_shape_is_explained(value: Any, found: str) -> None:
    with pytest.raises(InputError, match=found):
        records_to_frame(value)
    with pytest.raises(InputError, match=found):
        read_json(json.dumps(value))


def test_no_records_is_an_empty_frame() -> None:
    assert records_to_frame([]).shape == (0, 0)
    assert read_json(b'{"data": []}').shape == (0, 0)
    assert records_to_frame([{}, {}]).height == 2


def test_read_json_bytes_str_and_bom() -> None:
    body = json.dumps([{"id": 1, "name": "Ann"}]).encode()
    for data in (body, body.decode(), BOM + body):
        frame = read_json(data)
        assert frame.rows() == [("1", "Ann")]
        assert_all_string(frame)


def test_read_json_keeps_big_integers_exact() -> None:
    frame = read_json(b'[{"id": 123456789012345678901234567890}]')
    assert frame["id"][0] == "123456789012345678901234567890"


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('[{"a": 1},\n {"a": }]', 2, 8),
        ('[{"a": 1}', 1, 10),
        ('\n\n  [{"a" 1}]', 3, 9),
    ],
)
def test_json_syntax_error_names_line_and_column(text: str, line: int, column: int) -> None:
    with pytest.raises(InputError) as info:
        read_json(text.encode())
    assert (info.value.line, info.value.column) == (line, column)
    assert f"line {line}, column {column}" in info.value.message


def test_json_invalid_utf8_names_byte_offset() -> None:
    with pytest.raises(InputError) as info:
        read_json(b'[{"a": "caf\xe9"}]')
    assert info.value.details["byte_offset"] == 11
    assert "UTF-8" in info.value.message


def test_json_empty_input() -> None:
    with pytest.raises(InputError, match="empty"):
        read_json(b"  \n")


# --- read_csv --------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("bom", [b"", BOM])
def test_csv_delimiters_and_bom(delimiter: str, bom: bytes) -> None:
    text = delimiter.join(["id", "name", "city"]) + "\r\n"
    text += delimiter.join(["1", "Ann", "Paris, France" if delimiter != "," else "Paris"]) + "\r\n"
    frame = read_csv(bom + text.encode())
    assert frame.columns == ["id", "name", "city"]
    assert frame.row(0)[:2] == ("1", "Ann")
    assert_all_string(frame)


def test_csv_quoting_embedded_newlines_and_doubled_quotes() -> None:
    data = 'id;note;x\n1;"line one\nline two; still";a\n2;"he said ""hi""";b\n'
    frame = read_csv(data.encode())
    assert frame["note"].to_list() == ["line one\nline two; still", 'he said "hi"']
    assert frame["x"].to_list() == ["a", "b"]


def test_csv_short_rows_and_empty_strings_are_null() -> None:
    frame = read_csv(b"a,b,c\n1,,3\n4\n\n5,6,\n")
    assert frame.rows() == [("1", None, "3"), ("4", None, None), ("5", "6", None)]


def test_csv_header_only_is_an_empty_frame() -> None:
    frame = read_csv(b"a,b\n")
    assert frame.columns == ["a", "b"]
    assert frame.height == 0


def test_csv_wide_row_names_its_line() -> None:
    data = b'a,b\n1,2\n"multi\nline",2\n3,4,5\n'
    with pytest.raises(InputError) as info:
        read_csv(data)
    assert info.value.line == 5
    assert info.value.details["expected"] == 2
    assert info.value.details["got"] == 3
    assert info.value.message == "Line 5 has 3 fields but the header has 2"


def test_csv_header_problems() -> None:
    with pytest.raises(InputError) as info:
        read_csv(b"a,,c\n1,2,3\n")
    assert info.value.column == 2
    with pytest.raises(InputError, match="'a' appears more than once"):
        read_csv(b"a,b,a\n1,2,3\n")


def test_csv_invalid_utf8_names_line() -> None:
    with pytest.raises(InputError) as info:
        read_csv(BOM + b"a,b\n1,2\n3,caf\xe9\n")
    assert info.value.line == 3
    assert info.value.details["byte_offset"] == len(BOM + b"a,b\n1,2\n3,caf")


def test_csv_unterminated_quote() -> None:
    with pytest.raises(InputError, match="Malformed CSV"):
        read_csv(b'a,b\n1,"never closed\n')


def test_csv_fixture_file() -> None:
    frame = read_any((FIXTURES / "participants_semicolon.csv").read_bytes(), "p.CSV")
    assert frame.columns[:3] == ["id", "form_id", "first_name"]
    assert frame.height == 3
    assert frame["notes"][1] == 'Says "hi";\nsecond line'
    assert frame["first_name"][2] == "Ñandú"


# --- read_xlsx -------------------------------------------------------------------------------


def test_xlsx_values_become_text() -> None:
    data = xlsx_bytes(
        [
            ["id", "amount", "when", "day", "ok", "name", "ratio"],
            [1, 1500.0, datetime(2024, 1, 15, 10, 30), date(2024, 1, 15), True, "Ann", 0.25],
            [2, None, datetime(2024, 1, 15, 0, 0, 0, 500000), None, False, "", 3],
            [None, None, None, None, None, None, None],
            [3, 12.5],
        ]
    )
    frame = read_xlsx(data)
    assert frame.columns == ["id", "amount", "when", "day", "ok", "name", "ratio"]
    assert_all_string(frame)
    # Excel stores dates as datetimes: midnight reads back as the bare date.
    assert frame.rows()[0] == (
        "1",
        "1500",
        "2024-01-15 10:30:00",
        "2024-01-15",
        "true",
        "Ann",
        "0.25",
    )
    assert frame.rows()[1] == ("2", None, "2024-01-15 00:00:00.500000", None, "false", None, "3")
    assert frame.rows()[2] == ("3", "12.5", None, None, None, None, None)


def test_xlsx_floats_are_spelt_as_json_floats_are() -> None:
    """A float read from a workbook has the same text as the same float in a JSON upload."""
    values = [1e-7, 1e20, 0.1, 2.0**53, 1 / 3, 12.5]  # (xlsx keeps 16 digits)
    frame = read_xlsx(xlsx_bytes([["v", 1e-7], *[[v, None] for v in values]]))
    assert frame.columns == ["v", "0.0000001"]
    assert frame["v"].to_list() == records_to_frame([{"v": v} for v in values])["v"].to_list()
    assert frame["v"].to_list()[:3] == ["0.0000001", "100000000000000000000", "0.1"]


def test_xlsx_cell_beyond_the_header() -> None:
    with pytest.raises(InputError) as info:
        read_xlsx(xlsx_bytes([["a", "b"], [1, 2, 3]]))
    assert (info.value.row, info.value.column) == (2, 3)


def test_xlsx_header_problems_and_empty_sheet() -> None:
    with pytest.raises(InputError) as info:
        read_xlsx(xlsx_bytes([["a", None, "c"], [1, 2, 3]]))
    assert info.value.column == 2
    with pytest.raises(InputError, match="empty"):
        read_xlsx(xlsx_bytes([]))


def test_xlsx_header_only_is_an_empty_frame() -> None:
    frame = read_xlsx(xlsx_bytes([["a", "b"]]))
    assert (frame.columns, frame.height) == (["a", "b"], 0)


def zip_without_workbook() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    return out.getvalue()


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x03\x04garbage", zip_without_workbook()])
def test_bogus_xlsx(data: bytes) -> None:
    with pytest.raises(InputError, match=r"Not a valid \.xlsx file"):
        read_xlsx(data)


# --- read_any --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("x.json", b'[{"a": "1"}]'),
        ("X.JSON", b'{"data": [{"a": "1"}]}'),
        ("x.csv", b"a\n1\n"),
        ("x.tsv", b"a\tb\n1\t\n"),
        ("x.txt", b"a;b\n1;\n"),
        ("x.xlsx", xlsx_bytes([["a"], [1]])),
        (None, b'  [{"a": 1}]'),
        (None, BOM + b'{"data": [{"a": 1}]}'),
        (None, xlsx_bytes([["a", "b"], [1]])),
        (None, b"a,b\n1,\n"),
        ("noextension", b"a,b\n1,\n"),
    ],
)
def test_read_any_by_extension_or_content(name: str | None, data: bytes) -> None:
    frame = read_any(data, name)
    assert frame["a"].to_list() == ["1"]


def test_read_any_rejects_unknown_extension() -> None:
    with pytest.raises(InputError) as info:
        read_any(b"%PDF-1.4", "report.pdf")
    assert ".xlsx" in info.value.message
    assert ".csv" in info.value.details["accepted"]


@pytest.mark.parametrize(
    "value",
    [[{"x": 1}, [1.0]], [[1], {"a": None}], [{"a": [{"b": [1, {"c": 2}]}]}, "s", 3]],
)
def test_records_with_mixed_nested_lists_become_json_text(value: object) -> None:
    frame = records_to_frame([{"a": value}, {"a": "plain"}])
    assert frame.schema == {"a": pl.String}
    assert frame["a"].to_list() == [
        json.dumps(value, separators=(",", ":"), ensure_ascii=False),
        "plain",
    ]


@pytest.mark.parametrize("depth", [300, 1_000, 5_000, 100_000])
def test_deeply_nested_json_is_an_input_error(depth: int) -> None:
    text = '[{"id": 1}, {"a": ' + "[" * depth + "]" * depth + "}]"
    with pytest.raises(InputError, match="nested") as info:
        read_json(text)
    if depth < 1_000:  # decoded fine, refused when kept as text: the record is named
        assert info.value.row == 2
        assert info.value.column == "a"


def test_nesting_within_the_limit_is_kept_as_json_text() -> None:
    frame = read_json('[{"a": ' + "[" * 200 + "]" * 200 + "}]")
    assert frame["a"].to_list() == ["[" * 200 + "]" * 200]
