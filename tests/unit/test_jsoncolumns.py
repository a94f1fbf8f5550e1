"""Slices decoded straight into columns (export_core.jsoncolumns): the frame the dict path makes,
or the dict path itself, never a different answer; and the column path is really taken."""

from __future__ import annotations

import json
from typing import Any

import orjson
import polars as pl
from hypothesis import event, given, settings
from hypothesis import strategies as st

from export_core import jsonslices
from export_core.jsoncolumns import ColumnDecoder
from export_core.readers import records_to_frame

from .test_jsonslices import TRICKY, assert_same_as_orjson

# A small pool of keys, so that later slices use only keys already seen (the column path),
# with names that are no attribute names; keys msgspec cannot rename to ('"', "\\") are rarer.
KEYS = ["id", "name", "", "__init__", "a.b", "^a.*$", "é 😀", "},{"]
texts = st.one_of(st.text(max_size=8), st.sampled_from(TRICKY))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-1000, max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
    texts,
)
# Rarer, so that most documents still take the column path: beyond 64 bits (orjson's floats)
# and 64-bit limits.
big = st.sampled_from([2**64 - 1, 2**63, -(2**63), -(2**63) - 1, 2**70, -(2**70), 10**18])
odd = st.one_of(
    st.sampled_from([{}, {"id": [1]}, {"id": {"x": 1}}, {"new key": 1}, {"id": 1, "Id": 2}]),
    st.sampled_from(['"', "a\\b"]).map(lambda key: {key: 1}),
    big.map(lambda n: {"id": n}),
)
record = st.dictionaries(st.sampled_from(KEYS), scalars, min_size=1, max_size=6)


def _decode(raw: bytes, size: int) -> tuple[jsonslices.SlicedRecords | None, list[type]]:
    seen: list[type] = []

    def accept(rows: Any, first_row: int) -> bool:
        seen.append(type(rows))
        return True

    return jsonslices.decode_records(raw, accept=accept, slice_bytes=size), seen


@settings(max_examples=200, deadline=None)
@given(
    st.lists(record, min_size=1, max_size=60),
    st.lists(st.tuples(st.integers(0, 60), odd), max_size=2),
    st.integers(1, 200),
    st.booleans(),
)
def test_column_slices_equal_the_whole_decode_or_decline(
    rows: list[dict[str, Any]], inserts: list[tuple[int, Any]], size: int, pretty: bool
) -> None:
    for at, value in inserts:  # records the column path must leave to the dict path
        rows.insert(at, value)
    layout: dict[str, Any] = {"indent": 2} if pretty else {"separators": (",", ":")}
    raw = json.dumps({"data": rows, "format": "csv"}, ensure_ascii=pretty, **layout).encode()
    got, seen = _decode(raw, size)
    event("some slices as columns" if pl.DataFrame in seen else "dicts only")
    if got is not None:
        assert_same_as_orjson(got, raw)


def test_later_slices_are_columns_and_equal_the_dicts() -> None:
    rows = [
        {"id": i, "name": f"n{i} é", "x": i / 3, "ok": i % 2 == 0, "n": None} for i in range(3_000)
    ]
    raw = orjson.dumps({"data": rows})
    got, seen = _decode(raw, 4_096)
    assert got is not None
    assert_same_as_orjson(got, raw)
    assert seen[0] is list and set(seen[1:]) == {pl.DataFrame}, "later slices must be columns"


def test_a_new_key_in_a_later_slice_takes_the_dict_path_for_that_slice() -> None:
    rows: list[dict[str, Any]] = [{"id": i, "name": "a"} for i in range(2_000)]
    rows[1_500]["late"] = "x"
    raw = orjson.dumps(rows)
    got, seen = _decode(raw, 4_096)
    assert got is not None
    assert_same_as_orjson(got, raw)
    assert got.frame.columns == ["id", "name", "late"]
    assert seen.count(list) == 2 and pl.DataFrame in seen


def test_the_decoder_declines_what_the_dict_path_must_judge() -> None:
    decoder = ColumnDecoder(["id", "name"])
    for items in [b'{"id":1},{}', b'{"id":1},{ \n }', b'{"id":[1]}', b'{"id":{"a":1}}',
                  b'{"other":1}', b'{"id":12345678901234567890}', b'{"id":1},', b'']:  # fmt: skip
        assert decoder.decode(items, 0, len(items)) is None, items
    ok = b'{"id":1,"id":2},{"name":"x","id":-0.0},{"id":true}'
    frame = decoder.decode(ok, 0, len(ok))
    assert frame is not None
    assert frame.equals(records_to_frame(orjson.loads(b"[" + ok + b"]")).select("id", "name"))
    assert ColumnDecoder(['a"b', "x"]).decode(b'{"x":1}', 0, 7) is None  # msgspec refuses '"'


def test_integers_beyond_int64_decline_and_long_digit_runs_in_text_do_not() -> None:
    """Integers are bounded to int64 in the struct (no scan for 19 digits in a row): one
    beyond it declines (orjson reads those beyond 64 bits as floats), one within it and a
    long run of digits in a string take the column path; both give the dict path's frame."""
    decoder = ColumnDecoder(["id", "phone"])
    for n in (2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30):
        items = b'{"id":1},{"id":%d}' % n
        assert decoder.decode(items, 0, len(items)) is None, n
    ok = (
        b'{"id":9223372036854775807,"phone":"6281234567890123456789012"},'
        b'{"id":-9223372036854775808}'
    )
    frame = decoder.decode(ok, 0, len(ok))
    assert frame is not None
    assert frame.equals(records_to_frame(orjson.loads(b"[" + ok + b"]")))
    rows = [{"id": i, "phone": "1" * 25} for i in range(2_000)] + [{"id": 2**63 - 1}]
    raw = orjson.dumps(rows)
    got, seen = _decode(raw, 4_096)
    assert got is not None
    assert_same_as_orjson(got, raw)
    assert seen[0] is list and set(seen[1:]) == {pl.DataFrame}


digit_runs = st.text(alphabet="0123456789", min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["", "-"]), digit_runs, digit_runs, st.integers(-330, 310)),
        min_size=1,
        max_size=20,
    )
)
def test_long_decimals_read_as_orjson_reads_them(numbers: list[tuple[str, str, str, int]]) -> None:
    """Numbers with long mantissas (no longer sent to the dict path by a digit scan): the
    column path's text for each equals the dict path's, or it declines (out of range)."""
    texts = [f"{sign}{whole.lstrip('0') or '0'}.{frac}e{exp}" for sign, whole, frac, exp in numbers]
    items = ",".join('{"x":' + text + "}" for text in texts).encode()
    frame = ColumnDecoder(["x"]).decode(items, 0, len(items))
    event("declined" if frame is None else "column path")
    try:
        expected = records_to_frame(orjson.loads(b"[" + items + b"]"))
    except orjson.JSONDecodeError:  # e.g. 1e400: not JSON orjson takes
        assert frame is None
        return
    assert frame is None or frame.equals(expected)
