"""Reading and checking an export request body: size limit (also for chunked bodies), JSON
object, field types, the seed's messages. Produces ExportOptions for the engine."""

from __future__ import annotations

import hashlib
import itertools
import mmap
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import flask
import orjson
import polars as pl
from werkzeug.exceptions import RequestEntityTooLarge

from export_core import jsoncolumns, readers
from export_core import spool as body_spool
from export_core.catalog import Catalog
from export_core.errors import (
    InputError,
    LimitExceeded,
    NoDataError,
    UnknownFormat,
    UnsupportedMediaType,
    ValidationError,
)
from export_core.jsondoc import Bytes
from export_core.jsonslices import Rows, decode_records
from export_core.matching import check_column_map
from export_core.model import ExportOptions
from export_core.store.templates import TemplateStore
from export_core.team_templates import TEAM_PREFIX, resolve_options

from . import gunicorn_body

READ_BLOCK = 256 * 1024
FORMAT_ALIASES = {"excel": "excel", "xlsx": "excel", "csv": "csv"}
CHUNKING = ("auto", "off")
MAX_NAME_CHARS = 255
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
# Excel has 16,384 columns; a record with more fields is not a spreadsheet row, and 20,000 keys
# per record only cost memory (fields beyond the template are ignored anyway).
MAX_FIELDS_PER_RECORD = jsoncolumns.MAX_FIELDS
# Nested values are written as JSON text; deeper than this is not data (and the JSON encoder
# stops at 255 levels, which was a 500).
MAX_NESTING = 32


def require_json_content_type() -> None:
    """415 unless the body is declared as JSON (application/json or */*+json). A missing
    Content-Type is tolerated; form and text/plain posts - what a foreign web page can send
    without a CORS preflight - are refused."""
    mimetype = flask.request.mimetype
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, not {mimetype[:100]}",
            details={"field": "Content-Type"},
        )


@dataclass(frozen=True)
class ExportRequest:
    """A checked export request: engine options, the records as a frame and the async flag."""

    options: ExportOptions
    frame: pl.DataFrame
    is_async: bool


@dataclass(frozen=True)
class ExportBody:
    """A decoded export body. When the sliced decoder handled it, `frame` holds the records
    (already checked) and `fields` everything but `data`; otherwise `frame` is None and
    `fields` is the whole body. `request_hash` is set when an Idempotency-Key came with it."""

    fields: dict[str, Any]
    frame: pl.DataFrame | None
    request_hash: str | None


def decode_export_body(
    raw: Bytes | body_spool.ArrivingBody, route: str, max_records: int, *, hashed: bool
) -> ExportBody:
    """The body of an export request. A well-formed body is decoded a slice at a time
    (export_core.jsonslices: no list of 50,000 dicts held at once), while it is still
    arriving when it is an ArrivingBody; anything else is decoded whole, which raises the
    precise error."""
    if isinstance(raw, body_spool.ArrivingBody):
        try:
            assert raw.map is not None
            return _decode(raw.map, route, max_records, hashed=hashed, arrival=raw)
        finally:
            raw.close()  # the body read to its end before anything is answered
    return _decode(raw, route, max_records, hashed=hashed)


def _decode(
    raw: Bytes,
    route: str,
    max_records: int,
    *,
    hashed: bool,
    arrival: body_spool.ArrivingBody | None = None,
) -> ExportBody:
    digest = hashlib.sha256() if hashed else None
    # The digest is computed from the records as dicts: with a key, no slice goes to columns.
    sliced = decode_records(
        raw,
        accept=_slice_checker(max_records, digest),
        columns=digest is None,
        release=body_spool.release_behind(raw),
        arrival=arrival,
    )
    if sliced is not None and sliced.fields is not None:
        request = None
        if digest is not None:
            digest.update(b"]")
            request = _combined_hash(route, sliced.fields, digest.hexdigest())
        return ExportBody(sliced.fields, sliced.frame, request)
    if arrival is not None:  # the whole body: what arrived, or what reading it raised
        del raw  # (the map: kept by this frame's traceback, it would outlive an error)
        raw = arrival.finish()
    # The whole-document decode takes bytes: a spooled body is read back from its file here
    # (a body the fast path turned down: unusual input, as big as it was before spooling).
    body = parse_json_object(raw[:] if isinstance(raw, mmap.mmap) else raw)
    return ExportBody(body, None, request_hash(route, body) if hashed else None)


def _slice_checker(max_records: int, digest: Any) -> Callable[[Rows, int], bool]:
    """The sliced decoder's `accept`: True while every record passes the checks `_records`
    makes (so that a refused body takes the ordinary path and gets its exact error); feeds
    each slice to the Idempotency-Key digest as the canonical `data` list. A slice decoded
    into a frame holds non-empty records of at most MAX_FIELDS_PER_RECORD fields already."""

    def accept(records: Rows, first_row: int) -> bool:
        if first_row - 1 + len(records) > max_records:
            return False
        if isinstance(records, pl.DataFrame):
            return digest is None
        if not _plain_records(records):
            return False
        if digest is not None:
            digest.update(b"[" if first_row == 1 else b",")
            digest.update(_canonical(records)[1:-1])
        return True

    return accept


def _plain_records(records: list[dict[str, Any]]) -> bool:
    # decode_records passes only objects with scalar values: nesting needs no check here.
    sizes = list(map(len, records))
    return min(sizes) > 0 and max(sizes) <= MAX_FIELDS_PER_RECORD


def read_body(max_bytes: int, *, spool: bool = False) -> Bytes | body_spool.ArrivingBody:
    """The raw body, refusing more than `max_bytes` whether Content-Length says so up front
    or a chunked body grows past it while being read (413). With a Content-Length the body is
    read into one buffer of that size (a list of blocks joined at the end would hold the body
    twice for a moment: +20 MB of worker memory for a 50,000-row export). With `spool`, a body
    of at least spool.SPOOL_MIN_BYTES goes to a temporary file instead (export_core.spool: the
    worker then never holds it whole): with a Content-Length, as an ArrivingBody, spooled by a
    thread while `decode_export_body` decodes what has arrived; without, as a read-only map
    once read. Under gunicorn a body with a Content-Length is read from the socket directly
    (gunicorn_body)."""
    declared = flask.request.content_length
    if declared is not None and declared > max_bytes:
        raise RequestEntityTooLarge()
    stream = flask.request.stream
    if declared is not None:
        blocks = gunicorn_body.body_blocks(flask.request.environ, declared, READ_BLOCK)
        if blocks is None:
            blocks = _blocks(stream, declared)
        if spool and declared >= body_spool.SPOOL_MIN_BYTES:
            arriving = body_spool.arriving(blocks, declared)
            return body_spool.spool(blocks) if arriving is None else arriving
        buffer, size = bytearray(declared), 0
        for block in blocks:
            buffer[size : size + len(block)] = block
            size += len(block)
        del buffer[size:]  # a client that sent less than it declared
        return buffer
    blocks = _limited(stream, max_bytes)
    parts, total = [], 0
    for block in blocks:
        parts.append(block)
        total += len(block)
        if spool and total >= body_spool.SPOOL_MIN_BYTES:
            return body_spool.spool(itertools.chain(parts, blocks))  # the rest, still limited
    return b"".join(parts)


def _blocks(stream: Any, size: int) -> Iterator[bytes]:
    """The first `size` bytes of `stream` (fewer if it ends first), a block at a time."""
    while size > 0 and (block := stream.read(min(READ_BLOCK, size))):
        size -= len(block)
        yield block


def _limited(stream: Any, allowed: int) -> Iterator[bytes]:
    """`stream`'s blocks as they come: 413 once they hold more than `allowed` bytes."""
    while block := stream.read(READ_BLOCK):
        allowed -= len(block)
        if allowed < 0:
            raise RequestEntityTooLarge()
        yield block


def parse_json_object(raw: Bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying what is wrong with it."""
    if not raw.strip():
        raise ValidationError(
            "Request body is empty: send a JSON object such as "
            '{"data": [...], "template": "standard"}',
            details={"field": "body"},
        )
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(
            f"Request body is not valid JSON: {exc}", details={"field": "body"}
        ) from exc
    if not isinstance(value, dict):
        raise ValidationError(
            f"Request body must be a JSON object with a 'data' list, not a JSON {_kind(value)}",
            details={"field": "body"},
        )
    return value


def request_hash(route: str, body: dict[str, Any]) -> str:
    """Hash of the route and the canonical body (sorted keys), for Idempotency-Key checks."""
    fields = {k: v for k, v in body.items() if k != "data"}
    return _combined_hash(route, fields, _data_digest(body))


def _combined_hash(route: str, fields: dict[str, Any], data_digest: str) -> str:
    """The fields other than `data` canonically, and the digest of `data` (computed whole, or
    slice by slice while decoding: both give the same digest)."""
    canonical = _canonical(fields) + b"\n" + data_digest.encode()
    return hashlib.sha256(route.encode() + b"\n" + canonical).hexdigest()


def _canonical(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson writes at most 255 levels; such a body is refused anyway
        raise InputError(
            f"Request body is nested more than {MAX_NESTING} levels deep; send flat records",
            details={"field": "body", "max_nesting": MAX_NESTING},
        ) from None


def _data_digest(body: dict[str, Any]) -> str:
    if "data" not in body:
        return "absent"
    return hashlib.sha256(_canonical(body["data"])).hexdigest()


def idempotency_key() -> str | None:
    """The Idempotency-Key header, or None; a malformed key is a 400."""
    key = flask.request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise ValidationError(
            "Idempotency-Key must be 1-200 characters of letters, digits and . _ : -",
            details={"field": "Idempotency-Key"},
        )
    return key


def _kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _typed(body: dict[str, Any], name: str, kind: type, default: Any, *, nullable: bool) -> Any:
    value = body.get(name, default)
    if value is None and nullable:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        expected = {str: "a string", bool: "true or false"}[kind]
        raise ValidationError(
            f"'{name}' must be {expected}, not a JSON {_kind(value)}",
            details={"field": name, "expected": expected},
        )
    return value


def _name(body: dict[str, Any], field: str) -> str | None:
    value = _typed(body, field, str, None, nullable=True)
    if value is not None and len(value) > MAX_NAME_CHARS:
        raise ValidationError(
            f"'{field}' is too long: at most {MAX_NAME_CHARS} characters",
            details={"field": field, "max_length": MAX_NAME_CHARS},
        )
    if value is not None:
        # Control and format characters (CR/LF, NUL, bidi overrides such as U+202E that make
        # "gnp.xlsx" display as "xslx.png") never belong in a file or sheet name.
        value = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cf"))
    return value or None


def _records(body: dict[str, Any], max_records: int) -> list[Any]:
    data = body.get("data")
    if data is None or data == []:
        raise NoDataError("No data provided for export", details={"field": "data"})
    if not isinstance(data, list):
        raise ValidationError(
            f"'data' must be a list of records (JSON objects), not a JSON {_kind(data)}",
            details={"field": "data"},
        )
    for row, record in enumerate(data, start=1):
        if not isinstance(record, dict) or not record:
            raise InputError(
                f"Record {row} must be a JSON object with at least one field,"
                f" not {'an empty object' if record == {} else 'a JSON ' + _kind(record)}",
                row=row,
                details={"field": "data"},
            )
        _check_record_shape(row, record)
    if len(data) > max_records:
        raise LimitExceeded(
            f"Data exceeds maximum limit of {max_records} records",
            details={"field": "data", "record_count": len(data), "max_records": max_records},
        )
    return data


def _check_record_shape(row: int, record: dict[str, Any]) -> None:
    if len(record) > MAX_FIELDS_PER_RECORD:
        raise LimitExceeded(
            f"Record {row} has {len(record)} fields: at most {MAX_FIELDS_PER_RECORD} per record",
            details={"row": row, "max_fields": MAX_FIELDS_PER_RECORD},
        )
    for name, value in record.items():
        if isinstance(value, (list, dict)) and _too_deep(value):
            raise InputError(
                f"Record {row} field '{name[:100]}' is nested more than {MAX_NESTING} levels deep",
                row=row,
                column=name[:100],
                details={"max_nesting": MAX_NESTING},
            )


def _too_deep(value: list[Any] | dict[str, Any]) -> bool:
    """True when `value` nests lists/objects more than MAX_NESTING levels (iterative: no
    recursion limit to hit, and it stops at the first level too deep)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (list, dict)))
    return False


def _column_map(body: dict[str, Any], catalog: Catalog, export_type: str) -> Any:
    """The optional `column_map` ({"source column": "field" or null}) as ExportOptions takes
    it; 400 for another shape, an unknown field or a field mapped twice."""
    value = body.get("column_map")
    if value is None:
        return ()
    if not isinstance(value, dict) or len(value) > MAX_FIELDS_PER_RECORD:
        raise ValidationError(
            f"'column_map' must be a JSON object of source column -> field name (or null to"
            f" ignore the column), not a JSON {_kind(value)}",
            details={"field": "column_map"},
        )
    for source, target in value.items():
        if target is not None and not isinstance(target, str):
            raise ValidationError(
                f"'column_map' value for '{source[:100]}' must be a field name or null,"
                f" not a JSON {_kind(target)}",
                details={"field": "column_map", "source": source[:100]},
            )
    fields = list(catalog.data_type(export_type).field_kinds)
    check_column_map(value, fields, export_type)
    return tuple((source, target or None) for source, target in value.items())


def parse_export_request(
    export_type: str,
    decoded: ExportBody,
    catalog: Catalog,
    max_records: int,
    templates: TemplateStore | None = None,
) -> ExportRequest:
    """Check every field of an export body (seed messages) and build the engine options and
    the records' frame. A "team:<name>" template is looked up in `templates`."""
    catalog.data_type(export_type)
    body = decoded.fields
    records = _records(body, max_records) if decoded.frame is None else []
    template = _typed(body, "template", str, "standard", nullable=True) or "standard"
    if not template.startswith(TEAM_PREFIX):
        catalog.template(export_type, template)
    fmt = _typed(body, "format", str, "excel", nullable=True) or "excel"
    if fmt not in FORMAT_ALIASES:
        raise UnknownFormat(
            f"Unknown format '{fmt}'. Use 'excel' or 'csv'",
            details={"field": "format", "allowed": sorted(FORMAT_ALIASES)},
        )
    chunking = _typed(body, "chunking", str, "auto", nullable=True) or "auto"
    if chunking not in CHUNKING:
        raise ValidationError(
            f"'chunking' must be 'auto' or 'off', not '{chunking}'",
            details={"field": "chunking", "allowed": list(CHUNKING)},
        )
    options = ExportOptions(
        export_type=export_type,
        template=template,
        format=FORMAT_ALIASES[fmt],
        filename=_name(body, "filename"),
        sheet_name=_name(body, "sheet_name"),
        chunking=chunking,
        csv_bom=bool(_typed(body, "csv_bom", bool, False, nullable=True)),
        column_map=_column_map(body, catalog, export_type),
    )
    options = resolve_options(options, catalog, templates)
    is_async = bool(_typed(body, "async", bool, False, nullable=True))
    frame = decoded.frame
    if frame is None:
        frame = readers.records_to_frame(records)
        # The decoded records (~100 MB of dicts at 50,000 rows) are not needed once the frame
        # exists: free them before the export runs, not after.
        records.clear()
    return ExportRequest(options=options, frame=frame, is_async=is_async)
