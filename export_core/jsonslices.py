"""A big JSON record list decoded a slice at a time, straight into an all-String frame.

Decoding a 21 MB body of 50,000 records into Python dicts at once costs ~100 MB of worker
memory at its high-water mark. Here the bytes of the record list are cut into slices of about
`SLICE_BYTES` at record boundaries; each slice is decoded with orjson (a few MB of dicts,
freed before the next) and converted by polars (`readers.plain_frame`), and the frames are
concatenated: the same frame `readers.records_to_frame` makes of the whole list, because
polars' text for a value depends on that value alone. Records with nested values or integers
beyond 64 bits take the ordinary path (their Python conversion is per column, not per value).

Cutting without a full tokenizer is safe because every cut is proved by a parse: slice `k`
starts at a record's first byte (true for the first; by induction for the rest), so when
"[" + slice + "]" parses as a JSON array, the "}" that ends the slice closes a record of the
list (a cut inside a string or a nested value leaves an unterminated string or an unbalanced
bracket, which orjson refuses), and the "," or "]" after it is the list's own. The top-level
object around the list is checked the same way: the text before the "data" key must parse as
an object once closed, and so must the text after the list.

This is the fast path for well-formed input only. Whenever anything is unusual (another
shape, invalid JSON, a record that is not an object, a cut that does not parse after a few
tries, a slice the caller's `accept` refuses) the result is None and the caller decodes the
whole document the ordinary way, which produces the precise error or the same frame."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import polars as pl

from . import readers
from .errors import InputError

SLICE_BYTES = 1 << 20
_WS = b" \t\r\n"
_DATA_KEY = b'"data"'
_BLANKS = re.compile(rb"[ \t\r\n]*")
_LIST_START = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*\[[ \t\r\n]*")
_BOUNDARY = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*(?=\{)")
_MAX_TRIES = 8  # candidate cuts tried per slice before giving up on the fast path

_T = TypeVar("_T")
Bytes = bytes | bytearray  # a body read into a preallocated buffer is a bytearray
Accept = Callable[[list[Any], int], bool]


class _NotFast(Exception):
    """The input is not the plain shape this module handles; decode it the ordinary way."""


@dataclass(frozen=True)
class SlicedRecords:
    """A decoded document: the top-level fields other than `data` (None for a bare list),
    the records as an all-String frame, and how many records there were."""

    fields: dict[str, Any] | None
    frame: pl.DataFrame
    count: int


def decode_records(
    raw: Bytes,
    *,
    accept: Accept | None = None,
    slice_bytes: int = SLICE_BYTES,
) -> SlicedRecords | None:
    """`raw` (a JSON list of objects, or an object with a "data" list of objects) decoded a
    slice at a time, or None when the ordinary whole-document decode must be used instead.

    `accept(records, first_row)` sees each slice's decoded records (rows numbered from 1:
    objects whose values are all scalars) before they are turned into a frame; returning
    False abandons the fast path (the caller's own checks then run on the whole document and
    raise their usual errors)."""
    try:
        head, start = _locate(raw)
        frames: list[pl.DataFrame] = []
        keys: dict[str, None] = {}
        count = 0
        end = start
        for records, (begin, after) in _slices(raw, start, slice_bytes):
            _check_scalar_objects(records, raw, begin, after)
            if accept is not None and not accept(records, count + 1):
                return None
            frames.append(_slice_frame(records, keys))
            count, end = count + len(records), after
            del records
        fields = _fields(head, _tail(raw, end))
    except _NotFast:
        return None
    # The slices' columns are kept as the chunks of the frame's columns. Copying them into one
    # (rechunk) held every column twice at the end of the decode, ~10 MB at 50,000 rows: the
    # peak of a 50,000-row Excel export's worker once its batch files are written in threads.
    frame = pl.concat(frames, how="diagonal", rechunk=False) if len(frames) > 1 else frames[0]
    return SlicedRecords(fields=fields, frame=frame.select(list(keys)), count=count)


def _locate(raw: Bytes) -> tuple[dict[str, Any] | None, int]:
    """(fields before "data", or None for a bare list; offset of the first record)."""
    lead = _BLANKS.match(raw)
    assert lead is not None  # matches the empty string at least
    stripped = lead.end()  # (raw.lstrip() would copy the whole body)
    if raw[stripped : stripped + 1] == b"[":
        blanks = _BLANKS.match(raw, stripped + 1)
        assert blanks is not None  # matches the empty string at least
        return None, _first_record(raw, blanks.end())
    if raw[stripped : stripped + 1] != b"{":
        raise _NotFast
    at = raw.find(_DATA_KEY, stripped)
    for _ in range(_MAX_TRIES):
        if at < 0:
            break
        head = _head_fields(raw[:at].rstrip(_WS))
        colon = _LIST_START.match(raw, at + len(_DATA_KEY))
        if head is not None and colon is not None:
            return head, _first_record(raw, colon.end())
        at = raw.find(_DATA_KEY, at + 1)
    raise _NotFast


def _first_record(raw: Bytes, start: int) -> int:
    if raw[start : start + 1] != b"{":  # an empty list, or records that are not objects
        raise _NotFast
    return start


def _head_fields(head: Bytes) -> dict[str, Any] | None:
    """The fields before a "data" key candidate, if the candidate is a key of the top-level
    object: the text before it is "{" alone, or closes into a valid object after its comma."""
    body = head.lstrip(_WS)
    if body == b"{":
        return {}
    if not body.endswith(b",") or body[:-1].rstrip(_WS) == b"{":  # "{," is not JSON
        return None
    try:
        value = orjson.loads(body[:-1] + b"}")
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _parse_list(raw: Bytes, begin: int, stop: int) -> list[Any] | None:
    try:
        value = orjson.loads(b"".join((b"[", memoryview(raw)[begin:stop], b"]")))
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def _slices(raw: Bytes, start: int, size: int) -> Iterator[tuple[list[Any], tuple[int, int]]]:
    """(records, (offset of the slice, offset after it)) for each slice; the last slice ends
    just past the list's closing "]"."""
    begin = start
    while True:
        cut = _cut(raw, begin, size)
        if cut is not None:
            records, after = cut
            yield records, (begin, after)
            begin = after
            continue
        for close, after in _limited(_list_ends(raw, begin)):
            last = _parse_list(raw, begin, close)
            if last is not None:
                yield last, (begin, after)
                return
        raise _NotFast


def _list_ends(raw: Bytes, begin: int) -> Iterator[tuple[int, int]]:
    """Candidates for the list's end, last first ("}" blanks "]": offsets just past the "}"
    and just past the "]"): the list usually ends close to the end of the document, while
    text such as "}]" inside the records would make a forward search try many cuts."""
    at = len(raw)
    while (at := raw.rfind(b"]", begin, at)) > begin:
        before = at - 1
        while before > begin and raw[before] in _WS:
            before -= 1
        if raw[before] == ord("}"):
            yield before + 1, at + 1


def _cut(raw: Bytes, begin: int, size: int) -> tuple[list[Any], int] | None:
    """The records of the slice starting at `begin` and ending at the first record boundary
    at least `size` bytes on, with where the next slice starts; None near the list's end."""
    if begin + size >= len(raw):
        return None
    for candidate in _limited(_BOUNDARY.finditer(raw, begin + size)):
        found = _parse_list(raw, begin, candidate.start() + 1)
        if found is not None:
            return found, candidate.end()
    return None


def _limited(matches: Iterator[_T]) -> Iterator[_T]:
    for tries, match in enumerate(matches):
        if tries == _MAX_TRIES:
            return
        yield match


def _tail(raw: Bytes, end: int) -> dict[str, Any] | None:
    """The fields after the list (None when the list was the whole document)."""
    rest = raw[end:].strip(_WS)
    if rest == b"":
        return None
    if rest == b"}":
        return {}
    if not rest.startswith(b",") or rest[1:].lstrip(_WS).startswith(b"}"):  # ",}" neither
        raise _NotFast
    try:
        value = orjson.loads(b"{" + rest[1:])
    except orjson.JSONDecodeError:
        raise _NotFast from None
    if not isinstance(value, dict):
        raise _NotFast
    return value


def _fields(head: dict[str, Any] | None, tail: dict[str, Any] | None) -> dict[str, Any] | None:
    """The top-level fields around the list; a bare list must end the document and an
    object must close after it. Repeated keys (JSON's last-one-wins) take the ordinary path."""
    if head is None:
        if tail is not None:
            raise _NotFast
        return None
    if tail is None or "data" in head or "data" in tail or head.keys() & tail.keys():
        raise _NotFast
    return {**head, **tail}


def _check_scalar_objects(records: list[Any], raw: Bytes, begin: int, after: int) -> None:
    """_NotFast unless every record is an object whose values are all scalars. The values are
    looked at only when the slice's bytes may hold a nested value (`_may_nest`)."""
    if set(map(type, records)) != {dict}:
        raise _NotFast
    nested = {dict, list}
    if _may_nest(raw, begin, after, len(records)) and readers.value_types(records) & nested:
        raise _NotFast


def _may_nest(raw: Bytes, begin: int, after: int, records: int) -> bool:
    """Whether raw[begin:after], holding `records` objects, may hold a nested value: a list
    needs a "[", an object a "{" besides the one opening each record (either may also sit in
    a string, hence "may"). Two C scans, ~15 ms for 20 MB (a regex for ':' + '[' or '{' took
    30 ms, bytes.find of two-byte needles more)."""
    return raw.find(b"[", begin, after) >= 0 or raw.count(b"{", begin, after) != records


def _slice_frame(records: list[dict[str, Any]], keys: dict[str, None]) -> pl.DataFrame:
    """One slice's all-String frame; adds its field names to `keys` in first-seen order.
    Only polars' own conversion qualifies (readers.plain_frame): the text it gives a value
    does not depend on the other records, which the Python path's does not promise."""
    try:
        frame = readers.plain_frame(records, scalars=True)
    except InputError:
        raise _NotFast from None
    if frame is None:
        raise _NotFast
    keys.update(dict.fromkeys(frame.columns))
    return frame
