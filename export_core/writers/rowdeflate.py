"""A big sheet's rows deflated while they are written, on a second thread, through a small
bounded queue of fixed-size blocks.

xlsxwriter's constant_memory mode spills the rows to a text file, copies that file into the
sheet's XML file at close, and `zipfile` then reads and deflates the whole sheet XML: for a
1,000,000-row sheet 870 MB written twice, read twice and deflated only after the last row,
when the main thread has nothing left to do. `DeflatingRows` takes the row XML instead
(behind a text layer, so xlsxwriter's own writes land there too), cuts it into BLOCK_BYTES
blocks filled into SLOTS reused buffers (so no more than SLOTS blocks are ever in flight, and
no fresh multi-MB allocation is made per block), and one thread deflates them with a single
raw-deflate stream as they come, keeping their CRC-32 and length and appending the compressed
bytes to a spill file beside the output (~1/8 of the XML). The stream is ended by a sync flush
(byte-aligned, not final), so the sheet member can be assembled as deflate(XML before the
rows) + the rows as they are + deflate(XML after them): one valid raw deflate stream whose
uncompressed bytes are exactly the sheet XML xlsxwriter would have written (the rows' CRC
combined with the rest by `crc32_combine`). `deflate.XlsxZipFile` assembles it.

A failure on either side ends the export: the deflating thread's exception is raised in the
writing thread at its next block (or at `finish`), and `abort` (called on every error path)
stops the thread and removes the spill file."""

from __future__ import annotations

import contextlib
import io
import os
import queue
import tempfile
import threading
import zipfile
from dataclasses import dataclass

from zlib_ng import zlib_ng

BLOCK_BYTES = 1 << 20  # 1 MiB: per-call costs of deflate negligible, few MB in flight
# Buffers in all: one being filled, the rest queued or being deflated. The renderer is bursty
# (polars takes both cores for a block, then Python maps the next batch): with 4, the
# 1,000,000-row CLI export waited 1.4-2.8 s for a free buffer; with 8, 0.2-0.4 s.
SLOTS = 8
POLL_SECONDS = 0.2  # how often a waiting writer looks whether the deflating thread died


def zip_can_take_deflated() -> bool:
    """Whether this Python's zipfile keeps a member's CRC, size and compressor where
    `deflate.XlsxZipFile` sets them for rows deflated already (`_ZipWriteFile._crc`,
    `_file_size`, `_compressor`); where not, sheets keep xlsxwriter's spill file."""
    writer = getattr(zipfile, "_ZipWriteFile", None)
    init = getattr(writer, "__init__", None)
    names = getattr(getattr(init, "__code__", None), "co_names", ())
    return {"_crc", "_file_size", "_compressor", "_compress_size"} <= set(names)


class RowDeflateError(RuntimeError):
    """The rows could not be deflated (the cause is chained)."""


@dataclass(frozen=True)
class DeflatedRows:
    """The finished rows: a raw deflate stream ended by a sync flush, in the file `path`."""

    path: str
    crc: int  # CRC-32 of the uncompressed rows
    size: int  # uncompressed bytes
    compressed: int  # bytes in `path`


class DeflatingRows(io.RawIOBase):
    """A binary sink deflating what is written to it on a thread of its own (see the module)."""

    def __init__(
        self, directory: str | None, level: int, *, block_bytes: int = BLOCK_BYTES,
        slots: int = SLOTS,
    ) -> None:  # fmt: skip
        super().__init__()
        if slots < 2:
            raise ValueError("need at least two buffers (one filling, one deflating)")
        self.level = level
        self.block_bytes = block_bytes
        self._free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(slots - 1):
            self._free.put(bytearray(block_bytes))
        self._full: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        self._current = bytearray(block_bytes)
        self._fill = 0
        self._crc = 0
        self._size = 0
        self._compressed = 0
        self._error: BaseException | None = None
        self._result: DeflatedRows | None = None
        self._ended = False
        fd, self.path = tempfile.mkstemp(prefix="ybb-rows-", suffix=".deflate", dir=directory)
        self._out = os.fdopen(fd, "wb")
        self._thread = threading.Thread(target=self._run, name="ybb-rows-deflate", daemon=True)
        self._thread.start()

    # -- the writing side -------------------------------------------------------------------

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Take `data` (copied into the current block; full blocks go to the thread)."""
        if self._ended:
            raise ValueError("write to finished or aborted rows")
        with memoryview(data) as whole, whole.cast("B") as view:
            count, done = len(view), 0
            while done < count:
                take = min(self.block_bytes - self._fill, count - done)
                self._current[self._fill : self._fill + take] = view[done : done + take]
                self._fill += take
                done += take
                if self._fill == self.block_bytes:
                    self._hand_off()
        return count

    def _hand_off(self) -> None:
        self._raise_if_failed()
        self._full.put((self._current, self._fill))
        self._fill = 0
        while True:
            try:
                self._current = self._free.get(timeout=POLL_SECONDS)
                return
            except queue.Empty:
                self._raise_if_failed()
                if not self._thread.is_alive():
                    raise RowDeflateError("the row deflating thread ended early") from None

    def _raise_if_failed(self) -> None:
        error = self._error
        if error is None:
            return
        self.abort()
        if isinstance(error, OSError):  # e.g. a full disk: reported as the writer's own are
            raise error
        raise RowDeflateError(f"deflating the rows failed: {error!r}") from error

    def finish(self) -> DeflatedRows:
        """Deflate what is left, end the stream with a sync flush and wait for the thread;
        the spill file then belongs to the caller (or to `abort`)."""
        if self._result is not None:
            return self._result
        if self._ended:
            raise ValueError("rows already aborted")
        if self._fill:
            self._full.put((self._current, self._fill))
            self._fill = 0
        self._ended = True
        self._full.put(None)
        self._thread.join()
        self._raise_if_failed()
        self._result = DeflatedRows(self.path, self._crc, self._size, self._compressed)
        return self._result

    def abort(self) -> None:
        """Stop the thread (whatever state it is in) and remove the spill file."""
        self._ended = True
        self._result = None
        if self._thread.is_alive():
            self._full.put(None)
            self._thread.join()
        with contextlib.suppress(OSError):
            self._out.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def close(self) -> None:
        """Closing a sink that was not finished aborts it (an error path); a finished one
        keeps its spill file for the ZIP writer."""
        if not self.closed and self._result is None:
            self.abort()
        super().close()

    # -- the deflating thread ---------------------------------------------------------------

    def _run(self) -> None:
        ended = False  # the writer's end mark was taken
        try:
            compressor = zlib_ng.compressobj(self.level, zlib_ng.DEFLATED, -15)
            while (item := self._full.get()) is not None:
                buffer, length = item
                with memoryview(buffer) as whole, whole[:length] as block:
                    self._crc = zlib_ng.crc32(block, self._crc)
                    out = compressor.compress(block)
                self._size += length
                self._free.put(buffer)
                self._emit(out)
            ended = True
            self._emit(compressor.flush(zlib_ng.Z_SYNC_FLUSH))
            self._out.close()
        except BaseException as exc:  # handed to the writing thread
            self._error = exc
            if not ended:
                self._drain()

    def _emit(self, out: bytes) -> None:
        if out:
            self._out.write(out)
            self._compressed += len(out)

    def _drain(self) -> None:
        """After a failure: keep handing buffers back until the writer stops."""
        while (item := self._full.get()) is not None:
            self._free.put(item[0])


# Sheet XML files (by the name xlsxwriter gives them) whose rows were left out for the ZIP
# writer to insert, deflated: filled at close() by rowstream, taken by deflate.XlsxZipFile.
_pending: dict[str, tuple[int, DeflatedRows]] = {}
_pending_lock = threading.Lock()


def leave_for_zip(xml_path: str, offset: int, rows: DeflatedRows) -> None:
    """Record that the sheet XML file `xml_path` lacks `rows` at byte `offset`."""
    with _pending_lock:
        _pending[os.path.abspath(xml_path)] = (offset, rows)


def take_for_zip(xml_path: str) -> tuple[int, DeflatedRows] | None:
    """The rows left out of `xml_path` and where (forgotten here once taken), or None."""
    with _pending_lock:
        return _pending.pop(os.path.abspath(xml_path), None)


def forget(rows: DeflatedRows) -> None:
    """Drop `rows` from the pending ones and remove its spill file (an error path)."""
    with _pending_lock:
        for key in [k for k, (_, r) in _pending.items() if r is rows]:
            del _pending[key]
    with contextlib.suppress(OSError):
        os.unlink(rows.path)


def assemble(head: bytes, rows: DeflatedRows, tail: bytes) -> tuple[int, int]:
    """CRC-32 and uncompressed size of head + rows + tail (for the ZIP entry)."""
    crc = zlib_ng.crc32(head)
    crc = zlib_ng.crc32_combine(crc, rows.crc, rows.size)
    crc = zlib_ng.crc32(tail, crc)
    return crc, len(head) + rows.size + len(tail)


def deflate_part(data: bytes, level: int, final: bool) -> bytes:
    """`data` as a piece of a raw deflate stream: sync-flushed (more follows) or finished."""
    compressor = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15)
    mode = zlib_ng.Z_FINISH if final else zlib_ng.Z_SYNC_FLUSH
    return compressor.compress(data) + compressor.flush(mode)
