"""ZIP of a multi-file export: xlsx members stored (already deflated), csv members deflated.

`ZipBuilder` builds the ZIP in a background thread while the caller goes on writing the next
files. A member can be handed over with its bytes (already in memory, so the file is not read
back), with its bytes already deflated by the thread that rendered them (`deflate_member`: the
batch-writer threads then share the deflate, which releases the GIL, instead of one ZIP thread
doing all of it), or as a path only (read from disk, as `build_zip` does). Either way the
member is identical: the same name, method, level, timestamp and attributes (taken from the
file, as ZipFile.write takes them) and the same deflate stream: a member of up to WHOLE_BYTES
deflated whole by ISA-L at DEFLATE_LEVEL (one read from disk is read whole first), a bigger
one by zlib-ng at STREAM_LEVEL, whose output does not depend on how the input is fed to it."""

from __future__ import annotations

import queue
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isal import isal_zlib
from zlib_ng import zlib_ng

from .model import WrittenArchive

# An xlsx file is itself a deflated ZIP: deflating it again costs ~18x the time of storing it
# and saves under 1% (notes/performance.md). CSV is plain text and shrinks to about a third.
STORED_SUFFIXES = frozenset({".xlsx", ".zip"})
# Measured on 25 csv batches of 2,000 participants (complete, 12.3 MB): level 1 took 0.20 s
# for 26.9% of the size, level 6 0.75 s for 20.2%, level 9 0.89 s for 20.1%: a fast level, as
# the 50,000-row CSV export's whole budget is a fraction of a second. Since issue 17 the
# deflate is zlib-ng's (as the xlsx packages', writers/deflate.py) at level 2. On the 50 csv
# batches of 50,000 complete participants (12.3 MB): the stdlib zlib at level 1 took 70 ms for
# 3.33 MB; zlib-ng at level 1 33 ms but 4.07 MB (+22%: its level 1 is a different, quicker
# algorithm), at level 2 54 ms for 3.13 MB (-6%), at level 3 69 ms for 2.82 MB. Since the
# eleventh round a member held whole is deflated by libdeflate at level 1 (writers.deflate):
# on 5,000 complete rows of CSV 4.5 ms for 292 KB where zlib-ng's level 2 took 6.8 ms for
# 308 KB. Since the sixteenth round it is ISA-L's level 2 (the `isal` wheel, GIL released):
# on the 50 batches 20 ms for 3.12 MB where libdeflate's level 1 took 37 ms for 2.96 MB
# (+5.3%; +3-4% on the other templates; still 6% under the stdlib's level 1 of the first
# round). Members over WHOLE_BYTES (a batch of 5,000 complete rows is ~1.2 MB) are streamed
# through zlib-ng, whose stream does not depend on how its input is fed (ISA-L's may).
DEFLATE_LEVEL = 2
STREAM_LEVEL = 2
WHOLE_BYTES = 4 << 20
# Members waiting for the ZIP thread. It bounds the memory of members handed over as bytes
# (a 1,000-row complete CSV is ~240 KB, a 5,000-row one ~1.2 MB) while letting the writer run
# a few files ahead of the deflate.
QUEUE_DEPTH = 4


def compress_type_for(member: Path) -> int:
    """ZIP_STORED for already-compressed members, ZIP_DEFLATED for the rest."""
    return zipfile.ZIP_STORED if member.suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED


def _compressor() -> Any:
    """The streaming compressor of members over WHOLE_BYTES."""
    return zlib_ng.compressobj(STREAM_LEVEL, zlib_ng.DEFLATED, -15)


@dataclass(frozen=True)
class DeflatedMember:
    """A member's bytes and their raw deflate stream (the ZIP needs both: the CRC and size
    are of the bytes)."""

    data: bytes | memoryview
    stream: bytes


MemberData = bytes | memoryview | DeflatedMember | None


def deflate_member(member: Path, data: bytes | memoryview) -> bytes | memoryview | DeflatedMember:
    """`data`, the bytes of `member`, deflated now in the calling thread if the ZIP deflates
    such a member (`data` itself otherwise): what `ZipBuilder.add` takes."""
    if compress_type_for(member) != zipfile.ZIP_DEFLATED:
        return data
    if len(data) <= WHOLE_BYTES:
        return DeflatedMember(data, _deflate_whole(data))
    compressor = _compressor()
    return DeflatedMember(data, compressor.compress(data) + compressor.flush())


def _deflate_whole(data: bytes | memoryview) -> bytes:
    """A csv member held whole as one raw deflate stream, by ISA-L at DEFLATE_LEVEL (not
    writers.deflate.deflate_whole: libdeflate, for xlsx members)."""
    return isal_zlib.compress(data, DEFLATE_LEVEL, -15)


class _Deflated:
    """zlib's compressor interface over a stream deflated beforehand."""

    def __init__(self, stream: bytes) -> None:
        self._stream = stream

    def compress(self, data: bytes) -> bytes:
        return b""

    def flush(self, mode: int = zlib_ng.Z_FINISH) -> bytes:
        stream, self._stream = self._stream, b""
        return stream


class ArchiveZipFile(zipfile.ZipFile):
    """A ZipFile deflating with zlib-ng at STREAM_LEVEL; `write_deflated` adds a member
    whose stream was deflated beforehand."""

    _ready: bytes | None = None

    def _open_to_write(self, zinfo: zipfile.ZipInfo, force_zip64: bool = False) -> Any:
        dest = super()._open_to_write(zinfo, force_zip64)  # type: ignore[misc]
        if zinfo.compress_type == zipfile.ZIP_DEFLATED:
            ready, self._ready = self._ready, None
            dest._compressor = _compressor() if ready is None else _Deflated(ready)
        return dest

    def write_deflated(self, info: zipfile.ZipInfo, member: DeflatedMember) -> None:
        """What writestr(info, member.data, ZIP_DEFLATED) writes, without deflating again."""
        self._ready = member.stream
        try:
            self.writestr(info, member.data, zipfile.ZIP_DEFLATED, DEFLATE_LEVEL)
        finally:
            self._ready = None


def _write_member(archive: ArchiveZipFile, member: Path, data: MemberData) -> int:
    """Add `member` under its base name (from `data` if given, else read from disk); returns
    its uncompressed size."""
    kind = compress_type_for(member)
    level = DEFLATE_LEVEL if kind == zipfile.ZIP_DEFLATED else None
    if data is None and kind == zipfile.ZIP_DEFLATED and member.stat().st_size <= WHOLE_BYTES:
        data = member.read_bytes()  # deflated whole, as if it had been handed over
    if data is None:
        archive.write(member, arcname=member.name, compress_type=kind, compresslevel=level)
        return member.stat().st_size
    if kind == zipfile.ZIP_DEFLATED and not isinstance(data, DeflatedMember):
        data = deflate_member(member, data)
    # What ZipFile.write does, minus reading the file back: timestamp and mode from the file.
    info = zipfile.ZipInfo.from_file(member, member.name)
    if isinstance(data, DeflatedMember):
        archive.write_deflated(info, data)
        return len(data.data)
    archive.writestr(info, data, compress_type=kind, compresslevel=level)
    return len(data)


def _archive_of(target: Path, uncompressed: int) -> WrittenArchive:
    return WrittenArchive(
        zip_file_name=target.name,
        zip_file_size=target.stat().st_size,
        uncompressed_size=uncompressed,
    )


def _check_distinct(names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise ValueError(f"ZIP members must have distinct names, got {names}")


def build_zip(members: list[Path], target: Path) -> WrittenArchive:
    """Write `members` (by base name) into the ZIP `target`; sizes measured, not guessed."""
    _check_distinct([m.name for m in members])
    uncompressed = 0
    with ArchiveZipFile(target, "w", allowZip64=True) as archive:
        for member in members:
            uncompressed += _write_member(archive, member, None)
    return _archive_of(target, uncompressed)


class ZipBuilder:
    """Builds the ZIP `target` in a background thread from members added one by one.

    `add` each member once its file is complete (with its bytes if they are at hand), then
    `finish` for the WrittenArchive; on any failure call `abort` (the caller removes `target`).
    An error in the thread (e.g. a full disk) is raised again by the next `add` or by
    `finish`."""

    _DONE = (Path(), None)  # the end-of-members marker

    def __init__(self, target: Path) -> None:
        self.target = target
        self._names: list[str] = []
        self._queue: queue.Queue[tuple[Path, MemberData]] = queue.Queue(QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._abort = threading.Event()
        self._uncompressed = 0
        self._thread = threading.Thread(target=self._run, name="zip-builder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        item: tuple[Path, MemberData] | None = None
        try:
            with ArchiveZipFile(self.target, "w", allowZip64=True) as archive:
                while (item := self._queue.get()) is not self._DONE:
                    if not self._abort.is_set():
                        self._uncompressed += _write_member(archive, *item)
        except BaseException as exc:  # handed to the caller's thread, which raises it
            self._error = exc
            # Keep taking items so that a caller blocked in `add` never waits forever.
            while item is not self._DONE:
                item = self._queue.get()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def add(self, member: Path, data: MemberData = None) -> None:
        """Queue `member` (complete on disk; `data`, if given, are its bytes, or what
        `deflate_member` made of them)."""
        self._raise_error()
        if member.name in self._names:
            raise ValueError(f"ZIP members must have distinct names, got {member.name} twice")
        self._names.append(member.name)
        self._queue.put((member, data))

    def finish(self) -> WrittenArchive:
        """Wait for the ZIP to be complete; its sizes, measured."""
        self._queue.put(self._DONE)
        self._thread.join()
        self._raise_error()
        return _archive_of(self.target, self._uncompressed)

    def abort(self) -> None:
        """Stop the thread without finishing the ZIP; returns once it has closed the file."""
        if self._thread.is_alive():
            self._abort.set()
            self._queue.put(self._DONE)
            self._thread.join()
