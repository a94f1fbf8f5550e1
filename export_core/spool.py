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

import contextlib
import logging
import mmap
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from .jsondoc import NotFast

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


class ArrivingBody:
    """A body of a known size spooled by a thread of its own while the caller already decodes
    what has arrived (jsonslices.decode_records' `arrival`), instead of after the last byte:
    the decode then overlaps the transfer (docs/PERFORMANCE.md, sixteenth round).

    `map` is a read-only map of the whole declared size over the spool file, which the thread
    fills from the start; bytes past `available()` are not there yet (they read as zeros) and
    must not be looked at: `wait(upto)` blocks until the first `upto` bytes have arrived.
    Where the body will not be the declared bytes in the map (the client sent fewer, the
    blocks raised, the file could not be written), `wait` raises NotFast and `finish` gives
    what there is, as `spool` would have, or raises the blocks' error. `finish` (or `close`)
    must be called: the thread reads from the client's connection until it is done, and the
    request must not be answered before that."""

    def __init__(
        self, blocks: Iterator[bytes], size: int, file: IO[bytes], directory: str | None
    ) -> None:
        self.size = size
        self._file, self._directory = file, directory
        self.map: mmap.mmap | None = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ)
        self._filled = 0
        self._done = False
        self._error: BaseException | None = None
        self._in_memory: bytes | None = None  # the body, when the file could not hold it
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=self._spool, args=(blocks,), name="ybb-body-reader", daemon=True
        )
        self._thread.start()

    def available(self) -> int:
        """How many bytes from the start have arrived (more may have by the time it returns)."""
        return self._filled

    def wait(self, upto: int) -> int:
        """Blocks until the first min(upto, size) bytes have arrived; returns how many have.
        NotFast if they never will: see the class's docstring."""
        upto = min(upto, self.size)
        with self._changed:
            while self._filled < upto and not self._done:
                self._changed.wait()
            if self._filled < upto or self._error is not None or self._in_memory is not None:
                raise NotFast
            return self._filled

    def finish(self) -> mmap.mmap | bytes:
        """The whole body once it has arrived: the map, or the bytes there are (fewer than
        declared, or held in memory when the file could not take them); raises what reading
        the blocks raised."""
        self._thread.join()
        with contextlib.closing(self._file):
            if self._error is not None:
                self.map = None
                raise self._error
            if self._in_memory is not None:
                self.map = None
                return self._in_memory
            if self._filled < self.size:  # the client sent less than it declared
                assert self.map is not None
                short, self.map = self.map[: self._filled], None
                return short
            whole, self.map = self.map, None
            assert whole is not None
            return whole

    def close(self) -> None:
        """Waits for the thread (what is left of the body is read) and lets the map go."""
        self._thread.join()
        self._file.close()
        self.map = None

    def _spool(self, blocks: Iterator[bytes]) -> None:
        try:
            for block in blocks:
                view = memoryview(block)
                while view:
                    try:
                        written = os.pwrite(self._file.fileno(), view, self._filled)
                    except OSError as exc:  # the file: the rest goes to memory, nothing is lost
                        _not_spooled(exc, self._directory)
                        held = os.pread(self._file.fileno(), self._filled, 0)
                        self._end(in_memory=b"".join((held, view, *blocks)))
                        return
                    view = view[written:]
                    with self._changed:
                        self._filled += written
                        self._changed.notify_all()
        except BaseException as error:  # handed to the request's thread
            self._end(error=error)
            return
        self._end()

    def _end(self, *, error: BaseException | None = None, in_memory: bytes | None = None) -> None:
        with self._changed:
            self._error, self._in_memory, self._done = error, in_memory, True
            self._changed.notify_all()


def arriving(
    blocks: Iterable[bytes], size: int, directory: str | None = None
) -> ArrivingBody | None:
    """`blocks` (a body of `size` bytes, as declared) spooled by a thread while the caller
    reads what has arrived (ArrivingBody); None where no spool file of that size can be made
    (the caller then reads the body with `spool`, which gathers it in memory), `blocks`
    untouched."""
    if size <= 0:
        return None
    try:
        file = tempfile.TemporaryFile(prefix="ybb-body-", dir=directory)  # noqa: SIM115 (closed by finish/close)
    except OSError:
        return None
    try:
        os.ftruncate(file.fileno(), size)  # a file of that size, its blocks not yet written
        # The thread starts last: if anything before it fails, `blocks` is untouched.
        return ArrivingBody(iter(blocks), size, file, directory)
    except (OSError, RuntimeError):  # over RLIMIT_FSIZE, no map, no thread: `spool` then
        file.close()  # writes what it can and keeps the rest in memory
        return None
    except BaseException:
        file.close()
        raise
