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
whole document the ordinary way, which produces the precise error or the same frame.

Slices after the first are decoded on two threads at once (`_Ahead`) when the body holds at
least AHEAD_MIN_SLICES more of them and the first slice has no float: the native decoder
parses strings and integers without the GIL, so two slices take one core each (a float takes
the GIL back for the rest of its slice: the threads would only add their cost). A slice
decoded ahead is cut where `_slices` would try first (the first boundary `size` bytes on, or
for the last slice the first end of the list jsondoc.list_ends offers) with the field names
known when it was handed out, and it is used only in turn: once every slice before it has
parsed and been accepted, and only when the field names have not changed since. If it did
not parse (or raised), or the names changed, the slices decoded after it are dropped, that
slice goes through `_cut` (or list_ends) as before, which tries the further candidates and
raises what it raises, and the threads start again after it; after _MAX_RESTARTS of these
the rest goes one slice at a time. The proof by induction above is unchanged, as are the
frame, the `accept` calls and the None cases. The threads are the process's (`_executor`,
fork-safe like export_core.writers.deflate's): a pool made per call cost 6-14 ms of CPU per
50,000-row body (up to ~2,800 more page faults: new threads' memory is faulted in again),
which ate most of what the second core saved. A call cancels what it handed out and waits
for what is running before it returns or raises: no work of a call outlives it.

A body still arriving (`arrival`: export_core.spool.ArrivingBody, spooled by a thread while
the request decodes it) is decoded the same way, reading only bytes that have arrived: each
record boundary is searched for in what is there (`_boundaries`, the same matches as one
search of the whole body), a slice goes to the threads once its bytes are in, and the list's
end and the fields after it wait for the whole body. A body that will not arrive whole makes
`wait` raise NotFast, so the call declines like any other unusual input."""

from __future__ import annotations

import mmap
import os
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl

from . import jsoncolumns, jsondoc, readers
from .errors import InputError
from .jsondoc import Bytes, NotFast
from .pools import ForkSafePool

SLICE_BYTES = 1 << 20
FIRST_SLICE_BYTES = 1 << 16  # ~150 records of 50k participants: the field names, in dicts
_BOUNDARY = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*(?=\{)")
THREADS = max(1, min(2, os.cpu_count() or 1))  # slices decoded at once (1: one at a time)
AHEAD = 3  # slices handed to the threads ahead of the one being used: bounds the memory
# Fewer slices after the first (a body under ~4.3 MB, such as the 10k-row one) go one at a
# time: the threads measured no faster there (docs/PERFORMANCE.md, eleventh round).
AHEAD_MIN_SLICES = 4
_MAX_RESTARTS = 4  # slices decoded again (a cut that failed, new field names) before the
# rest of the document goes one slice at a time
_POOL = ForkSafePool(THREADS, "ybb-slices")
# A body still arriving: the bytes looked for past a slice's nominal end before a cut is tried
# (a record boundary every few hundred bytes), and those of the document's head.
ARRIVAL_STEP = 1 << 16
Rows = list[Any] | pl.DataFrame  # a slice's records: dicts, or a frame (jsoncolumns)
Accept = Callable[[Rows, int], bool]
Parse = Callable[[Bytes, int, int], Rows | None]


class Arrival(Protocol):
    """A body still arriving (export_core.spool.ArrivingBody): its bytes past `available()`
    must not be read yet."""

    def available(self) -> int: ...

    def wait(self, upto: int) -> int:
        """Blocks until the first `upto` bytes have arrived; returns how many have (NotFast if
        they never will)."""
        ...


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
    threads: int = THREADS,
    release: Callable[[int], None] | None = None,
    arrival: Arrival | None = None,
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
    (a caller that needs the dicts) every slice is decoded into dicts.

    With `threads` > 1 the slices after the first are decoded ahead on the process's pool of
    THREADS threads (see the module's docstring); 1 decodes them one at a time on this thread,
    as does `columns=False` (orjson holds the GIL: a thread would not help).

    `release(offset)`, if given, is told after each slice that the bytes before `offset` are
    not needed any more (export_core.spool.release_behind: a spooled body's pages unmapped);
    they must stay readable all the same (a slice cut again, the tail, a fallback).

    `arrival`, if given, says how much of `raw` has arrived (a body still being received and
    spooled): nothing past it is read, and each slice is cut and decoded as soon as its bytes
    are there; the result is the same as with the whole body at hand."""
    try:
        head, start = _locate(raw, arrival)
        frames: list[pl.DataFrame] = []
        keys: dict[str, None] = {}
        count = 0
        end = start
        parser = _Parser(keys if columns else None)
        first = min(slice_bytes, FIRST_SLICE_BYTES) if columns else slice_bytes
        ahead = _Ahead(raw, slice_bytes, parser, arrival) if columns and threads > 1 else None
        slices = _slices(raw, start, slice_bytes, parser.parse, first, ahead, arrival)
        with closing(slices):  # the call's work on the pool ends before it returns or raises
            for records, (begin, after) in slices:
                if isinstance(records, pl.DataFrame):
                    if accept is not None and not accept(records, count + 1):
                        return None
                    frames.append(records)
                    count, end = count + records.height, after
                    if release is not None:
                        release(after)
                    continue
                _check_scalar_objects(records, raw, begin, after)
                if ahead is not None and not frames and float in readers.value_types(records):
                    ahead.off = True  # floats take the GIL back (_jsoncols.c): no second core
                if accept is not None and not accept(records, count + 1):
                    return None
                frames.append(_slice_frame(records, keys))
                count, end = count + len(records), after
                del records
                if release is not None:
                    release(after)
        _all_of(raw, arrival)  # (it has: the last slice needed it)
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


def _all_of(raw: Bytes, arrival: Arrival | None) -> None:
    """Returns once the whole of `raw` has arrived."""
    if arrival is not None:
        arrival.wait(len(raw))


def _locate(raw: Bytes, arrival: Arrival | None) -> tuple[dict[str, Any] | None, int]:
    """jsondoc.locate, on the first ARRIVAL_STEP bytes of a body still arriving (a copy of
    them), then on the whole body if they did not settle it: a "data" list whose start is
    beyond them, or nothing that looks like one."""
    if arrival is not None:
        got = arrival.wait(ARRIVAL_STEP)
        if got < len(raw):
            try:
                return jsondoc.locate(raw[:got])
            except NotFast:
                arrival.wait(len(raw))
    return jsondoc.locate(raw)


def _boundaries(raw: Bytes, pos: int, arrival: Arrival | None) -> Iterator[re.Match[bytes]]:
    """_BOUNDARY.finditer(raw, pos): the same matches, reading only what has arrived. Each
    step searches what is there, at least ARRIVAL_STEP bytes on. A match found there is the
    one the whole body has (its lookahead byte is inside the search); one the end of the
    search cut off starts at the last "}" searched (a match holds a single "}", its first
    byte), where the next step resumes, once more bytes have arrived."""
    want = pos + ARRIVAL_STEP
    while arrival is not None:
        end = arrival.wait(want)
        if end >= len(raw):
            break
        for match in _BOUNDARY.finditer(raw, pos, end):
            yield match
            pos = match.end()
        last = raw.rfind(b"}", pos, end)
        pos = last if last >= 0 else end
        want = max(pos + ARRIVAL_STEP, end + 1)
    yield from _BOUNDARY.finditer(raw, pos)


class _Parser:
    """Parses a candidate slice: into a frame by jsoncolumns when `keys` (the field names seen
    so far, None for dicts only) covers its records, else into dicts (None if it does not
    parse). Both parses prove the cut (see the module's docstring)."""

    def __init__(self, keys: dict[str, None] | None) -> None:
        self.keys = keys
        self.columns: jsoncolumns.ColumnDecoder | None = None

    def decoder(self) -> jsoncolumns.ColumnDecoder | None:
        """The column decoder for the field names seen so far (None: dicts only)."""
        if self.keys:
            self.columns = jsoncolumns.column_decoder(self.keys, self.columns)
            return self.columns
        return None

    def parse(self, raw: Bytes, begin: int, stop: int) -> Rows | None:
        return _parse_with(self.decoder(), raw, begin, stop)


def _parse_with(
    decoder: jsoncolumns.ColumnDecoder | None, raw: Bytes, begin: int, stop: int
) -> Rows | None:
    """raw[begin:stop] as a frame by `decoder` if it takes the slice, else as dicts (None if
    it does not parse). Reads nothing but its arguments: safe on any thread."""
    if decoder is not None:
        frame = decoder.decode_native(raw, begin, stop)
        if frame is None:
            frame = decoder.decode(raw, begin, stop)
        if frame is not None:
            return frame
    return jsondoc.parse_list(raw, begin, stop)


@dataclass(frozen=True)
class _Pending:
    """A slice handed to the threads: raw[begin:stop], the next one starting at `after` (or
    the rest of the document after it, for the last), decoded with the first `known` field
    names."""

    begin: int
    stop: int
    after: int
    known: int
    last: bool  # the list's last slice (cut at the first of jsondoc.list_ends)
    result: Future[Rows | None]


def _executor() -> ThreadPoolExecutor:
    """The process's pool (see export_core.pools)."""
    return _POOL.executor()


class _Ahead:
    """Slices after the first decoded on the pool (`_executor`), up to AHEAD of the one being
    used, each cut where `_slices` tries first; `take` gives them out in order, or None
    whenever the slice must go through `_cut` (every later one too after _MAX_RESTARTS)."""

    def __init__(
        self, raw: Bytes, size: int, parser: _Parser, arrival: Arrival | None = None
    ) -> None:
        self.raw, self.size, self.parser, self.arrival = raw, size, parser, arrival
        self.pool: ThreadPoolExecutor | None = None
        self.pending: deque[_Pending] = deque()
        self.dropped: list[Future[Rows | None]] = []  # maybe still running
        self.next = -1  # where the next slice to hand out starts (-1: none handed out yet)
        self.restarts = 0
        self.off = False
        self.done = False  # the last slice has been handed out

    def take(self, begin: int) -> tuple[Rows, int, bool] | None:
        """(records, where the next slice starts, whether it was the last) of the slice
        starting at `begin`, or None."""
        if self.off or not self.parser.keys:
            return None
        known = len(self.parser.keys)
        if self.pending and (self.pending[0].begin != begin or self.pending[0].known != known):
            self._drop()  # the field names grew (a slice of dicts): decode again with them
            self.restarts += 1
        if self.next < 0 and (len(self.raw) - begin) // self.size < AHEAD_MIN_SLICES:
            self.off = True  # too few slices for the threads to pay off
            return None
        if not self.pending:
            if self.restarts > _MAX_RESTARTS:
                self.off = True
                return None
            self.next, self.done = begin, False
        self._fill()
        if not self.pending:
            return None  # no end of the list after `begin`: _cut and list_ends decide
        head = self.pending.popleft()
        try:
            records = head.result.result()
        except Exception:  # _cut parses it again and raises what it raises
            records = None
        if records is None:  # a cut that did not parse: _cut (or list_ends) tries the others
            self._drop()
            self.restarts += 1
            return None
        self._fill()
        return records, head.after, head.last

    def _fill(self) -> None:
        """Hands out slices from `next` until AHEAD are pending, each cut where `_slices`
        tries first: the first boundary `size` bytes on, else (`_cut` returns None: near the
        end, or no boundary) the first of jsondoc.list_ends, which is the last slice."""
        decoder = self.parser.decoder()
        known = len(self.parser.keys or ())
        while len(self.pending) < AHEAD and not self.done:
            if self.pending and not self._arrived(self.next + self.size + ARRIVAL_STEP):
                return  # handed out once its bytes are there: the threads have work meanwhile
            boundary = None
            if self.next + self.size < len(self.raw):
                cuts = _boundaries(self.raw, self.next + self.size, self.arrival)
                boundary = next(cuts, None)
            if boundary is not None:
                stop, after = boundary.start() + 1, boundary.end()
            else:
                self.done = True
                _all_of(self.raw, self.arrival)
                end = next(jsondoc.list_ends(self.raw, self.next), None)
                if end is None:
                    return
                stop, after = end
            if self.pool is None:
                self.pool = _executor()
            future = self.pool.submit(_parse_with, decoder, self.raw, self.next, stop)
            self.pending.append(_Pending(self.next, stop, after, known, self.done, future))
            self.next = after

    def _arrived(self, upto: int) -> bool:
        """Whether the first `upto` bytes (at most all) are there, without waiting."""
        return self.arrival is None or self.arrival.available() >= min(upto, len(self.raw))

    def _drop(self) -> None:
        for pending in self.pending:
            if not pending.result.cancel():
                self.dropped.append(pending.result)
        self.pending.clear()

    def close(self) -> None:
        """Cancels what has not started and waits for what has: no work outlives the call."""
        self._drop()
        wait(self.dropped)
        self.dropped.clear()


def _slices(
    raw: Bytes,
    start: int,
    size: int,
    parse: Parse,
    first: int,
    ahead: _Ahead | None,
    arrival: Arrival | None = None,
) -> Generator[tuple[Rows, tuple[int, int]], None, None]:
    """(records, (offset of the slice, offset after it)) for each slice, the first of about
    `first` bytes, the others `size` (from `ahead` when it has them); the last slice ends just
    past the list's closing "]"."""
    begin = start
    try:
        while True:
            taken = ahead.take(begin) if ahead is not None and begin != start else None
            if taken is not None:
                records, after, final = taken
                yield records, (begin, after)
                if final:
                    return
                begin = after
                continue
            cut = _cut(raw, begin, first if begin == start else size, parse, arrival)
            if cut is not None:
                records, after = cut
                yield records, (begin, after)
                begin = after
                continue
            _all_of(raw, arrival)
            for close, after in jsondoc.limited(jsondoc.list_ends(raw, begin)):
                last = parse(raw, begin, close)
                if last is not None:
                    yield last, (begin, after)
                    return
            raise NotFast
    finally:
        if ahead is not None:
            ahead.close()


def _cut(
    raw: Bytes, begin: int, size: int, parse: Parse, arrival: Arrival | None = None
) -> tuple[Rows, int] | None:
    """The records of the slice starting at `begin` and ending at the first record boundary
    at least `size` bytes on, with where the next slice starts; None near the list's end."""
    if begin + size >= len(raw):
        return None
    for candidate in jsondoc.limited(_boundaries(raw, begin + size, arrival)):
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
    if raw.find(b"[", begin, after) >= 0:
        return True
    if isinstance(raw, mmap.mmap):  # no count(): the slice's bytes, a copy
        return raw[begin:after].count(b"{") != records
    return raw.count(b"{", begin, after) != records


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
