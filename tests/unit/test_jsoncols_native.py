"""The native slice decoder (export_core/_jsoncols.c, via jsoncolumns.native_frame): the frame
the msgspec decoder and the dict path make of the same items, or None; never a different
answer, never an accepted slice that is not JSON. The module is imported at the top, so a
checkout where `make` did not build it fails here instead of silently using msgspec."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from export_core import _jsoncols, jsonslices
from export_core.jsoncolumns import ColumnDecoder, native_frame
from export_core.readers import records_to_frame

from .test_jsoncolumns import KEYS, odd, scalars
from .test_jsonslices import assert_same_as_orjson

# Keys the msgspec decoder refuses ('"', '\\') and others JSON may escape.
NATIVE_KEYS = [*KEYS, 'a"b', "a\\b", "tab\there", "\x7f", "\u2028", "\U0001f600x"]
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e25, max_value=1e25, allow_nan=False),
    st.floats(min_value=-1e-3, max_value=1e-3, allow_nan=False),
    st.integers(-(2**63), 2**63 - 1).map(float),
)
values = st.one_of(
    scalars,
    floats,
    st.integers(-(2**63), 2**63 - 1),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
    st.sampled_from(["\x00", "\x1f", "\u2028", "\ud7ff", "\ue000", "\uffff", "\U0010ffff"]),
)
record = st.dictionaries(st.sampled_from(NATIVE_KEYS), values, min_size=1, max_size=8)
# Records of either pool: KEYS (which msgspec takes too, so all three paths are compared) or
# NATIVE_KEYS (where msgspec mostly declines).
pooled = st.sampled_from([KEYS, NATIVE_KEYS]).flatmap(
    lambda pool: st.tuples(
        st.just(pool),
        st.lists(st.dictionaries(st.sampled_from(pool), values, min_size=1, max_size=8),
                 min_size=1, max_size=40),
    )
)  # fmt: skip
ITEM_SEPARATORS = [",", ", ", " ,\t", "\r\n,\n"]
KEY_SEPARATORS = [":", ": ", " :\t", "\n:\r"]


def _items(rows: list[Any], how: int, item_sep: str, key_sep: str) -> tuple[bytes, int, int]:
    """`rows` serialised as a JSON list in one of several layouts; (bytes, begin, stop) of its
    items (the whitespace inside the brackets included)."""
    if how == 0 and all(-(2**63) <= v < 2**64 for r in rows for v in r.values() if type(v) is int):
        raw = orjson.dumps(rows)
    elif how <= 1:
        raw = json.dumps(rows, ensure_ascii=True, separators=(item_sep, key_sep)).encode()
    elif how == 2:
        raw = json.dumps(rows, ensure_ascii=False, separators=(item_sep, key_sep)).encode()
    else:
        raw = json.dumps(rows, ensure_ascii=how == 3, indent="\t" if how == 4 else 2).encode()
    return raw, raw.index(b"[") + 1, raw.rindex(b"]")


def _dict_frame(raw: bytes, begin: int, stop: int, keys: list[str]) -> pl.DataFrame | None:
    """What the dict path makes of the items, with a column per key (all null when absent),
    or None when orjson refuses them."""
    try:
        rows = orjson.loads(b"[" + raw[begin:stop] + b"]")
    except orjson.JSONDecodeError:
        return None
    frame = records_to_frame(rows)
    if not set(frame.columns) <= set(keys):
        return frame  # a key the native decoder must have declined: equals nothing it gives
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias(key) for key in keys if key not in frame.columns
    )
    return frame.select(_by_position(frame, keys))


def _by_position(frame: pl.DataFrame, keys: list[str]) -> pl.Expr:
    position = {name: index for index, name in enumerate(frame.columns)}
    return pl.nth([position[key] for key in keys])


def _assert_equal(got: pl.DataFrame, expected: pl.DataFrame, keys: list[str]) -> None:
    assert got.columns == keys
    assert got.dtypes == [pl.String] * len(keys)
    assert got.equals(expected)


def _native(raw: bytes, begin: int, stop: int, keys: list[str]) -> pl.DataFrame | None:
    return native_frame(raw, begin, stop, keys)


def test_the_extension_is_built_and_imported() -> None:
    """A silent fallback to msgspec must not pass: `make` builds the module."""
    assert _jsoncols.decode(b'{"a":1}', 0, 7, ["a"]) is not None
    assert ColumnDecoder(["a"]).decode_native(b'{"a":1}', 0, 7) is not None


@settings(max_examples=400, deadline=None)
@given(
    pooled,
    st.lists(st.tuples(st.integers(0, 40), odd), max_size=2),
    st.integers(0, 5),
    st.sampled_from(ITEM_SEPARATORS),
    st.sampled_from(KEY_SEPARATORS),
)
def test_native_equals_msgspec_and_the_dicts_or_declines(
    pool_rows: tuple[list[str], list[dict[str, Any]]],
    inserts: list[tuple[int, Any]],
    how: int,
    item_sep: str,
    key_sep: str,
) -> None:
    keys, rows = list(pool_rows[0]), pool_rows[1]
    for at, value in inserts:  # records the native decoder must decline
        rows.insert(at, value)
    raw, begin, stop = _items(rows, how, item_sep, key_sep)
    got = _native(raw, begin, stop, keys)
    values = [v for row in rows if isinstance(row, dict) for v in row.values()]
    tied = any(_tied(v) for v in values if type(v) is float)
    if not inserts and not tied:  # ordinary records: the native path is taken
        assert got is not None
    event("native" if got is not None else "declined")
    if got is None:
        return
    expected = _dict_frame(raw, begin, stop, keys)
    assert expected is not None
    _assert_equal(got, expected, keys)
    structs = ColumnDecoder(keys).decode(raw, begin, stop)
    event("msgspec compared" if structs is not None else "msgspec declined")
    if structs is not None:
        _assert_equal(got, structs, keys)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(record, min_size=1, max_size=6),
    st.integers(0, 2),
    st.data(),
)
def test_damaged_slices_are_declined_unless_they_are_still_json(
    rows: list[dict[str, Any]], how: int, data: st.DataObject
) -> None:
    """Bytes cut, dropped, replaced or inserted anywhere (a cut inside a string, a stray
    control character, invalid UTF-8, a trailing comma...): the native decoder accepts only
    what orjson accepts, and then gives the dict path's frame."""
    raw, begin, stop = _items(rows, how, ", ", ": ")
    items = bytearray(raw[begin:stop])
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(items)))
        kind = data.draw(st.sampled_from(["cut", "drop", "replace", "insert"]))
        byte = data.draw(st.one_of(
            st.integers(0, 255), st.sampled_from(list(b'",{}[]:\\ \t\n0-.eEu'))))  # fmt: skip
        if kind == "cut":
            del items[at:]
        elif kind == "drop":
            del items[at : at + 1]
        elif kind == "replace" and at < len(items):
            items[at] = byte
        else:
            items.insert(at, byte)
    damaged = bytes(items)
    keys = list(NATIVE_KEYS)
    got = _native(damaged, 0, len(damaged), keys)
    event("accepted" if got is not None else "declined")
    if got is not None:
        expected = _dict_frame(damaged, 0, len(damaged), keys)
        assert expected is not None, damaged  # never accepts what orjson refuses
        _assert_equal(got, expected, keys)


@settings(max_examples=300, deadline=None)
@given(st.lists(floats, min_size=1, max_size=30), st.booleans())
def test_floats_are_polars_text(numbers: list[float], exponent: bool) -> None:
    """Floats of every magnitude: the text polars gives the Python float, from the number
    as orjson writes it and as an exponent form that reads to the same double."""

    def text(x: float) -> str:
        return f"{x:.17e}" if exponent else orjson.dumps(x).decode()

    items = ",".join('{"x":' + text(x) + "}" for x in numbers).encode()
    got = _native(items, 0, len(items), ["x"])
    if any(map(_tied, numbers)):
        assert got is None
        return
    assert got is not None
    expected = pl.DataFrame([(x,) for x in numbers], schema={"x": pl.String}, orient="row",
                            strict=False)  # fmt: skip
    _assert_equal(got, expected, ["x"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "-"]), st.text("0123456789", min_size=1,
       max_size=40), st.text("0123456789", max_size=40), st.integers(-400, 400)), min_size=1,
       max_size=20))  # fmt: skip
def test_long_decimals_read_as_orjson_reads_them(numbers: list[tuple[str, str, str, int]]) -> None:
    texts = [
        f"{sign}{whole.lstrip('0') or '0'}{'.' + frac if frac else ''}e{exp}"
        for sign, whole, frac, exp in numbers
    ]
    items = ",".join('{"x":' + t + "}" for t in texts).encode()
    got = _native(items, 0, len(items), ["x"])
    expected = _dict_frame(items, 0, len(items), ["x"])
    event("declined" if got is None else "native")
    if expected is None:  # e.g. 1e400
        assert got is None
    elif got is not None:
        _assert_equal(got, expected, ["x"])
    if expected is not None and all(abs(exp) < 300 for *_, exp in numbers):
        tied = any(_tied(x) for x in orjson.loads(b"[" + ",".join(texts).encode() + b"]"))
        assert (got is None) == tied


def _tied(x: float) -> bool:
    """The C decoder's tie rule in Python: |x|'s exact decimal expansion is its shortest
    round-trip digits (repr's) followed by one 5, so two shortest candidates are equally
    near and CPython's repr and polars may pick different ones."""
    if x == 0:
        return False
    shortest = len(Decimal(repr(abs(x))).normalize().as_tuple().digits)
    exact = Decimal(abs(x)).normalize().as_tuple().digits
    return len(exact) == shortest + 1 and exact[-1] == 5


def test_halfway_floats_decline_and_get_polars_text_from_the_slower_path() -> None:
    """570000000000000.25 lies exactly between the shortest candidates ...0.2 (CPython's
    repr) and ...0.3 (polars): the C decoder declines it; the sliced decode then gives it
    polars' own text, like the whole decode does (found by the long-decimals property test)."""
    for text in (b"570000000000000.25", b"-570000000000000.25", b"2.5e14"):
        items = b'{"x":' + text + b"}"
        value = orjson.loads(text)
        assert _tied(value) == (text != b"2.5e14")
        got = _native(items, 0, len(items), ["x"])
        assert (got is None) == _tied(value)
    rows = [{"id": i, "x": 570000000000000.25 if i % 50 == 7 else i / 4} for i in range(2_000)]
    raw = orjson.dumps({"data": rows})
    sliced = jsonslices.decode_records(raw, slice_bytes=2_048)
    assert sliced is not None
    assert_same_as_orjson(sliced, raw)
    assert sliced.frame["x"][7] == "570000000000000.3"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.integers(2**40, 2**55).map(lambda m: m / 4),
                          st.integers(2**40, 2**56).map(lambda m: m / 8), floats),
                min_size=1, max_size=30))  # fmt: skip
def test_floats_near_halfway_are_polars_text_or_decline_when_tied(numbers: list[float]) -> None:
    items = ",".join('{"x":' + orjson.dumps(x).decode() + "}" for x in numbers).encode()
    got = _native(items, 0, len(items), ["x"])
    tied = any(map(_tied, numbers))
    event("tied" if tied else "not tied")
    assert (got is None) == tied
    if got is not None:
        expected = pl.DataFrame([(x,) for x in numbers], schema={"x": pl.String},
                                orient="row", strict=False)  # fmt: skip
        _assert_equal(got, expected, ["x"])


def test_values_become_the_dict_paths_text() -> None:
    items = (
        b' {"id":1,"name":"x\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\"\\\\"},'
        b'{"name":"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80","id":-0.0},{"id":true, "x": 1e20} ,'
        b'{"x":1.5e-7,"id":-0},{"x":null},{"id":false,"x":-9223372036854775808},'
        b'{"x":9223372036854775807,"id":0.30000000000000004},{"id":1E2,"x":-0},'
        b'{"id":"a\\u0000b","x":5e-324}\r\n'
    )
    keys = ["id", "name", "x", "absent"]
    got = _native(items, 0, len(items), keys)
    assert got is not None and got.height == 9
    expected = _dict_frame(items, 0, len(items), keys)
    assert expected is not None
    _assert_equal(got, expected, keys)
    assert got["id"].to_list() == [
        "1", "-0", "true", "0", None, "false", "0.30000000000000004", "100", "a\x00b"
    ]  # fmt: skip
    assert got["absent"].null_count() == 9


def test_keys_msgspec_refuses_and_escaped_keys() -> None:
    items = b'{"a\\"b":1,"c\\\\d":"x","\\u00e9":2},{"\xc3\xa9":3,"a\\u0022b":4}'
    keys = ['a"b', "c\\d", "é"]
    assert ColumnDecoder(keys).decode(items, 0, len(items)) is None
    got = ColumnDecoder(keys).decode_native(items, 0, len(items))
    assert got is not None
    _assert_equal(got, records_to_frame(orjson.loads(b"[" + items + b"]")), keys)


@pytest.mark.parametrize(
    "items",
    [
        b"",  # no records
        b" \n ",
        b'{"id":1},{}',  # an empty record
        b'{"id":1},{ \n }',
        b'{"id":1,"id":2}',  # a repeated key
        b'{"id":1,"\\u0069d":2}',  # the same key, escaped
        b'{"other":1}',  # an unknown key
        b'{"Id":1}',
        b'{"id":[1]}',  # nested values
        b'{"id":{"a":1}}',
        b'{"id":[]}',
        b"[1]",  # items that are not objects
        b'{"id":1},2',
        b'{"id":1},"x"',
        b'{"id":1},null',
        b'{"id":9223372036854775808}',  # beyond int64
        b'{"id":-9223372036854775809}',
        b'{"id":18446744073709551615}',
        b'{"id":1e400}',  # overflows a double
        b'{"id":-1e309}',
        b'{"id":1' + b"0" * 1100 + b".5}",  # longer than the decoder reads
    ],
)
def test_declines_what_the_other_paths_must_judge(items: bytes) -> None:
    assert _native(items, 0, len(items), ["id", "name"]) is None, items


@pytest.mark.parametrize(
    "items",
    [
        b'{"id":1},',  # a trailing comma
        b'{"id":1,}',
        b',{"id":1}',
        b'{"id":1}{"id":2}',  # a missing comma
        b'{"id":1} {"id":2}',
        b'{"id":"abc}',  # unterminated string
        b'{"id":"abc',
        b'{"id":"ab","name":"c',  # cut inside a string
        b'{"id":"ab\\',
        b'{"id":"ab\\u00',
        b'{"id',
        b'{"id":',
        b'{"id":1',
        b'{"id":1}}',
        b'{"id":1}]',
        b'{"id":"a\x01"}',  # raw control characters
        b'{"id":"a\nb"}',
        b'{"id":"a\x1f"}',
        b'{"id\t":1}',
        b'{"id":"\\x41"}',  # bad escapes
        b'{"id":"\\U0041"}',
        b'{"id":"\\u00g1"}',
        b'{"id":"\\\'"}',
        b'{"id":"\\ud800"}',  # lone surrogates
        b'{"id":"\\ud800\\u0041"}',
        b'{"id":"\\udc00"}',
        b'{"id":"\\ud800x"}',
        b'{"id":"\xff"}',  # invalid UTF-8
        b'{"id":"\xc0\xaf"}',  # overlong
        b'{"id":"\xe0\x80\xaf"}',
        b'{"id":"\xed\xa0\x80"}',  # a surrogate in UTF-8
        b'{"id":"\xf4\x90\x80\x80"}',  # beyond U+10FFFF
        b'{"id":"\xc3"}',  # truncated sequences
        b'{"id":"\xe2\x82"}',
        b'{"id":"\x80"}',
        b'{"\xff":1}',
        b'{"id":01}',  # numbers off the grammar
        b'{"id":-}',
        b'{"id":+1}',
        b'{"id":1.}',
        b'{"id":.5}',
        b'{"id":1e}',
        b'{"id":1e+}',
        b'{"id":0x10}',
        b'{"id":NaN}',
        b'{"id":Infinity}',
        b'{"id":-Infinity}',
        b'{"id":tru}',  # literals
        b'{"id":True}',
        b'{"id":nul}',
        b'{"id":none}',
        b'{"id"\x0b:1}',  # whitespace JSON does not have
        b'\x0c{"id":1}',
        b'{"id":\xc2\xa01}',
        b"{'id':1}",  # not JSON strings
        b"{id:1}",
    ],
)
def test_declines_slices_that_are_not_json(items: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b"[" + items + b"]")
    assert _native(items, 0, len(items), ["id", "name"]) is None, items


def test_begin_and_stop_bound_the_items() -> None:
    raw = b'[{"id":1},{"id":2},{"id":3}]'
    got = _native(raw, 10, 18, ["id"])
    assert got is not None and got["id"].to_list() == ["2"]
    assert _native(bytearray(raw), 1, 9, ["id"]) is not None
    assert _native(memoryview(raw).tobytes(), 1, 9, ["id"]) is not None
    with pytest.raises(ValueError):
        _jsoncols.decode(raw, 5, 100, ["id"])
    with pytest.raises(ValueError):
        _jsoncols.decode(raw, 9, 5, ["id"])


def test_keys_that_cannot_be_columns_decline() -> None:
    items = b'{"a":1}'
    assert _jsoncols.decode(items, 0, len(items), []) is None
    assert _jsoncols.decode(items, 0, len(items), ["a", "a"]) is None
    assert _jsoncols.decode(items, 0, len(items), ["a", "b\x00"]) is None  # no C name
    assert _jsoncols.decode(items, 0, len(items), ["a", "\ud800"]) is None  # not UTF-8


def test_many_rows_and_long_values_grow_the_buffers() -> None:
    rows = [
        {"id": i, "text": "é" * (i % 300), "x": i / 7 if i % 3 else None, "b": i % 2 == 0}
        for i in range(20_000)
    ]
    raw, begin, stop = _items(rows, 0, ",", ":")
    keys = ["id", "text", "x", "b", "never"]
    got = _native(raw, begin, stop, keys)
    assert got is not None and got.height == 20_000
    expected = _dict_frame(raw, begin, stop, keys)
    assert expected is not None
    _assert_equal(got, expected, keys)


def test_the_sliced_decode_takes_the_native_path_and_equals_the_dicts() -> None:
    """Through jsonslices: later slices are frames (native), the whole equals orjson's."""
    rows = [
        {"id": i, "name": f"n{i} é", "x": i / 3, "ok": i % 2 == 0, "n": None, "big": 2**62 + i}
        for i in range(3_000)
    ]
    raw = orjson.dumps({"data": rows, "format": "csv"})
    seen: list[type] = []

    def accept(rows: Any, first_row: int) -> bool:
        seen.append(type(rows))
        return True

    got = jsonslices.decode_records(raw, accept=accept, slice_bytes=4_096)
    assert got is not None
    assert_same_as_orjson(got, raw)
    assert seen[0] is list and set(seen[1:]) == {pl.DataFrame}
    keys = list(rows[0])
    assert _native(raw, raw.index(b"{", 1), raw.rindex(b"]"), keys) is not None


def test_threads_decoding_at_once_get_their_own_frames() -> None:
    """The parse runs without the GIL until its first float (CPython's float conversion
    needs it): threads decoding strings-only and float slices at once each get their frame."""
    strings = [{"id": i, "name": f"n{i} é", "ok": i % 2 == 0} for i in range(5_000)]
    floats = [{"id": i, "x": i / 7, "name": None} for i in range(5_000)]
    slices = [_items(rows, 0, ",", ":") for rows in (strings, floats)]
    keys = ["id", "name", "ok", "x"]
    expected = [_dict_frame(raw, begin, stop, keys) for raw, begin, stop in slices]
    results: list[tuple[int, pl.DataFrame | None]] = []

    def work(which: int) -> None:
        for _ in range(5):
            results.append((which, _native(*slices[which], keys)))

    threads = [threading.Thread(target=work, args=(i % 2,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    for which, got in results:
        want = expected[which]
        assert got is not None and want is not None
        _assert_equal(got, want, keys)
