"""export_core.spool: a big body written to an unnamed temporary file and read through a map,
whose pages the decoder has gone past leave the process's RSS while staying readable."""

from __future__ import annotations

import logging
import mmap
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from export_core.jsondoc import NotFast
from export_core.spool import arriving as spool_arriving
from export_core.spool import release_behind, spool
from tests.processes import python_child

MB = 1 << 20


def blocks_of(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def body(size: int) -> bytes:
    return bytes(range(256)) * (size // 256)


def rss_file_kb() -> int:
    """The pages of files this process has mapped, in kB (RssFile of /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


def test_a_spooled_body_reads_back_from_a_file_without_a_name(tmp_path: Path) -> None:
    data = body(3 * MB + 100)
    raw = spool(blocks_of(data), str(tmp_path))
    assert isinstance(raw, mmap.mmap)
    assert len(raw) == len(data) and raw[:] == data
    assert raw.find(b"\xff\x00", 1000) == data.find(b"\xff\x00", 1000)
    assert list(tmp_path.iterdir()) == [], "the spool file must have no name to leave behind"
    raw.close()


def test_no_bytes_spool_to_an_empty_body(tmp_path: Path) -> None:
    assert spool(iter([]), str(tmp_path)) == b""
    assert spool(iter([b""]), str(tmp_path)) == b""


def test_released_pages_leave_the_rss_and_read_back_the_same(tmp_path: Path) -> None:
    data = body(16 * MB)
    raw = spool(blocks_of(data), str(tmp_path))
    assert isinstance(raw, mmap.mmap)
    release = release_behind(raw)
    assert release is not None
    assert raw[:] == data  # every page read: mapped
    mapped = rss_file_kb()
    release(12 * MB + 123)  # whole pages before the offset
    assert mapped - rss_file_kb() >= 11 * 1024, "12 MB released, the RSS did not drop"
    release(4 * MB)  # behind what went already: nothing more
    assert raw[:] == data, "released pages must read back from the file"
    raw.close()


def test_a_body_in_memory_has_nothing_to_release() -> None:
    assert release_behind(b"abc") is None
    assert release_behind(bytearray(b"abc")) is None


def test_without_a_usable_directory_the_body_is_gathered_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = body(2 * MB)
    missing = tmp_path / "missing"
    with caplog.at_level(logging.WARNING, logger="ybb.spool"):
        raw = spool(blocks_of(data), str(missing))
    assert isinstance(raw, bytes) and raw == data
    said = [r.getMessage() for r in caplog.records if r.name == "ybb.spool"]
    assert said == [f"request body read into memory: could not spool it to {missing} "
                    "(No such file or directory)"]  # fmt: skip


# Lines of the child processes below: a disk that takes 512 kB per file (RLIMIT_FSIZE: EFBIG,
# as ENOSPC would be; Python ignores SIGXFSZ), 1.5 MB of body in blocks, and the check that
# all of it came back in memory.
_FILES_UP_TO_512_KB = "resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 1024, 512 * 1024))\n"
_DATA = "data = bytes(range(256)) * 6144\n"
_BLOCKS = "(data[i : i + 100_000] for i in range(0, len(data), 100_000))"
_ALL_KEPT = "assert isinstance(raw, bytes), type(raw)\nassert raw == data, 'bytes lost'\n"


def _child_ok(code: str, tmp_path: Path) -> str:
    """Runs `code` in a child Python with `tmp_path` as its argument; returns its stderr once
    it has run to the end."""
    done = python_child(code + "print('ok')\n", str(tmp_path), timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    return done.stderr


def test_a_write_that_fails_halfway_loses_nothing(tmp_path: Path) -> None:
    """A disk that fills up while the body is spooled: the child process may write only 512 kB
    to a file (RLIMIT_FSIZE: EFBIG, as ENOSPC would; Python ignores SIGXFSZ), so the write fails
    a third of the way; what was written is read back and the rest gathered in memory."""
    code = (
        "import resource, sys\n"
        f"{_FILES_UP_TO_512_KB}"
        "from export_core.spool import spool\n"
        f"{_DATA}"
        f"raw = spool({_BLOCKS}, sys.argv[1])\n"
        f"{_ALL_KEPT}"
    )
    stderr = _child_ok(code, tmp_path)
    assert "request body read into memory: could not spool it to" in stderr  # File too large


def test_an_error_while_reading_the_body_leaves_no_file(tmp_path: Path) -> None:
    def too_big() -> Iterator[bytes]:
        yield body(MB)
        raise ValueError("over the limit")

    open_files = len(os.listdir("/proc/self/fd"))
    with pytest.raises(ValueError, match="over the limit"):
        spool(too_big(), str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    assert len(os.listdir("/proc/self/fd")) == open_files, "the spool file was left open"


def test_an_arriving_body_is_there_as_far_as_wait_says(tmp_path: Path) -> None:
    """ArrivingBody: `wait` returns once the bytes asked for are in the map (the thread held
    back after the first block meanwhile), and `finish` gives the map of the whole body, the
    spool file without a name and closed with it."""
    data = body(3 * MB)
    first_block_read = threading.Event()
    go_on = threading.Event()

    def held_back() -> Iterator[bytes]:
        blocks = blocks_of(data)
        yield next(blocks)
        first_block_read.set()
        assert go_on.wait(30)
        yield from blocks

    open_files = len(os.listdir("/proc/self/fd"))
    arriving = spool_arriving(held_back(), len(data), str(tmp_path))
    assert arriving is not None and arriving.map is not None
    assert first_block_read.wait(30)
    assert arriving.wait(1000) == 256 * 1024 == arriving.available()
    assert arriving.map[:1000] == data[:1000]
    go_on.set()
    assert arriving.wait(2 * MB) >= 2 * MB
    whole = arriving.finish()
    assert isinstance(whole, mmap.mmap) and whole[:] == data
    assert list(tmp_path.iterdir()) == []
    del whole
    assert len(os.listdir("/proc/self/fd")) == open_files, "the spool file was left open"


def test_an_arriving_body_whose_blocks_fail_raises_their_error_from_finish(tmp_path: Path) -> None:
    def too_big() -> Iterator[bytes]:
        yield body(MB)
        raise ValueError("client gone")

    open_files = len(os.listdir("/proc/self/fd"))
    arriving = spool_arriving(too_big(), 2 * MB, str(tmp_path))
    assert arriving is not None
    with pytest.raises(NotFast):
        arriving.wait(2 * MB)
    with pytest.raises(ValueError, match="client gone"):
        arriving.finish()
    assert list(tmp_path.iterdir()) == []
    assert len(os.listdir("/proc/self/fd")) == open_files, "the spool file was left open"


def test_an_arriving_body_without_a_usable_directory_is_left_to_spool(tmp_path: Path) -> None:
    blocks = blocks_of(body(2 * MB))
    assert spool_arriving(blocks, 2 * MB, str(tmp_path / "missing")) is None
    assert len(next(blocks)) == 256 * 1024  # untouched: the caller reads them


def test_an_arriving_body_whose_write_fails_halfway_loses_nothing(tmp_path: Path) -> None:
    """As test_a_write_that_fails_halfway_loses_nothing, for ArrivingBody: the decoder is
    told the map will not hold the body (NotFast), and `finish` gives all of it in memory.
    (The limit comes once the file has its size: over it, `arriving` declines up front.)"""
    code = (
        "import resource, sys, threading\n"
        "from export_core.jsondoc import NotFast\n"
        "from export_core.spool import arriving\n"
        f"{_DATA}"
        "gate = threading.Event()\n"
        "def blocks():\n"
        "    assert gate.wait(30)\n"
        f"    yield from {_BLOCKS}\n"
        "body = arriving(blocks(), len(data), sys.argv[1])\n"
        "assert body is not None\n"
        f"{_FILES_UP_TO_512_KB}"
        "gate.set()\n"
        "try:\n"
        "    body.wait(len(data))\n"
        "    raise SystemExit('wait did not say the body is not in the map')\n"
        "except NotFast:\n"
        "    pass\n"
        "raw = body.finish()\n"
        f"{_ALL_KEPT}"
    )
    stderr = _child_ok(code, tmp_path)
    assert "request body read into memory: could not spool it to" in stderr


def test_an_arriving_body_over_the_file_size_limit_is_left_to_spool(tmp_path: Path) -> None:
    code = (
        "import resource, sys\n"
        f"{_FILES_UP_TO_512_KB}"
        "from export_core.spool import arriving\n"
        "assert arriving(iter([b'x' * 1_000_000]), 1_000_000, sys.argv[1]) is None\n"
    )
    _child_ok(code, tmp_path)
