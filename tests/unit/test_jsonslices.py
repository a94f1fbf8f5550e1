"""The sliced JSON decoder: same frame as decoding whole, or None (never a different answer)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from export_core import jsonslices
from export_core.jsonslices import SlicedRecords
from export_core.readers import read_json, records_to_frame

# Text that looks like the structure the slicer cuts at, to be met inside strings and keys.
TRICKY = ["},{", "}]", '"data":[', "}, {", '\\"}', "{", "]", ",", '"', "\\", "\n", "é", "😀"]
texts = st.one_of(st.text(max_size=12), st.sampled_from(TRICKY), st.lists(
    st.sampled_from(TRICKY), max_size=4).map("".join))  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)
records = st.lists(st.dictionaries(texts, values, min_size=1, max_size=5), min_size=1, max_size=30)
extras = st.dictionaries(
    st.sampled_from(["template", "format", "filename", "async", "x"]), values, max_size=3
)


def assert_same_as_orjson(got: SlicedRecords, raw: bytes) -> None:
    """`got` (what the sliced decoder made of `raw`) is what the ordinary decode makes of it:
    frame, column order, count and other fields."""
    whole = orjson.loads(raw)
    expected = records_to_frame(whole)
    assert got.frame.equals(expected)
    assert got.frame.columns == expected.columns
    assert got.count == expected.height
    if isinstance(whole, dict):
        assert got.fields == {k: v for k, v in whole.items() if k != "data"}
    else:
        assert got.fields is None


def _body(rows: list[Any], extra: dict[str, Any], data_at: int) -> dict[str, Any]:
    items = list(extra.items())
    items.insert(min(data_at, len(items)), ("data", rows))
    return dict(items)


def _check_same(raw: bytes, slice_bytes: int) -> jsonslices.SlicedRecords | None:
    got = jsonslices.decode_records(raw, slice_bytes=slice_bytes)
    if got is not None:
        assert_same_as_orjson(got, raw)
    return got


@settings(max_examples=150, deadline=None)
@given(records, extras, st.integers(0, 3), st.integers(1, 400), st.booleans())
def test_sliced_equals_whole_or_declines(
    rows: list[dict[str, Any]], extra: dict[str, Any], data_at: int, size: int, pretty: bool
) -> None:
    body = _body(rows, extra, data_at)
    layout: dict[str, Any] = {"indent": 2} if pretty else {"separators": (",", ":")}
    raw = json.dumps(body, ensure_ascii=pretty, **layout).encode()
    got = _check_same(raw, size)
    if got is None:  # declining is for nested values and text that looks like the structure
        assert _nested(rows, extra) or any("}" in t or "data" in t for t in _texts(body))


def _nested(rows: list[dict[str, Any]], extra: dict[str, Any]) -> bool:
    values = [v for r in rows for v in r.values()] + list(extra.values())
    return any(isinstance(v, list | dict) for v in values)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in [k, *_texts(v)]]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


@settings(max_examples=100, deadline=None)
@given(records, st.integers(1, 300))
def test_bare_list_sliced_equals_whole(rows: list[dict[str, Any]], size: int) -> None:
    raw = json.dumps(rows, ensure_ascii=False).encode()
    got = _check_same(raw, size)
    if got is None:
        assert _nested(rows, {}) or any("}" in t for t in _texts(rows))


def plain_rows(n: int) -> list[dict[str, Any]]:
    notes = ["},{", "}]", 'say "hi"', "line\nbreak", "x", "", None]
    return [
        {"id": i, "name": f"Name {i} é", "note": notes[i % len(notes)], "ok": i % 2 == 0}
        | ({"late": "only in later records"} if i > n // 2 else {})
        for i in range(n)
    ]


@pytest.mark.parametrize("size", [1, 50, 4096, jsonslices.SLICE_BYTES])
def test_many_slices_keep_first_seen_column_order(size: int) -> None:
    raw = orjson.dumps({"template": "standard", "data": plain_rows(2_000), "format": "csv"})
    got = _check_same(raw, size)
    assert got is not None
    assert got.frame.columns == ["id", "name", "note", "ok", "late"]
    assert got.fields == {"template": "standard", "format": "csv"}
    assert got.count == 2_000


def test_php_pretty_print_is_sliced() -> None:
    raw = json.dumps({"data": plain_rows(300)}, indent=4).encode()
    assert _check_same(raw, 100) is not None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"data": []}',
        b'{"data": [1, 2]}',
        b'{"data": {"a": 1}}',
        b'{"x": 1}',
        b'{, "data": [{"a": 1}]}',
        b'{"data": [{"a": 1}],}',
        b'{"data": [{"a": 1},]}',
        b'{"data": [{"a": 1}]} trailing',
        b'{"data": [{"a": 1}], "data": [{"a": 2}]}',
        b'{"template": "a", "data": [{"a": 1}], "template": "b"}',
        b'{"data": [{"a": 1}, 7]}',
        b'{"data": [{"a": 1}, {"a": "unterminated}]}',
        b'\xef\xbb\xbf{"data": [{"a": 1}]}',
        b'[{"a": 1}] {"b": 2}',
        b'{"data": [{"a": 1}, {"a": \t{"b": 1}}]}',  # nested, a blank after the colon
        b'{"data":[{"a":1},{"a":[1]}]}',  # nested, compact
        b'[{"a": 1}',
        b"",
        b"null",
    ],
)
def test_unusual_or_invalid_documents_take_the_ordinary_path(raw: bytes) -> None:
    assert jsonslices.decode_records(raw, slice_bytes=1) is None


def test_accept_sees_every_slice_with_its_first_row_and_can_refuse() -> None:
    raw = orjson.dumps({"data": plain_rows(500)})
    seen: list[tuple[int, int]] = []

    def accept(rows: list[Any], first_row: int) -> bool:
        seen.append((first_row, len(rows)))
        return True

    assert jsonslices.decode_records(raw, accept=accept, slice_bytes=2_000) is not None
    assert len(seen) > 3
    assert seen[0][0] == 1
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(seen))
    assert sum(n for _, n in seen) == 500
    refused = jsonslices.decode_records(
        raw, accept=lambda rows, first: first < 100, slice_bytes=2_000
    )
    assert refused is None


def test_read_json_of_a_big_upload_equals_the_whole_decode() -> None:
    rows = plain_rows(16_000)  # ~1.2 MB: two slices
    for raw in (orjson.dumps(rows), orjson.dumps({"data": rows, "source": "platform"})):
        assert len(raw) > jsonslices.SLICE_BYTES
        assert jsonslices.decode_records(raw) is not None
        assert read_json(raw).equals(records_to_frame(orjson.loads(raw)))
    exact = b'[{"id": 123456789012345678901234567890, "x": "a"}]'  # not read as a float
    assert read_json(exact)["id"].to_list() == ["123456789012345678901234567890"]


def test_text_that_looks_nested_is_still_sliced() -> None:
    raw = b'{"data":[{"a":"x:[y","b":"p: {q"},{"a":"z:{","b":null}]}'
    got = _check_same(raw, 1)
    assert got is not None
    assert got.frame["a"].to_list() == ["x:[y", "z:{"]
