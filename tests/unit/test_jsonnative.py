"""Polars' NDJSON reader for plain record lists: the same frame as orjson + records_to_frame,
or None (never a different answer), and the polars behaviours the proof relies on."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.api.body import MAX_FIELDS_PER_RECORD, decode_export_body
from benchmarks.datagen import records as generated
from export_core import jsonnative, jsonslices
from export_core.errors import InputError
from export_core.readers import read_json, records_to_frame

from .sameframe import assert_same_as_orjson

# Text that looks like what the reader's checks count or cut at, met inside strings and keys.
TRICKY = ["},{", '":', '":null', "\b", " :", "{", "}", "[", '"', "\\", "\x00", "é", "😀", "\u2028"]
texts = st.one_of(st.text(max_size=10), st.sampled_from(TRICKY), st.lists(
    st.sampled_from(TRICKY), max_size=3).map("".join))  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
keys = st.one_of(st.sampled_from(["id", "name", "note", "a", "b", "é"]), texts)
rows = st.lists(st.dictionaries(keys, scalars, min_size=1, max_size=5), min_size=1, max_size=40)


def read_any(raw: bytes, **limits: Any) -> jsonslices.SlicedRecords | None:
    """jsonnative.read_records for a body of any size (the API's takes the sliced decoder
    below MIN_BYTES, see test_small_bodies_are_left_to_the_sliced_decoder)."""
    return jsonnative.read_records(raw, min_bytes=0, **limits)


def _reference(raw: bytes) -> pl.DataFrame:
    whole = orjson.loads(raw)
    return records_to_frame(whole["data"] if isinstance(whole, dict) else whole)


def _check_same(raw: bytes, piece_bytes: int = jsonnative.PIECE_BYTES) -> bool:
    """True when the fast path took `raw` (and then its frame equals the reference)."""
    got = read_any(raw, piece_bytes=piece_bytes)
    if got is None:
        return False
    assert_same_as_orjson(got, raw)
    return True


@settings(max_examples=300, deadline=None)
@given(rows, st.integers(1, 300), st.booleans())
def test_native_equals_orjson_or_declines(
    records: list[dict[str, Any]], piece_bytes: int, ascii_only: bool
) -> None:
    # Compact, as the platform's PHP json_encode and orjson write it; ensure_ascii gives PHP's
    # default \\uXXXX escapes (emoji as surrogate pairs).
    raw = json.dumps(
        {"template": "complete", "data": records}, separators=(",", ":"), ensure_ascii=ascii_only
    ).encode()
    try:
        _reference(raw)
    except (orjson.JSONDecodeError, InputError):  # refused: the fast path must refuse it too
        assert read_any(raw, piece_bytes=piece_bytes) is None
        return
    _check_same(raw, piece_bytes)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"id": st.integers(0, 10**12), "name": st.text(max_size=12)},
            optional={"note": st.one_of(st.none(), st.text(max_size=20)), "ok": st.booleans()},
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(1, 500),
)
def test_plain_records_take_the_fast_path(records: list[dict[str, Any]], piece_bytes: int) -> None:
    """Platform-shaped records: the fast path must not decline (else it is dead code) unless
    the text holds what the checks count (a '":' or a text starting with ":", a "{" or "[",
    a blank before a colon, a raw line break or tab, a NUL, the marker character, or a text
    of 19+ digits)."""
    raw = orjson.dumps({"data": records, "format": "csv"})
    awkward = ('":', "{", "}", "[", " :", "\n", "\r", "\t", "\x00", "\b", "\\")
    texts = [t for r in records for t in (r["name"], r.get("note") or "")]
    # (a text starting with ":" follows its key's '":' with another one; 19+ digits cannot be
    # told from an integer token beyond 64 bits)
    if (
        any(a in t for t in texts for a in awkward)
        or any(t.startswith(":") for t in texts)
        or any(re.fullmatch(jsonnative._LONG_NUMBER[1:-1], t) for t in texts)
    ):
        return
    records_seen = {k for r in records for k in r}
    first_keys = {k for r in records[: jsonnative._SAMPLE_RECORDS] for k in r}
    if records_seen != first_keys:  # a key first met after the sample declines by design
        assert read_any(raw, piece_bytes=piece_bytes) is None
        return
    assert _check_same(raw, piece_bytes)


@pytest.mark.parametrize("kind", ["participants", "payments", "ambassadors"])
@pytest.mark.parametrize("piece_bytes", [4_096, jsonnative.PIECE_BYTES])
def test_benchmark_data_is_read_natively_and_identically(kind: str, piece_bytes: int) -> None:
    raw = orjson.dumps({"data": generated(kind, 3_000, seed=11), "template": "standard"})
    assert _check_same(raw, piece_bytes)
    # PHP's json_encode by default: non-ASCII text as \\uXXXX escapes, "/" as "\\/" ("/" is
    # found only inside strings in JSON text).
    php = json.dumps({"data": generated(kind, 500, seed=3)}, separators=(",", ":")).encode()
    php = php.replace(b"/", b"\\/")
    assert b"\\u" in php or kind == "ambassadors"  # (ambassadors' text is all ASCII)
    assert _check_same(php, 4_096)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"data":[{"a":1,"a":2}]}', "repeated key: polars keeps the first, orjson the last"),
        (b'{"data":[{"a":1,"a":null}]}', "repeated key, the last one null"),
        (b'{"data":[{"a":null,"a":1}]}', "repeated key, the first one null"),
        (b'{"data":[' + b'{"a":1},' * 70 + b'{"a":1,"late":2}]}', "a key after the sample"),
        (b'{"data":[{"a":{"b":1}}]}', "nested object"),
        (b'{"data":[{"a":[1,2]}]}', "list value"),
        (b'{"data":[{"a":"\\ud83d"}]}', "lone high surrogate: polars makes it NUL"),
        (b'{"data":[{"a":"\\ud83dx"}]}', "lone high surrogate before text"),
        (b'{"data":[{"a":"\\u0000"}]}', "escaped NUL"),
        (b'{"data":[{"a":123456789012345678901234}]}', "integer beyond 64 bits"),
        (b'{"data":[{"a":-9223372036854775809}]}', "integer just below int64"),
        (b'{"data":[{"a":1},{}]}', "empty record"),
        (b'{"data":[{"a" :1}]}', "blank before a colon"),
        (b'{"data":[{"a":1},\n{"a":2}]}', "line breaks (pretty printed)"),
        (b'{"data":[{"a":\t1}]}', "tab"),
        (b'{"data":[{"a":"x},{y"}]}', '"},{" inside a string'),
        (b'{"data":[{"a":"x\\":null"}]}', "'\":null' inside a string"),
        (b'{"data":[{"a":"x\\":1"}]}', "'\":' inside a string"),
        (b'{"data":[{"a":"\\b"},{"a":null}]}', "the marker as a value"),
        (b'{"data":[{"a":"x{y"}]}', '"{" inside a string'),
        (b'{"data":[{"a":1}{"a":2}]}', "missing comma"),
        (b'{"data":[{"a":1},{"a":2}],}', "trailing comma"),
        (b'{"data":[{"a":"x\x01y"}]}', "raw control character"),
        (b'{"data":[{"a":1e400}]}', "number out of range"),
        (b'{"data":[{"a":"\xff"}]}', "invalid UTF-8"),
        (b'{"data":[]}', "empty list"),
        (b'{"data":[1,2]}', "records that are not objects"),
    ],
)
def test_what_polars_reads_differently_or_refuses_declines(raw: bytes, why: str) -> None:
    assert read_any(raw) is None, why
    assert read_any(raw, piece_bytes=1) is None, why


def test_limits_decline_so_that_the_ordinary_path_gives_its_error() -> None:
    raw = orjson.dumps({"data": [{"a": i} for i in range(10)]})
    assert read_any(raw, max_records=10) is not None
    assert read_any(raw, max_records=9) is None
    assert read_any(raw, max_records=9, piece_bytes=16) is None
    wide = orjson.dumps({"data": [{f"k{i}": i for i in range(5)}]})
    assert read_any(wide, max_fields=5) is not None
    assert read_any(wide, max_fields=4) is None


def test_values_both_readers_spell_alike_stay_on_the_fast_path() -> None:
    """Nulls, missing keys, escapes, surrogate pairs and numbers in every JSON spelling."""
    numbers = b"1.50,1e5,1E+2,-0,-0.0,0.1,1.0,1e17,1.5e-7,5e-324,123.456e-2,"
    numbers += b"18446744073709551615,-9223372036854775808,12345678901234567"
    cells = [b'{"n":' + n + b',"t":"x"}' for n in numbers.split(b",")]
    cells += [
        b'{"t":null,"b":true}',
        b'{"b":false,"t":"\\u00e9\\/\\"q\\" \\\\ \\ud83d\\ude00"}',
        b'{"t":"","n":null}',
        '{"t":"café 😀","é":"key with an accent"}'.encode(),
    ]
    raw = b'{"data":[' + b",".join(cells) + b'],"format":"csv"}'
    for piece_bytes in (1, 64, jsonnative.PIECE_BYTES):
        assert _check_same(raw, piece_bytes)
    frame = _reference(raw)
    assert frame.columns == ["n", "t", "b", "é"]
    assert frame["n"][0] == "1.5" and frame["n"][11] == "18446744073709551615"


def test_pieces_keep_one_chunk_each_and_the_records_in_order() -> None:
    raw = orjson.dumps([{"id": i, "v": "x" * (i % 7)} for i in range(2_000)])
    got = read_any(raw, piece_bytes=1_000)
    assert got is not None
    assert got.frame["id"].to_list() == [str(i) for i in range(2_000)]
    assert got.frame["id"].n_chunks() > 10


def test_read_json_and_the_api_body_use_it() -> None:
    records = generated("participants", 4_000, seed=5)
    raw = orjson.dumps({"data": records, "template": "complete", "format": "csv"})
    assert len(raw) > jsonnative.MIN_BYTES
    assert jsonnative.read_records(raw) is not None
    assert read_json(raw).equals(records_to_frame(records))
    body = decode_export_body(bytearray(raw), "participants", 5_000, hashed=False)
    assert body.frame is not None and body.frame.equals(records_to_frame(records))
    assert body.fields == {"template": "complete", "format": "csv"}
    # Over the limit: the ordinary path, which raises the API's error when the body is parsed.
    assert decode_export_body(bytearray(raw), "participants", 3_999, hashed=False).frame is None
    assert MAX_FIELDS_PER_RECORD >= 16_384


def test_small_bodies_are_left_to_the_sliced_decoder() -> None:
    small = orjson.dumps({"data": generated("participants", 1_000, seed=5)})
    assert len(small) < jsonnative.MIN_BYTES
    assert jsonnative.read_records(small) is None  # faster by orjson at this size
    assert read_any(small) is not None
    assert read_json(small).equals(_reference(small))


# --- The polars behaviours the proof relies on (if polars changes them, these say so). ---


def _polars(lines: bytes, names: list[str]) -> pl.DataFrame:
    return pl.read_ndjson(lines, schema=dict.fromkeys(names, pl.String))


@pytest.mark.parametrize(
    "line",
    [
        b'{"a":1} {"a":2}',
        b'{"a":1},',
        b'{"a":1}x',
        b'{"a":"x',
        b'{"a":"x\x01"}',
        b'{"a":"\\ude00"}',
    ],
)
def test_polars_refuses_a_line_that_is_not_one_object(line: bytes) -> None:
    with pytest.raises(jsonnative._REFUSALS):
        _polars(line, ["a"])


def test_polars_ignores_keys_outside_the_schema_and_reads_the_marker() -> None:
    frame = _polars(b'{"a":"1","zz":2}\n{"a":"\\b"}', ["a"])
    assert frame["a"].to_list() == ["1", "\b"]  # "zz" silently dropped: hence the key count


def test_polars_turns_a_lone_high_surrogate_into_nul_or_refuses_it() -> None:
    try:
        frame = _polars(b'{"a":"\\ud83d"}', ["a"])
    except jsonnative._REFUSALS:
        return
    assert "\x00" in frame["a"][0]  # what the NUL check catches


def test_polars_and_orjson_write_the_same_float_text() -> None:
    import random

    rng = random.Random(7)
    values = [rng.uniform(-1e6, 1e6) for _ in range(2_000)]
    values += [rng.random() * 10.0 ** rng.randint(-30, 30) for _ in range(2_000)]
    raw = orjson.dumps([{"v": v} for v in values if abs(v) < 1e18])
    got = read_any(raw)
    assert got is not None
    assert got.frame.equals(_reference(raw))


def test_a_float_written_with_19_digits_or_more_declines() -> None:
    """1e20 is written "100000000000000000000" by both paths, but its cell cannot be told
    from an integer token beyond 64 bits (which the paths spell differently): it declines."""
    for number in (b"1e20", b"1.7976931348623157e308", b"-1e19"):
        raw = b'[{"v":' + number + b"}]"
        assert read_any(raw) is None
        assert read_json(raw).equals(_reference(raw))


def test_keys_that_look_like_regexes_are_plain_names() -> None:
    """Polars takes a column name such as "^a.*$" given as text for a regex; both fast paths
    pick and rewrite columns by position or as Series."""
    rows = [{"^a.*$": 1, "ab": None, "a": "x", "$": True}, {"^a.*$": None, "ab": 2, "a": None}]
    raw = orjson.dumps({"data": rows})
    assert _check_same(raw)
    sliced = jsonslices.decode_records(raw)
    assert sliced is not None and sliced.frame.equals(_reference(raw))
    assert sliced.frame.columns == ["^a.*$", "ab", "a", "$"]
