"""Stub of the C extension export_core/_jsoncols.c (built by `make`)."""

import mmap

def decode(
    raw: bytes | bytearray | memoryview | mmap.mmap, begin: int, stop: int, keys: list[str], /
) -> tuple[object, object] | None:
    """raw[begin:stop], the items of a JSON record list, as (arrow_schema, arrow_array)
    capsules of a struct array of string-view ("vu") columns named `keys`; None when the slice
    is not for it."""
