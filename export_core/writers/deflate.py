"""Deflate for the members of an xlsx package: level 4, whole members by libdeflate, big
members by zlib-ng in parallel.

xlsxwriter packages a workbook with `zipfile`, whose deflate is the system zlib on one thread:
for a 1,000,000-row sheet (870 MB of XML) that was ~13 s of the CLI export. Two changes, both
leaving the decompressed members exactly as they were:

* **zlib-ng** (the `zlib-ng` wheel) deflates the same XML at the same level 6 ~1.5x faster and
  a little smaller (sheet XML: 7.50 vs 7.54 MB for 60 MB; the bytes differ, the content not);
  at level 4 (the default since issue 17, `LEVEL`) another 1.5-2x faster, 1-3% bigger.
* **Blocks in parallel** (as pigz does): a member bigger than one block is cut into BLOCK_BYTES
  pieces, each deflated by a thread of a small pool (deflate releases the GIL) with the
  previous piece's last 32 KiB as its dictionary, ended by a sync flush (an empty stored block
  that byte-aligns the output) and the last one by a finish. The pieces concatenated are one
  valid raw deflate stream; ZipFile computes the CRC over the uncompressed data as always.
  The dictionary keeps matches across the cuts, so the size stays within ~0.1% of one stream.
  Members up to one block (every sheet of the API's batch files but the biggest) are deflated
  whole in the calling thread, by libdeflate (below).

* **libdeflate** (the `deflate` wheel) for a member held whole in memory (`deflate_whole`:
  the small packages' members, writers.xlsxpack, a package's members up to one block, and the
  ZIP's csv members, export_core.archive):
  at level 4 on the templates' sheet XML it takes ~17% less CPU than zlib-ng's level 4 for
  files within -0.6% to +1.4% of its size (issue 17, eleventh round). It has no streaming
  interface, so every member that is fed in pieces stays with zlib-ng.

A sheet whose rows were deflated while they were written (the CLI's big sheets, see
writers.rowdeflate) is stored by `XlsxZipFile.write` as deflate(XML before the rows) + the
rows' stream + deflate(XML after them), its CRC and size those of the whole XML.

`Workbook` is xlsxwriter's, packaging through `XlsxZipFile`. Its `_store_workbook` is
xlsxwriter's own function with `ZipFile` bound to `XlsxZipFile` (nothing global is changed:
other xlsxwriter workbooks, and every other zipfile user, are as they were)."""

from __future__ import annotations

import os
import types
import zipfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import deflate as libdeflate
import xlsxwriter
import xlsxwriter.workbook
from zlib_ng import zlib_ng

from ..pools import ForkSafePool
from ..settings import xlsx_deflate_level
from . import rowdeflate
from .rowstream import ByteCopyWorksheet

# Level 4 by default (issue 17; settings.xlsx_deflate_level): on every template's sheet XML it
# deflates 1.5-2x faster than level 6 (zlib's default, what xlsxwriter asks for) for files 1-3%
# bigger. YBB_XLSX_DEFLATE_LEVEL=6 gives the old sizes.
LEVEL = xlsx_deflate_level()  # read once per process, as every setting is at start-up
WINDOW = 32 * 1024  # deflate's window: the dictionary each block gets from the one before
# 2 MiB pieces: per-piece costs (a compressor, a dictionary) stay under 1% of the work while a
# 4-5 MB batch sheet still splits in two.
BLOCK_BYTES = 2 * 1024 * 1024
THREADS = max(1, min(2, os.cpu_count() or 1))
# Pieces in flight per member beyond the running ones: bounds the memory (input and output of
# a few pieces) however big the member.
MAX_PENDING = THREADS + 1
COPY_BYTES = 1 << 20  # deflated rows copied into the package this much at a time

_POOL = ForkSafePool(THREADS, "ybb-deflate")


def _executor() -> ThreadPoolExecutor:
    """The process's pool (see export_core.pools)."""
    return _POOL.executor()


def deflate_whole(data: bytes | memoryview, level: int | None = None) -> bytes:
    """`data` as one raw deflate stream by libdeflate, at `level` (None: LEVEL); the GIL is
    released meanwhile."""
    return bytes(libdeflate.deflate_compress(data, LEVEL if level is None else level))


def _deflate_piece(data: bytes, level: int, zdict: bytes, final: bool) -> bytes:
    """One piece of a raw deflate stream, primed with the data before it (`zdict`)."""
    if zdict:
        compressor = zlib_ng.compressobj(
            level, zlib_ng.DEFLATED, -15, 8, zlib_ng.Z_DEFAULT_STRATEGY, zdict
        )
    else:
        compressor = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15)
    mode = zlib_ng.Z_FINISH if final else zlib_ng.Z_SYNC_FLUSH
    return compressor.compress(data) + compressor.flush(mode)


class ParallelDeflater:
    """A raw-deflate compressor with zlib's `compress`/`flush` interface (what ZipFile calls),
    deflating pieces of BLOCK_BYTES in the pool, results returned in order."""

    def __init__(self, level: int | None = None, block_bytes: int = BLOCK_BYTES) -> None:
        self.level = LEVEL if level is None else level
        self.block_bytes = block_bytes
        self._buffer = bytearray()
        self._tail = b""  # the last WINDOW bytes handed to the pool
        self._pending: deque[Future[bytes]] = deque()
        self._started = False

    def compress(self, data: bytes | memoryview) -> bytes:
        """Take `data`; return whatever compressed output is ready, in stream order."""
        self._buffer += data
        out: list[bytes] = []
        while len(self._buffer) > self.block_bytes:  # ">": the last piece is never empty
            with memoryview(self._buffer) as view:  # one copy of the piece, not two
                piece = bytes(view[: self.block_bytes])
            del self._buffer[: self.block_bytes]
            self._submit(piece, final=False)
            while len(self._pending) > MAX_PENDING:
                out.append(self._pending.popleft().result())
        while self._pending and self._pending[0].done():
            out.append(self._pending.popleft().result())
        return b"".join(out)

    def flush(self, mode: int = zlib_ng.Z_FINISH) -> bytes:
        """The rest of the stream, finished (ZipFile only ever flushes at the end)."""
        if mode != zlib_ng.Z_FINISH:
            raise ValueError("ParallelDeflater only finishes its stream")
        last = bytes(self._buffer)
        self._buffer.clear()
        if not self._started:  # one block or less: deflated whole, in this thread
            return deflate_whole(last, self.level)
        self._submit(last, final=True)
        out = [future.result() for future in self._pending]
        self._pending.clear()
        return b"".join(out)

    def _submit(self, piece: bytes, final: bool) -> None:
        self._started = True
        future = _executor().submit(_deflate_piece, piece, self.level, self._tail, final)
        self._pending.append(future)
        self._tail = piece[-WINDOW:]


class _AlreadyDeflated:
    """A ZipFile member's "compressor" for bytes that are deflated already."""

    def compress(self, data: bytes) -> bytes:
        return data

    def flush(self, mode: int = zlib_ng.Z_FINISH) -> bytes:
        return b""


class XlsxZipFile(zipfile.ZipFile):
    """A ZipFile whose deflated members go through ParallelDeflater (stored ones as before),
    and whose sheets with rows deflated while written (rowdeflate) are assembled around them."""

    def write(
        self, filename: Any, arcname: Any = None, compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:  # fmt: skip
        left_out = rowdeflate.take_for_zip(str(filename))
        if left_out is None:
            super().write(filename, arcname, compress_type, compresslevel)
            return
        offset, rows = left_out
        try:
            self._write_with_rows(filename, arcname, offset, rows)
        finally:
            rowdeflate.forget(rows)

    def _write_with_rows(
        self, filename: Any, arcname: Any, offset: int, rows: rowdeflate.DeflatedRows
    ) -> None:
        """What ZipFile.write stores for the sheet XML with `rows` inserted at `offset`: the
        same entry (name, time, attributes, ZIP64 decision by the whole size), its data one raw
        deflate stream: the XML before the rows, the rows as deflated, the XML after them."""
        if self.compression != zipfile.ZIP_DEFLATED:
            raise RuntimeError("rows deflated while written need a deflated package")
        strict: bool = getattr(self, "_strict_timestamps", True)
        zinfo = zipfile.ZipInfo.from_file(filename, arcname, strict_timestamps=strict)
        zinfo.compress_type = zipfile.ZIP_DEFLATED
        with open(filename, "rb") as src:
            head = src.read(offset)
            tail = src.read()
        crc, size = rowdeflate.assemble(head, rows, tail)
        zinfo.file_size = size  # as ZipFile.write has it from the file: decides ZIP64 alike
        level = LEVEL if self.compresslevel is None else self.compresslevel
        with self.open(zinfo, "w") as dest:
            raw: Any = dest
            raw._compressor = _AlreadyDeflated()
            raw.write(rowdeflate.deflate_part(head, level, final=False))
            with open(rows.path, "rb") as deflated:
                while chunk := deflated.read(COPY_BYTES):
                    raw.write(chunk)
            raw.write(rowdeflate.deflate_part(tail, level, final=True))
            # write() counted and summed the deflated bytes; the entry needs the XML's.
            raw._crc, raw._file_size = crc, size

    def _open_to_write(self, zinfo: zipfile.ZipInfo, force_zip64: bool = False) -> Any:
        dest = super()._open_to_write(zinfo, force_zip64)  # type: ignore[misc]
        if zinfo.compress_type == zipfile.ZIP_DEFLATED:
            level = getattr(zinfo, "_compresslevel", None)  # the name in Python 3.11-3.12
            level = getattr(zinfo, "compress_level", level)  # and from 3.13 on
            dest._compressor = ParallelDeflater(level)  # None (xlsxwriter's): LEVEL
        return dest


def _store_workbook_through(zip_class: type[zipfile.ZipFile]) -> Any:
    """xlsxwriter's `Workbook._store_workbook` with its global `ZipFile` bound to
    `zip_class`; RuntimeError when an upgrade no longer packages through that name."""
    original = xlsxwriter.workbook.Workbook._store_workbook
    if "ZipFile" not in original.__code__.co_names:
        raise RuntimeError(
            f"xlsxwriter {xlsxwriter.__version__} no longer packages through ZipFile; "
            "pin xlsxwriter to the range in requirements.txt"
        )
    scope = {**original.__globals__, "ZipFile": zip_class}
    function = types.FunctionType(
        original.__code__, scope, original.__name__, original.__defaults__, original.__closure__
    )
    function.__kwdefaults__ = original.__kwdefaults__
    return function


class Workbook(xlsxwriter.Workbook):  # type: ignore[misc]
    """xlsxwriter's Workbook, its package deflated by zlib-ng, big members in parallel, its
    constant_memory rows copied into the sheet XML as bytes (rowstream.ByteCopyWorksheet)."""

    _store_workbook = _store_workbook_through(XlsxZipFile)
    worksheet_class = ByteCopyWorksheet
