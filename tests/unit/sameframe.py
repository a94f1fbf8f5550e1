"""The check both fast JSON decoders' tests make: a decoded document equals the ordinary
decode (orjson + readers.records_to_frame), frame, column order, count and other fields."""

from __future__ import annotations

import orjson

from export_core.jsonslices import SlicedRecords
from export_core.readers import records_to_frame


def assert_same_as_orjson(got: SlicedRecords, raw: bytes) -> None:
    """`got` (what a fast decoder made of `raw`) is what the ordinary decode makes of it."""
    whole = orjson.loads(raw)
    expected = records_to_frame(whole)
    assert got.frame.equals(expected)
    assert got.frame.columns == expected.columns
    assert got.count == expected.height
    if isinstance(whole, dict):
        assert got.fields == {k: v for k, v in whole.items() if k != "data"}
    else:
        assert got.fields is None
