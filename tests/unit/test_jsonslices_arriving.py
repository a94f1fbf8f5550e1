"""export_core.jsonslices on a body still arriving (`arrival`, export_core.spool.ArrivingBody):
the same slices, `accept` calls and frame as with the whole body at hand, while nothing past
what has arrived is read. Here the bytes not yet arrived are zeros in the buffer the decoder
reads (as in the spool file's map), so a read past them would change the cuts or the values;
the last test feeds a real ArrivingBody from a thread."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.datagen import records
from export_core import jsonslices, spool
from export_core.jsondoc import NotFast

from .test_jsonslices import assert_same_as_orjson
from .test_jsonslices_ahead import CHANGES, Call, _assert_same_calls, _changed, _decode, rows


class Trickle:
    """An Arrival over `document`: `raw` holds zeros where bytes have not arrived; each wait
    makes them arrive up to a multiple of `step` at least as far as asked (and counts how far
    the decoder asked)."""

    def __init__(self, document: bytes, step: int) -> None:
        self.document, self.step = document, step
        self.raw = bytearray(len(document))
        self.arrived = 0
        self.waits = 0

    def available(self) -> int:
        return self.arrived

    def wait(self, upto: int) -> int:
        self.waits += 1
        upto = min(len(self.document), -(-upto // self.step) * self.step)
        if upto > self.arrived:
            self.raw[self.arrived : upto] = self.document[self.arrived : upto]
            self.arrived = upto
        return self.arrived


def _decode_arriving(
    trickle: Trickle, threads: int, size: int
) -> tuple[jsonslices.SlicedRecords | None, list[Call]]:
    calls: list[Call] = []

    def accept(got: jsonslices.Rows, first_row: int) -> bool:
        kind = "dicts" if isinstance(got, list) else "frame"
        calls.append((first_row, kind, got))
        return True

    result = jsonslices.decode_records(
        trickle.raw, accept=accept, slice_bytes=size, threads=threads, arrival=trickle
    )
    return result, calls


@settings(max_examples=150, deadline=None)
@given(
    rows,
    st.sampled_from(CHANGES),
    st.integers(0, 10_000),
    st.integers(60, 700),
    st.integers(1, 900),
    st.integers(1, 400),
    st.sampled_from([1, 2]),
)
def test_an_arriving_body_decodes_as_the_whole_one(
    records_: list[dict[str, object]],
    change: str,
    at: int,
    size: int,
    step: int,
    look: int,
    threads: int,
) -> None:
    raw = _changed(records_, change, at)
    expected, expected_calls = _decode(raw, threads, size)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonslices, "ARRIVAL_STEP", look)
        trickle = Trickle(raw, step)
        got, calls = _decode_arriving(trickle, threads, size)
    _assert_same_calls(calls, expected_calls)
    assert (got is None) == (expected is None)
    if got is not None and expected is not None:
        assert got.frame.equals(expected.frame)
        assert got.frame.columns == expected.frame.columns
        assert (got.fields, got.count) == (expected.fields, expected.count)
        assert_same_as_orjson(got, raw)


# Text made of record boundaries (with blanks), their parts and other bytes.
PIECES = [b"},{", b"}, {", b"}\n,\n  {", b"}", b",", b"{", b" ", b"\n", b"a", b'"']


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=120).map(b"".join),
    st.integers(0, 20),
    st.integers(1, 40),
    st.integers(1, 40),
)
def test_boundaries_while_arriving_are_the_whole_bodys(
    text: bytes, pos: int, step: int, look: int
) -> None:
    """The record boundaries found as the bytes arrive, a few at a time, are exactly those
    found in the whole text, whitespace runs and boundaries cut by an arrival included."""
    pos = min(pos, len(text))
    whole = [m.span() for m in jsonslices._BOUNDARY.finditer(text, pos)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonslices, "ARRIVAL_STEP", look)
        trickle = Trickle(text, step)
        arriving = [m.span() for m in jsonslices._boundaries(trickle.raw, pos, trickle)]
    assert arriving == whole


def test_a_big_body_is_cut_and_decoded_as_it_arrives() -> None:
    """50,000 records in steps of 256 kB: the decoder waits for bytes about a slice at a time
    (not once for the whole body), and gives the whole body's frame."""
    raw = json.dumps({"data": records("participants", 50_000, seed=2), "format": "csv"}).encode()
    trickle = Trickle(raw, 256 * 1024)
    got, _ = _decode_arriving(trickle, 2, jsonslices.SLICE_BYTES)
    assert got is not None and got.count == 50_000
    assert trickle.waits >= len(raw) // jsonslices.SLICE_BYTES
    assert_same_as_orjson(got, raw)


def _paced(data: bytes, gate: threading.Event | None = None) -> Iterator[bytes]:
    """`data` in uneven blocks with short pauses (a client on a network), stopping before
    the last quarter until `gate` is set, if given."""
    rng = random.Random(7)
    at = 0
    while at < len(data):
        if gate is not None and at >= len(data) * 3 // 4:
            assert gate.wait(30)
            gate = None
        step = rng.randint(1_000, 400_000)
        yield data[at : at + step]
        at += step
        time.sleep(0.001)


def test_a_real_arriving_body_decodes_while_it_is_spooled(tmp_path: object) -> None:
    """An ArrivingBody filled by its thread from paced blocks: the decode has gone through
    the body's first slices while its last quarter is still held back, and ends with the
    same frame as the body decoded whole."""
    raw = json.dumps({"data": records("participants", 20_000, seed=4), "template": "x"}).encode()
    gate = threading.Event()
    body = spool.arriving(_paced(raw, gate), len(raw))
    assert body is not None and body.map is not None
    seen: list[int] = []

    def accept(got: jsonslices.Rows, first_row: int) -> bool:
        seen.append(first_row)
        if len(seen) == 3:  # three slices in, the last quarter still held back
            assert body.available() < len(raw)
            gate.set()
        return True

    got = jsonslices.decode_records(body.map, accept=accept, arrival=body, slice_bytes=1 << 20)
    whole = body.finish()
    assert gate.is_set()
    assert got is not None and got.count == 20_000
    assert whole[:] == raw
    assert_same_as_orjson(got, raw)


def test_a_body_that_ends_short_declines_and_finish_gives_what_came() -> None:
    raw = json.dumps({"data": records("participants", 3_000, seed=4)}).encode()
    body = spool.arriving(iter([raw[:-500]]), len(raw))
    assert body is not None and body.map is not None
    assert jsonslices.decode_records(body.map, arrival=body) is None
    with pytest.raises(NotFast):
        body.wait(len(raw))
    assert body.finish() == raw[:-500]


def test_a_long_head_before_the_data_list_is_read_once_it_has_arrived() -> None:
    """The fields before "data" run past the first bytes looked at: the list is found once
    the rest has arrived, not declined for bytes that were not there yet."""
    document = {"note": "n" * 5_000, "data": records("participants", 300, seed=4)}
    raw = json.dumps(document).encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonslices, "ARRIVAL_STEP", 100)
        trickle = Trickle(raw, 64)
        got, _ = _decode_arriving(trickle, 2, 4_096)
    assert got is not None and got.count == 300
    assert_same_as_orjson(got, raw)
