"""A slice of JSON records decoded straight into rows of known fields, without a dict per record.

export_core.jsonslices decodes the first slice of a record list into dicts (orjson) and learns
the field names. Every later slice whose records use only those names is decoded here: first by
the native decoder (export_core/_jsoncols.c, built by `make`: the slice's bytes straight into
Arrow string-view columns that polars imports through the PyCapsule interface, no Python object per
value; ~29 ms instead of ~150 ms of CPU for the 50,000-row body; it declines anything unusual,
see the C file's comment, and its frame equals the one below: tests/unit/test_jsoncols_native),
then, for what it declines or when it was not built, by
msgspec into structs of exactly those fields (`forbid_unknown_fields`), turned into tuples in
C and into an all-String frame by polars: ~0.24 s instead of ~0.30 s of CPU for a 50,000-row
body (benchmarks.bench_body_decode), the dicts' allocation being what is saved.

The frame equals what the dict path (readers.plain_frame) makes of the same records, because
the values reaching polars are the same Python objects:
* msgspec and orjson are both strict JSON parsers (a cut that is not one parses in neither),
  both keep the last of repeated keys, and an absent field and null both become null;
* the struct's field type admits scalars only, so a nested value is a msgspec error;
* integers beyond 64 bits are the one value they read differently (orjson: a float), so the
  struct's integers are int64 (a bound msgspec checks while it decodes: another integer is a
  validation error, and the slice is left to the dict path). This replaced a scan of each
  slice for 19 digits in a row (17 ms of the 50,000-row body's ~0.19 s of CPU, issue 17);
  floats need no such guard: both parsers round every decimal to the nearest double (300,000
  random numbers of 1-40 + 1-40 digits and exponents up to +-330, none read differently);
* an empty record (which the callers refuse) is "{" blanks "}" outside a string: with no
  nested values, every "{" outside a string opens a record, so a slice where that text occurs
  anywhere is left to the dict path too.
Whenever this decoder declines (None), the slice takes the dict path, which either extends the
field names or refuses the document exactly as before."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
import polars as pl
from msgspec.structs import astuple

from .jsondoc import Bytes

try:  # built by `make` (Makefile: export_core/_jsoncols.c); without it, msgspec decodes alone
    from . import _jsoncols
except ImportError:  # pragma: no cover - a checkout where the extension was not built
    _jsoncols = None  # type: ignore[assignment]

# Excel's column count; a record list with more field names takes the dict path, whose caller
# checks the number of fields per record.
MAX_FIELDS = 16_384
_EMPTY_RECORD = re.compile(rb"\{[ \t\r\n]*\}")
# orjson reads integers up to 2**64 - 1 as ints and beyond as floats; msgspec always as ints.
# int64 is the widest bound msgspec checks: integers above it (a few of which orjson would
# still read as ints) are left to the dict path too, which gives them the same frame.
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_Scalar = str | _Int64 | float | bool | None


class ColumnDecoder:
    """Decodes record slices whose field names are all among `keys` (in this order)."""

    def __init__(self, keys: list[str]) -> None:
        # Struct attributes are named f0, f1, ... and renamed to the record keys: a key may be
        # any text ("__init__", "a.b"), which is no attribute name.
        names = [f"f{index}" for index in range(len(keys))]
        self.keys = list(keys)
        self._schema = dict.fromkeys(keys, pl.String)
        self._decoder: msgspec.json.Decoder[Any] | None = None
        try:
            row = msgspec.defstruct(
                "Record",
                [(name, _Scalar, None) for name in names],
                forbid_unknown_fields=True,
                rename=dict(zip(names, keys, strict=True)),
            )
        except (TypeError, ValueError):  # msgspec refuses keys with a '"' or '\\' in them
            return
        self._decoder = msgspec.json.Decoder(list[row])  # type: ignore[valid-type]

    def decode_native(self, raw: Bytes, begin: int, stop: int) -> pl.DataFrame | None:
        """decode()'s frame by export_core/_jsoncols.c, or None (see native_frame): tried
        first, decode() then judges what it declines."""
        return native_frame(raw, begin, stop, self.keys)

    def decode(self, raw: Bytes, begin: int, stop: int) -> pl.DataFrame | None:
        """raw[begin:stop], the items of a record list, as an all-String frame with a column
        per key; None when this decoder does not apply (see the module's docstring)."""
        if self._decoder is None:
            return None
        document = b"".join((b"[", memoryview(raw)[begin:stop], b"]"))
        if _EMPTY_RECORD.search(document):
            return None
        try:
            rows = self._decoder.decode(document)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if not rows:
            return None
        try:
            return pl.DataFrame(
                list(map(astuple, rows)), schema=self._schema, orient="row", strict=False
            )
        except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
            return None


class _ArrowColumns:
    """The native decoder's struct array, as polars imports it (the Arrow PyCapsule interface)."""

    def __init__(self, capsules: tuple[object, object]) -> None:
        self._capsules = capsules

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]:
        return self._capsules


def native_frame(raw: Bytes, begin: int, stop: int, keys: list[str]) -> pl.DataFrame | None:
    """raw[begin:stop] decoded by export_core/_jsoncols.c into the frame ColumnDecoder gives,
    or None (not built, or the slice is not for it: see the C file's comment)."""
    if _jsoncols is None:
        return None
    capsules = _jsoncols.decode(raw, begin, stop, keys)
    if capsules is None:
        return None
    try:
        return pl.DataFrame(_ArrowColumns(capsules))
    except (pl.exceptions.PolarsError, TypeError, ValueError):  # pragma: no cover - not seen
        return None


def column_decoder(keys: dict[str, None], current: ColumnDecoder | None) -> ColumnDecoder | None:
    """A decoder for the field names seen so far (`current` when they have not changed)."""
    if not keys or len(keys) > MAX_FIELDS:
        return None
    if current is not None and len(current.keys) == len(keys):
        return current  # keys only grow, so the same length means the same names
    return ColumnDecoder(list(keys))
