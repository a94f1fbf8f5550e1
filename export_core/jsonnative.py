"""A plain JSON record list read by polars' own NDJSON reader: no Python object per value.

orjson + polars (export_core.jsonslices) spend ~0.5 s of one core, holding the GIL, turning a
21 MB body of 50,000 records into Python dicts and those into columns. Polars' NDJSON reader
parses on two threads without the GIL: the record list's bytes become NDJSON by turning each
"},{" into "}\\n{" and are read with an explicit all-String schema, in pieces of about
`PIECE_BYTES` cut at "},{" (all at once, the copies and the reader's working memory added
~20 MB to a 50,000-row export's worker peak). In-process the 50,000-record body decodes in
~0.33 s instead of ~0.53 s; most of what remains is bytes.count/replace over the text. Lists
under `MIN_BYTES` are left to jsonslices, faster there (docs/PERFORMANCE.md, sixth round).

Polars' reader is not orjson, so its frame is used only when these checks prove it equal to
the frame `readers.records_to_frame` makes of the orjson-decoded list; otherwise the result is
None and the caller takes the next path (which gives the same frame or the precise error).
tests/unit/test_jsonnative.py holds polars to each behaviour relied on here.

* Lines are records. The list holds no raw line break, carriage return or tab, so the only
  line breaks are the ones put in, and every "{" opens a record: there are as many "{" as
  lines. Each line must parse as one JSON object (polars refuses anything else, including
  text after the object). The first line starts at a record's "{"; a line that starts at a
  record's "{" and is one whole object ends at that record's "}", so the next starts at the
  next record's "{". A "},{" inside a string would split that string across two lines, and
  neither parses. With no other "{" and no "[", no value is nested.
* Keys. Polars keeps the first of a repeated key where orjson keeps the last, and ignores a
  key outside the schema (the keys of the first records). So every key is counted. With no
  blank before a colon (no " :" anywhere), each key in the text ends in '":', and each key
  polars reads is a non-null cell once explicit nulls are made visible: '":null' is first
  turned into a marker string of the same length ('":"\\b"', a one-character string; a
  '":null' inside a string would end that string early and leave a stray backslash, which
  does not parse). The number of '":' in the text must equal the cells read, and the markers
  read the markers put in: then no key was repeated, none was outside the schema, and no '":'
  sat inside a string. Markers are turned back into nulls afterwards.
* Escapes. Polars turns a lone high surrogate escape into NUL where orjson refuses it (a lone
  low one, polars refuses too). A NUL cannot be sent raw (both refuse control characters in
  strings), so when the text holds a backslash no cell may hold a NUL ("\\u0000" itself
  then takes the other path too).
* Numbers. Polars keeps the digits of an integer beyond 64 bits where orjson makes it a float:
  a cell of 19 or more digits outside the int64/uint64 range sends the list down the other
  path. Floats are written by polars in both cases, from the same double.
* Limits. No empty record, no more than `max_records` records and no record over `max_fields`
  keys (the other path raises the API's precise errors for those)."""

from __future__ import annotations

from itertools import chain

import polars as pl

from . import jsondoc
from .jsondoc import Bytes, NotFast
from .jsonslices import SlicedRecords

PIECE_BYTES = 4 << 20
# Below this the fixed costs (polars' calls, the checks' select) outweigh what the reader
# saves: 1,000 participants (0.4 MB) decoded in 13 ms against 6.6 ms by jsonslices; even at
# ~3,000 (1.2 MB), 50,000 (21 MB) in 0.33 s against 0.53 s.
MIN_BYTES = 1 << 20
_BOUNDARY = b"},{"
_LINE_BOUNDARY = b"}\n{"
_KEY_END = b'":'
_NULL = b'":null'
_MARKED_NULL = b'":"\\b"'  # the same length: a one-character string, "\b"
_MARK = "\b"
_NUL = "\x00"
_SAMPLE_RECORDS = 64  # the schema is the keys of the first records, in first-seen order
# Bytes whose presence anywhere in the list sends it down the other path (see above).
_REFUSED = (b"\n", b"\r", b"\t", b"[", b" :")
_LONG_NUMBER = r"^-?[0-9]{19,}$"
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
# What polars raises for input it refuses (a Rust panic surfaces as PanicException).
_REFUSALS = (pl.exceptions.PolarsError, pl.exceptions.PanicException, ValueError, TypeError)


def read_records(
    raw: Bytes,
    *,
    max_records: int | None = None,
    max_fields: int | None = None,
    piece_bytes: int = PIECE_BYTES,
    min_bytes: int = MIN_BYTES,
) -> SlicedRecords | None:
    """`raw` (a JSON list of objects, or an object with a "data" list of objects) as the
    records' all-String frame and the other top-level fields, or None when the checks above
    do not prove the result equal to the ordinary decode's, or when the list is shorter than
    `min_bytes` (the sliced decoder is faster there)."""
    try:
        head, start = jsondoc.locate(raw)
        # Only the last "}]" is tried: a wrong candidate costs a whole read.
        close, after = next(jsondoc.list_ends(raw, start), (-1, -1))
        if close < 0 or close - start < min_bytes:
            return None
        fields = jsondoc.document_fields(head, jsondoc.tail_fields(raw, after))
        frame = _read_list(raw, (start, close), piece_bytes, max_records, max_fields)
    except NotFast:
        return None
    return SlicedRecords(fields=fields, frame=frame, count=frame.height)


def _read_list(
    raw: Bytes,
    span: tuple[int, int],
    piece_bytes: int,
    max_records: int | None,
    max_fields: int | None,
) -> pl.DataFrame:
    """The records in raw[start:close] (which starts with "{" and ends with "}"), read a
    piece at a time: a piece's copies and the reader's working memory stay a few MB."""
    start, close = span
    for refused in _REFUSED:
        if raw.find(refused, start, close) >= 0:
            raise NotFast
    escapes = raw.find(b"\\", start, close) >= 0  # any escape at all
    schema = _schema(raw, start, close)
    if max_fields is not None and len(schema) > max_fields:
        raise NotFast
    frames = []
    records = keys = nulls = 0
    for begin, end in _pieces(raw, start, close, piece_bytes):
        frame, piece_keys, piece_nulls = _read_piece(raw, begin, end, schema)
        frames.append(frame)
        records, keys, nulls = records + frame.height, keys + piece_keys, nulls + piece_nulls
        if max_records is not None and records > max_records:
            raise NotFast
    # One chunk per piece, as jsonslices keeps its slices: not copied into one again.
    frame = pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]
    del frames
    return _checked(frame, keys=keys, nulls=nulls, escapes=escapes)


def _pieces(raw: Bytes, start: int, close: int, size: int) -> list[tuple[int, int]]:
    """[begin, end) of each piece: the first starts at `start`, each ends just past a "}"
    that ",{" follows (the next starts at that "{"), the last ends at `close`. A cut inside
    a string leaves the piece's last line unterminated: it does not parse."""
    pieces = []
    begin = start
    while close - begin > size:
        cut = raw.find(_BOUNDARY, begin + size, close)
        if cut < 0:
            break
        pieces.append((begin, cut + 1))
        begin = cut + 2
    pieces.append((begin, close))
    return pieces


def _read_piece(
    raw: Bytes, begin: int, end: int, schema: dict[str, type[pl.String]]
) -> tuple[pl.DataFrame, int, int]:
    """The records in raw[begin:end] as read, explicit nulls still marked; the '":' (keys)
    and explicit nulls in their text."""
    lines = bytes(memoryview(raw)[begin:end]).replace(_BOUNDARY, _LINE_BOUNDARY)
    records = lines.count(b"{")
    nulls = lines.count(_NULL)
    if nulls:
        lines = lines.replace(_NULL, _MARKED_NULL)
    keys = lines.count(_KEY_END)
    try:
        frame = pl.read_ndjson(lines, schema=schema)
    except _REFUSALS:
        raise NotFast from None
    # A line is one record (polars refuses anything else), so this proves every "{" opens
    # a record: no nested object, and no "},{" inside a string.
    if frame.height != records:
        raise NotFast
    return frame, keys, nulls


def _schema(raw: Bytes, start: int, close: int) -> dict[str, type[pl.String]]:
    """All-String schema of the keys of the first records, in first-seen order."""
    at = start - 1
    for _ in range(_SAMPLE_RECORDS):
        if (at := raw.find(_BOUNDARY, at + 1, close)) < 0:
            break
    # Up to the boundary after the sample's last record, or all records if there are fewer.
    sample = jsondoc.parse_list(raw, start, close if at < 0 else at + 1)
    if not sample or set(map(type, sample)) != {dict}:
        raise NotFast
    keys = dict.fromkeys(chain.from_iterable(sample))
    if not keys:
        raise NotFast
    return dict.fromkeys(keys, pl.String)


def _checked(frame: pl.DataFrame, *, keys: int, nulls: int, escapes: bool) -> pl.DataFrame:
    """The frame with its markers turned back into nulls, once proved: the cells read account
    for every key and marker in the text, no record is empty, no cell holds a NUL (looked
    for only when the text holds a backslash: a NUL cannot be sent raw) and no cell is a
    number orjson reads differently. One select for all checks (outputs named apart from the
    columns by their prefixes)."""
    names = frame.columns
    every = pl.all()  # (never pl.col(name): a key such as "^a.*$" would be taken as a regex)
    stats = frame.select(
        pl.all_horizontal(every.is_null()).any().alias("r:empty"),
        every.eq(_MARK).sum().name.prefix("m:"),
        every.str.contains(_LONG_NUMBER).any().name.prefix("l:"),
        *([every.str.contains(_NUL, literal=True).any().name.prefix("n:")] if escapes else []),
    ).row(0, named=True)
    cells = frame.height * frame.width - sum(frame.null_count().row(0))
    marked = {n: stats["m:" + n] for n in names}
    if stats["r:empty"] or cells != keys or sum(marked.values()) != nulls:
        raise NotFast
    if escapes and any(stats["n:" + n] for n in names):
        raise NotFast
    long_columns = [n for n in names if stats["l:" + n]]
    if long_columns and not _within_64_bits(frame, long_columns):
        raise NotFast
    for index, name in enumerate(names):  # a column at a time: one copy at a time
        if marked[name]:
            column = pl.nth(index)
            frame = frame.with_columns(pl.when(column != _MARK).then(column).alias(name))
    return frame


def _within_64_bits(frame: pl.DataFrame, columns: list[str]) -> bool:
    """Whether every cell of 19+ digits is an integer orjson reads exactly (int64/uint64)."""
    for column in columns:
        cells = frame.get_column(column)
        for text in cells.filter(cells.str.contains(_LONG_NUMBER)):
            if not _INT64_MIN <= int(text) <= _UINT64_MAX:
                return False
    return True
