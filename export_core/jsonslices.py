"""A big JSON record list decoded a slice at a time, straight into an all-String frame.

Decoding a 21 MB body of 50,000 records into Python dicts at once costs ~100 MB of worker
memory at its high-water mark. Here the bytes of the record list are cut into slices of about
`SLICE_BYTES` at record boundaries; each slice is decoded with orjson (a few MB of dicts,
freed before the next) and converted by polars (`readers.plain_frame`), and the frames are
concatenated: the same frame `readers.records_to_frame` makes of the whole list, because
polars' text for a value depends on that value alone. Slices after the first whose records use
only field names already seen skip the dicts (export_core.jsoncolumns: the native decoder,
else msgspec). The first slice, which learns the field names, is only `FIRST_SLICE_BYTES`
when the later ones can be columns: the dicts cost ~5x what the native decoder does per byte.
Records with nested values or integers beyond 64 bits take the ordinary path (their Python
conversion is per column, not per value).

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
from typing import Any

import polars as pl

from . import jsoncolumns, jsondoc, readers
from .errors import InputError
from .jsondoc import Bytes, NotFast

SLICE_BYTES = 1 << 20
FIRST_SLICE_BYTES = 1 << 16  # ~150 records of 50k participants: the field names, in dicts
_BOUNDARY = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*(?=\{)")
Rows = list[Any] | pl.DataFrame  # a slice's records: dicts, or a frame (jsoncolumns)
Accept = Callable[[Rows, int], bool]
Parse = Callable[[Bytes, int, int], Rows | None]


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
    columns: bool = True,
) -> SlicedRecords | None:
    """`raw` (a JSON list of objects, or an object with a "data" list of objects) decoded a
    slice at a time, or None when the ordinary whole-document decode must be used instead.

    `accept(records, first_row)` sees each slice's decoded records (rows numbered from 1:
    objects whose values are all scalars) before they are turned into a frame; returning
    False abandons the fast path (the caller's own checks then run on the whole document and
    raise their usual errors).

    With `columns`, a slice whose records use only field names already seen is decoded
    straight into a frame (export_core.jsoncolumns); `accept` then gets that frame (records
    proved non-empty objects of scalars, at most jsoncolumns.MAX_FIELDS fields). Without it
    (a caller that needs the dicts) every slice is decoded into dicts."""
    try:
        head, start = jsondoc.locate(raw)
        frames: list[pl.DataFrame] = []
        keys: dict[str, None] = {}
        count = 0
        end = start
        parser = _Parser(keys if columns else None)
        first = min(slice_bytes, FIRST_SLICE_BYTES) if columns else slice_bytes
        for records, (begin, after) in _slices(raw, start, slice_bytes, parser.parse, first):
            if isinstance(records, pl.DataFrame):
                if accept is not None and not accept(records, count + 1):
                    return None
                frames.append(records)
                count, end = count + records.height, after
                continue
            _check_scalar_objects(records, raw, begin, after)
            if accept is not None and not accept(records, count + 1):
                return None
            frames.append(_slice_frame(records, keys))
            count, end = count + len(records), after
            del records
        fields = jsondoc.document_fields(head, jsondoc.tail_fields(raw, end))
    except NotFast:
        return None
    # The slices' columns are kept as the chunks of the frame's columns. Copying them into one
    # (rechunk) held every column twice at the end of the decode, ~10 MB at 50,000 rows: the
    # peak of a 50,000-row Excel export's worker once its batch files are written in threads.
    frame = pl.concat(frames, how="diagonal", rechunk=False) if len(frames) > 1 else frames[0]
    # Columns picked by position: a name given to select() as text is a regex when it looks
    # like "^...$", and a record key may ("^a.*$" picked every column starting with "a").
    position = {name: index for index, name in enumerate(frame.columns)}
    ordered = frame.select(pl.nth([position[key] for key in keys]))
    return SlicedRecords(fields=fields, frame=ordered, count=count)


class _Parser:
    """Parses a candidate slice: into a frame by jsoncolumns when `keys` (the field names seen
    so far, None for dicts only) covers its records, else into dicts (None if it does not
    parse). Both parses prove the cut (see the module's docstring)."""

    def __init__(self, keys: dict[str, None] | None) -> None:
        self.keys = keys
        self.columns: jsoncolumns.ColumnDecoder | None = None

    def parse(self, raw: Bytes, begin: int, stop: int) -> Rows | None:
        if self.keys:
            self.columns = jsoncolumns.column_decoder(self.keys, self.columns)
            if self.columns is not None:
                frame = self.columns.decode_native(raw, begin, stop)
                if frame is None:
                    frame = self.columns.decode(raw, begin, stop)
                if frame is not None:
                    return frame
        return jsondoc.parse_list(raw, begin, stop)


def _slices(
    raw: Bytes, start: int, size: int, parse: Parse, first: int
) -> Iterator[tuple[Rows, tuple[int, int]]]:
    """(records, (offset of the slice, offset after it)) for each slice, the first of about
    `first` bytes, the others `size`; the last slice ends just past the list's closing "]"."""
    begin = start
    while True:
        cut = _cut(raw, begin, first if begin == start else size, parse)
        if cut is not None:
            records, after = cut
            yield records, (begin, after)
            begin = after
            continue
        for close, after in jsondoc.limited(jsondoc.list_ends(raw, begin)):
            last = parse(raw, begin, close)
            if last is not None:
                yield last, (begin, after)
                return
        raise NotFast


def _cut(raw: Bytes, begin: int, size: int, parse: Parse) -> tuple[Rows, int] | None:
    """The records of the slice starting at `begin` and ending at the first record boundary
    at least `size` bytes on, with where the next slice starts; None near the list's end."""
    if begin + size >= len(raw):
        return None
    for candidate in jsondoc.limited(_BOUNDARY.finditer(raw, begin + size)):
        found = parse(raw, begin, candidate.start() + 1)
        if found is not None:
            return found, candidate.end()
    return None


def _check_scalar_objects(records: list[Any], raw: Bytes, begin: int, after: int) -> None:
    """NotFast unless every record is an object whose values are all scalars. The values are
    looked at only when the slice's bytes may hold a nested value (`_may_nest`)."""
    if set(map(type, records)) != {dict}:
        raise NotFast
    nested = {dict, list}
    if _may_nest(raw, begin, after, len(records)) and readers.value_types(records) & nested:
        raise NotFast


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
        raise NotFast from None
    if frame is None:
        raise NotFast
    keys.update(dict.fromkeys(frame.columns))
    return frame
