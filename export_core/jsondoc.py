"""The shape of a JSON export document, found without decoding its record list.

A document is either a bare list of records or an object with a "data" list among other
fields. `locate` finds where the first record starts (and decodes the fields before "data"),
`list_ends` offers candidates for where the list ends, and `tail_fields` / `document_fields`
decode and check what follows it. Each decoded piece is proved by a parse, so no tokenizer is
needed. Anything unusual raises NotFast: the caller then decodes the whole document the
ordinary way, which gives the precise error or the same result. Used by the fast record
decoder, export_core.jsonslices."""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterator
from typing import Any, TypeVar

import orjson

WS = b" \t\r\n"
_DATA_KEY = b'"data"'
_BLANKS = re.compile(rb"[ \t\r\n]*")
_LIST_START = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*\[[ \t\r\n]*")
MAX_TRIES = 8  # candidate cuts tried before giving up on a fast path

_T = TypeVar("_T")
# A body read into a preallocated buffer is a bytearray; a big one spooled to a file, a read-only
# memory map (export_core.spool): it slices, finds and searches like bytes, but has no count().
Bytes = bytes | bytearray | mmap.mmap


class NotFast(Exception):
    """The input is not the plain shape the fast decoders handle; decode it the ordinary way."""


def locate(raw: Bytes) -> tuple[dict[str, Any] | None, int]:
    """(fields before "data", or None for a bare list; offset of the first record)."""
    lead = _BLANKS.match(raw)
    assert lead is not None  # matches the empty string at least
    stripped = lead.end()  # (raw.lstrip() would copy the whole body)
    if raw[stripped : stripped + 1] == b"[":
        blanks = _BLANKS.match(raw, stripped + 1)
        assert blanks is not None  # matches the empty string at least
        return None, _first_record(raw, blanks.end())
    if raw[stripped : stripped + 1] != b"{":
        raise NotFast
    at = raw.find(_DATA_KEY, stripped)
    for _ in range(MAX_TRIES):
        if at < 0:
            break
        head = _head_fields(raw[:at].rstrip(WS))
        colon = _LIST_START.match(raw, at + len(_DATA_KEY))
        if head is not None and colon is not None:
            return head, _first_record(raw, colon.end())
        at = raw.find(_DATA_KEY, at + 1)
    raise NotFast


def _first_record(raw: Bytes, start: int) -> int:
    if raw[start : start + 1] != b"{":  # an empty list, or records that are not objects
        raise NotFast
    return start


def _head_fields(head: bytes | bytearray) -> dict[str, Any] | None:
    """The fields before a "data" key candidate, if the candidate is a key of the top-level
    object: the text before it is "{" alone, or closes into a valid object after its comma."""
    body = head.lstrip(WS)
    if body == b"{":
        return {}
    if not body.endswith(b",") or body[:-1].rstrip(WS) == b"{":  # "{," is not JSON
        return None
    try:
        value = orjson.loads(body[:-1] + b"}")
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def parse_list(raw: Bytes, begin: int, stop: int) -> list[Any] | None:
    """raw[begin:stop] decoded as the items of a JSON list, or None when they do not parse."""
    try:
        value = orjson.loads(b"".join((b"[", memoryview(raw)[begin:stop], b"]")))
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def list_ends(raw: Bytes, begin: int) -> Iterator[tuple[int, int]]:
    """Candidates for the list's end, last first ("}" blanks "]": offsets just past the "}"
    and just past the "]"): the list usually ends close to the end of the document, while
    text such as "}]" inside the records would make a forward search try many cuts."""
    at = len(raw)
    while (at := raw.rfind(b"]", begin, at)) > begin:
        before = at - 1
        while before > begin and raw[before] in WS:
            before -= 1
        if raw[before] == ord("}"):
            yield before + 1, at + 1


def limited(matches: Iterator[_T]) -> Iterator[_T]:
    """The first MAX_TRIES of `matches`."""
    for tries, match in enumerate(matches):
        if tries == MAX_TRIES:
            return
        yield match


def tail_fields(raw: Bytes, end: int) -> dict[str, Any] | None:
    """The fields after the list (None when the list was the whole document)."""
    rest = raw[end:].strip(WS)
    if rest == b"":
        return None
    if rest == b"}":
        return {}
    if not rest.startswith(b",") or rest[1:].lstrip(WS).startswith(b"}"):  # ",}" neither
        raise NotFast
    try:
        value = orjson.loads(b"{" + rest[1:])
    except orjson.JSONDecodeError:
        raise NotFast from None
    if not isinstance(value, dict):
        raise NotFast
    return value


def document_fields(
    head: dict[str, Any] | None, tail: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The top-level fields around the list; a bare list must end the document and an
    object must close after it. Repeated keys (JSON's last-one-wins) take the ordinary path."""
    if head is None:
        if tail is not None:
            raise NotFast
        return None
    if tail is None or "data" in head or "data" in tail or head.keys() & tail.keys():
        raise NotFast
    return {**head, **tail}
