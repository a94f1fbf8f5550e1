"""A big request body spooled to a temporary file and read through a memory map, so that the
worker never holds it whole on its heap (as nginx keeps a big client body in a temp file).

A 50,000-row export's body is ~21 MB. Read into a buffer, it sat in the worker's memory while
the slice decoder (export_core.jsonslices) turned it into columns, ~20 MB more: the highest
point of the request (~171 MB worker RSS, docs/PERFORMANCE.md, twelfth round). Spooled, its
bytes live in the kernel's page cache (reclaimable: written out under memory pressure, never
written at all when the file goes first, as it does here). The worker maps the file; the pages
it reads count in its RSS only while mapped, and `release_behind` unmaps those the decoder has
gone past (MADV_DONTNEED on a shared file mapping drops the worker's mapping only: the bytes
stay readable, a later read maps them again from the page cache, so a decoder that has to go
back, or the whole-document fallback, reads the same bytes)."""

from __future__ import annotations

import logging
import mmap
import os
import tempfile
from collections.abc import Callable, Iterable

#: Bodies at least this big are spooled (smaller ones are not worth a file).
SPOOL_MIN_BYTES = 1 << 20
log = logging.getLogger("ybb.spool")


def spool(blocks: Iterable[bytes], directory: str | None = None) -> mmap.mmap | bytes:
    """The concatenation of `blocks`, written to an unnamed temporary file in `directory`
    (the temp dir when None) and mapped read-only; b"" for no bytes. The file has no name
    and its descriptor is closed before returning: it goes away with the map. Where no file
    can be made or written (no such directory, a full disk), the bytes are gathered in memory
    instead, those already written read back: nothing is lost. An error raised by `blocks`
    (a body over its limit) propagates, the file gone."""
    blocks = iter(blocks)
    try:
        file = tempfile.TemporaryFile(prefix="ybb-body-", dir=directory)  # noqa: SIM115 (with below)
    except OSError as exc:
        _not_spooled(exc, directory)
        return b"".join(blocks)
    with file:
        fd, size = file.fileno(), 0
        for block in blocks:
            view = memoryview(block)
            try:
                while view:
                    written = os.write(fd, view)
                    view, size = view[written:], size + written
            except OSError as exc:
                _not_spooled(exc, directory)
                return b"".join((os.pread(fd, size, 0), view, *blocks))
        if size == 0:
            return b""
        return mmap.mmap(fd, size, access=mmap.ACCESS_READ)


def _not_spooled(exc: OSError, directory: str | None) -> None:
    """Say so (once per body) when a body could not be spooled: the request still works, but
    a full or unwritable TMPDIR is the operator's to fix."""
    where = directory or tempfile.gettempdir()
    log.warning(
        "request body read into memory: could not spool it to %s (%s)",
        where,
        exc.strerror or exc,
        extra={"fields": {"event": "body_not_spooled", "directory": where}},
    )


def release_behind(raw: object) -> Callable[[int], None] | None:
    """For a mapped body, a function `release(offset)` that drops the worker's mapping of the
    whole pages before `offset` (once per page); None for a body held in memory."""
    if not isinstance(raw, mmap.mmap):
        return None
    released = 0

    def release(offset: int) -> None:
        nonlocal released
        upto = min(offset, len(raw)) // mmap.PAGESIZE * mmap.PAGESIZE
        if upto > released:
            raw.madvise(mmap.MADV_DONTNEED, released, upto - released)
            released = upto

    return release
