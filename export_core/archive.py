"""ZIP of a multi-file export: xlsx members stored (already deflated), csv members deflated.

`ZipBuilder` builds the ZIP in a background thread while the caller goes on writing the next
files: zlib's deflate and crc32 release the GIL, so on two cores the deflate of one member
overlaps the writing of the next. A member can be handed over with its bytes (already in
memory, so the file is not read back) or as a path only (read from disk, as `build_zip` does).
Either way the member is identical: the same name, method, level, timestamp and attributes
(taken from the file, as ZipFile.write takes them)."""

from __future__ import annotations

import queue
import threading
import zipfile
from pathlib import Path

from .model import WrittenArchive

# An xlsx file is itself a deflated ZIP: deflating it again costs ~18x the time of storing it
# and saves under 1% (notes/performance.md). CSV is plain text and shrinks to about a third.
STORED_SUFFIXES = frozenset({".xlsx", ".zip"})
# Measured on 25 csv batches of 2,000 participants (complete, 12.3 MB): level 1 took 0.20 s
# for 26.9% of the size, level 6 0.75 s for 20.2%, level 9 0.89 s for 20.1%. Level 1: the
# 50,000-row CSV export's whole budget is half a second and level 6 alone would spend more
# than that (about 1 s through the API under load); the ZIP is a third bigger for it.
DEFLATE_LEVEL = 1
# Members waiting for the ZIP thread. It bounds the memory of members handed over as bytes
# (a 1,000-row complete CSV is ~240 KB, a 5,000-row one ~1.2 MB) while letting the writer run
# a few files ahead of the deflate.
QUEUE_DEPTH = 4


def compress_type_for(member: Path) -> int:
    """ZIP_STORED for already-compressed members, ZIP_DEFLATED for the rest."""
    return zipfile.ZIP_STORED if member.suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED


def _write_member(archive: zipfile.ZipFile, member: Path, data: bytes | None) -> int:
    """Add `member` under its base name (from `data` if given, else read from disk); returns
    its uncompressed size."""
    kind = compress_type_for(member)
    level = DEFLATE_LEVEL if kind == zipfile.ZIP_DEFLATED else None
    if data is None:
        archive.write(member, arcname=member.name, compress_type=kind, compresslevel=level)
        return member.stat().st_size
    # What ZipFile.write does, minus reading the file back: timestamp and mode from the file.
    info = zipfile.ZipInfo.from_file(member, member.name)
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
    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
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
        self._queue: queue.Queue[tuple[Path, bytes | None]] = queue.Queue(QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._abort = threading.Event()
        self._uncompressed = 0
        self._thread = threading.Thread(target=self._run, name="zip-builder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        item: tuple[Path, bytes | None] | None = None
        try:
            with zipfile.ZipFile(self.target, "w", allowZip64=True) as archive:
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

    def add(self, member: Path, data: bytes | None = None) -> None:
        """Queue `member` (complete on disk; `data`, if given, are its bytes)."""
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
