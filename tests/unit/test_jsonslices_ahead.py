"""Slices decoded ahead on two threads (export_core.jsonslices._Ahead): the same frame, the same
`accept` calls in the same order with the same arguments, the same None cases and the same
errors as one slice after another (threads=1), and no work of a call left running after it."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.datagen import records
from export_core import jsonslices
from export_core.jsonslices import SlicedRecords
from tests.unit.engine_helpers import wait_for_child

from .test_jsonslices import TRICKY, assert_same_as_orjson

KEYS = ["id", "name", "note", "ok", "amount"]
texts = st.one_of(st.text(max_size=10), st.sampled_from(TRICKY))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
rows = st.lists(
    st.dictionaries(st.sampled_from(KEYS), scalars, min_size=1, max_size=5),
    min_size=40,
    max_size=120,
)
# What happens to one record in the middle (or late) of the list.
CHANGES = ["none", "cut_in_string", "new_field", "nested", "invalid", "big_int"]


def _changed(records: list[dict[str, Any]], change: str, at: int) -> bytes:
    records = [dict(r) for r in records]
    record = records[at % len(records)]
    if change == "cut_in_string":  # the boundary regex matches inside a string there
        record["note"] = '}, {"x": 1}, {' * 3
    elif change == "new_field":
        for later in records[at % len(records) :]:
            later["late field"] = "x"
    elif change == "nested":
        record["note"] = [1, {"a": 2}]
    elif change == "big_int":
        record["id"] = 2**70  # the dict path (orjson reads a float), same frame
    body = {"template": "complete", "data": records, "format": "csv"}
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    if change == "invalid":  # a record that is not JSON: both decline
        raw = raw.replace(b'"ok":', b'"ok":tru', 1) if b'"ok":' in raw else raw + b"x"
    return raw


Call = tuple[int, str, Any]


def _decode(
    raw: bytes, threads: int, size: int, refuse_at: int | None = None
) -> tuple[SlicedRecords | None, list[Call]]:
    """decode_records with an `accept` that notes every call (its first row and records) and
    refuses the slice holding row `refuse_at`."""
    calls: list[Call] = []

    def accept(records: jsonslices.Rows, first_row: int) -> bool:
        if isinstance(records, pl.DataFrame):
            calls.append((first_row, "frame", records))
            n = records.height
        else:
            calls.append((first_row, "dicts", records))
            n = len(records)
        return refuse_at is None or not first_row <= refuse_at < first_row + n

    got = jsonslices.decode_records(raw, accept=accept, slice_bytes=size, threads=threads)
    _assert_no_work_running()
    return got, calls


def _assert_no_work_running() -> None:
    """No thread is inside a slice's parse, and the only threads besides the test's own are
    the process's pool (at most THREADS)."""
    parse = jsonslices._parse_with.__code__
    for frame in sys._current_frames().values():
        walk: Any = frame
        while walk is not None:
            assert walk.f_code is not parse, "a slice is still being decoded after the call"
            walk = walk.f_back
    pool = [t for t in threading.enumerate() if t.name.startswith("ybb-slices")]
    assert len(pool) <= jsonslices.THREADS


def _assert_same_calls(ahead: list[Call], one: list[Call]) -> None:
    assert [(first, kind) for first, kind, _ in ahead] == [(first, kind) for first, kind, _ in one]
    for (_, kind, got), (_, _, expected) in zip(ahead, one, strict=True):
        if kind == "frame":
            assert got.columns == expected.columns
            assert got.equals(expected)
        else:
            assert got == expected


def _assert_same(raw: bytes, size: int, refuse_at: int | None = None) -> SlicedRecords | None:
    ahead, ahead_calls = _decode(raw, 2, size, refuse_at)
    one, one_calls = _decode(raw, 1, size, refuse_at)
    _assert_same_calls(ahead_calls, one_calls)
    assert (ahead is None) == (one is None)
    if ahead is not None and one is not None:
        assert ahead.frame.columns == one.frame.columns
        assert ahead.frame.equals(one.frame)
        assert (ahead.fields, ahead.count) == (one.fields, one.count)
        if refuse_at is None:
            assert_same_as_orjson(ahead, raw)
    return ahead


@settings(max_examples=120, deadline=None)
@given(rows, st.sampled_from(CHANGES), st.integers(0, 10_000), st.integers(60, 700))
def test_ahead_equals_one_at_a_time(
    records: list[dict[str, Any]], change: str, at: int, size: int
) -> None:
    raw = _changed(records, change, at)
    got = _assert_same(raw, size)
    if change in ("none", "cut_in_string", "new_field", "big_int"):
        assert got is not None
    if change in ("nested", "invalid"):
        assert got is None


@settings(max_examples=60, deadline=None)
@given(rows, st.integers(0, 200), st.integers(60, 700))
def test_a_refused_slice_gives_none_after_the_same_calls(
    records: list[dict[str, Any]], refuse_at: int, size: int
) -> None:
    raw = orjson.dumps({"data": records})
    got = _assert_same(raw, size, refuse_at=1 + refuse_at % len(records))
    assert got is None


def big_rows(n: int, *, late_key_from: int | None = None) -> list[dict[str, Any]]:
    notes = ["},{", "}]", 'say "hi"', "line\nbreak", "x", "", None]
    return [
        {"id": i, "name": f"Name {i} é", "note": notes[i % len(notes)], "ok": i % 2 == 0}
        | ({"late": "y"} if late_key_from is not None and i >= late_key_from else {})
        for i in range(n)
    ]


@pytest.mark.parametrize("size", [200, 4_096, 60_000])
def test_many_slices_with_new_fields_in_the_middle(size: int) -> None:
    raw = orjson.dumps({"data": big_rows(6_000, late_key_from=3_000), "format": "csv"})
    got = _assert_same(raw, size)
    assert got is not None
    assert got.frame.columns == ["id", "name", "note", "ok", "late"]


def test_a_nested_value_late_declines_like_one_at_a_time() -> None:
    records: list[dict[str, Any]] = big_rows(3_000)
    records[2_900]["note"] = {"a": [1]}
    assert _assert_same(orjson.dumps({"data": records}), 2_000) is None


@pytest.mark.parametrize("where", [0.3, 0.6, 0.95])
def test_a_damaged_slice_in_the_middle(where: float) -> None:
    records = big_rows(3_000)
    raw = orjson.dumps({"data": records})
    # A cut candidate inside a string: the slice ahead does not parse, _cut tries the next one.
    at = int(len(records) * where)
    records[at]["note"] = '}, {"id": 1}, {"id": 2}, {' * 40
    assert _assert_same(orjson.dumps({"data": records}), 2_000) is not None
    # Bytes that are not JSON: both decline.
    broken = raw.replace(f'"id":{at},'.encode(), f'"id":{at},,'.encode(), 1)
    assert broken != raw
    assert _assert_same(broken, 2_000) is None


def test_refusing_accept_in_the_middle_leaves_no_work_running() -> None:
    raw = orjson.dumps({"data": big_rows(20_000)})
    for refuse_at in (1, 500, 10_000, 19_999):
        assert _assert_same(raw, 4_000, refuse_at=refuse_at) is None


def test_an_error_in_accept_is_raised_the_same_and_leaves_no_work_running() -> None:
    raw = orjson.dumps({"data": big_rows(20_000)})

    def accept(records: jsonslices.Rows, first_row: int) -> bool:
        if first_row > 5_000:
            raise KeyError(first_row)
        return True

    errors = []
    for threads in (2, 1):
        with pytest.raises(KeyError) as caught:
            jsonslices.decode_records(raw, accept=accept, slice_bytes=4_000, threads=threads)
        _assert_no_work_running()
        errors.append(caught.value.args)
    assert errors[0] == errors[1]


def test_slices_are_taken_from_the_threads() -> None:
    """The pool decodes AHEAD slices at most, in order, each where _slices tries first (the
    last one at the list's end)."""
    rows = [
        {"id": i, "name": f"Name {i}", "note": "x" * (i % 50), "ok": True} for i in range(5_000)
    ]
    raw = orjson.dumps({"data": rows, "format": "csv"})
    parser = jsonslices._Parser(dict.fromkeys(["id", "name", "note", "ok"]))
    ahead = jsonslices._Ahead(raw, 2_000, parser)
    begin = raw.index(b"{", 1)
    taken, final = 0, False
    try:
        while not final and (got := ahead.take(begin)) is not None:
            assert len(ahead.pending) <= jsonslices.AHEAD
            records, after, final = got
            one = jsonslices._cut(raw, begin, 2_000, parser.parse)
            if final:
                assert one is None
                close, end = next(jsonslices.jsondoc.list_ends(raw, begin))
                one = (parser.parse(raw, begin, close), end)
            assert one is not None
            assert isinstance(records, pl.DataFrame) and records.equals(one[0])
            assert after == one[1]
            begin, taken = after, taken + 1
    finally:
        ahead.close()
    assert taken > 50 and final
    assert raw[begin:] == b',"format":"csv"}'
    _assert_no_work_running()


def test_floats_in_the_first_slice_keep_the_slices_on_one_thread() -> None:
    """A float takes the GIL back in _jsoncols.c: the threads would not help. The frame is the
    same either way."""
    rows = [{"id": i, "amount": i / 7, "note": "x"} for i in range(5_000)]
    raw = orjson.dumps({"data": rows})
    seen: list[bool] = []
    parse = jsonslices._parse_with.__code__

    def accept(records: jsonslices.Rows, first_row: int) -> bool:
        frames = sys._current_frames().values()
        seen.append(any(_calls(frame, parse) for frame in frames))
        return True

    got = _assert_same(raw, 2_000)
    assert got is not None
    assert jsonslices.decode_records(raw, accept=accept, slice_bytes=2_000) is not None
    assert len(seen) > 10 and not any(seen)


def _calls(frame: Any, code: Any) -> bool:
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def test_a_small_body_is_decoded_one_slice_at_a_time() -> None:
    raw = orjson.dumps({"data": big_rows(500)})  # under 3 slices after the first
    parser = jsonslices._Parser(dict.fromkeys(["id", "name", "note", "ok"]))
    ahead = jsonslices._Ahead(raw, len(raw) // 3, parser)
    assert ahead.take(raw.index(b"{", 1) + 100) is None
    assert ahead.off and ahead.pool is None
    # The 10k-row participants body (4.2 MB): 3 slices of 1 MiB after the first.
    body = orjson.dumps({"data": records("participants", 10_000, seed=7), "format": "csv"})
    parser = jsonslices._Parser(dict.fromkeys(records("participants", 1, seed=7)[0]))
    ahead = jsonslices._Ahead(body, jsonslices.SLICE_BYTES, parser)
    assert ahead.take(body.index(b"{", 1) + jsonslices.FIRST_SLICE_BYTES) is None
    assert ahead.off and ahead.pool is None


def test_a_forked_child_gets_a_pool_of_its_own(tmp_path: Path) -> None:
    """The parent's pool exists before the fork; work the child hands to the pool must still
    run (an inherited pool has no threads, and the child would hang). Only the pool is used in
    the child: polars' own thread pool does not survive a fork once used (gunicorn forks its
    workers before any export), so a whole decode there would hang whatever this module does."""
    raw = orjson.dumps({"data": big_rows(5_000)})
    assert jsonslices.decode_records(raw, slice_bytes=4_000) is not None
    assert jsonslices._POOL.started
    parent = jsonslices._executor()
    result = tmp_path / "child.txt"
    pid = os.fork()
    if pid == 0:  # the child: leave without running pytest's exit code
        try:
            pool = jsonslices._executor()
            value = pool.submit(jsonslices.jsondoc.parse_list, b'{"a":1}', 0, 7).result()
            result.write_text(f"{pool is not parent} {value}")
        finally:
            os._exit(0)
    wait_for_child(pid, "the forked child's pool work")
    assert result.read_text() == "True [{'a': 1}]"
