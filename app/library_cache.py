"""polars' runtime library dropped from the page cache, so that a process maps only its code.

Linux 6.16 and later cache ext4 files in large folios, and a page fault may map a whole cached
folio, not only the page it needs (seen on 6.18). pip writes polars' runtime (~170 MB) in big
writes, so right after an install its cached folios are big: a worker that had run the
50,000-row exports had 74 MB of that file in its RSS. With the file's pages read back by faults
instead (as after a reboot) it was 42 MB, and the worker's peak ~30 MB lower
(docs/PERFORMANCE.md, "Seventh round"). The same holds for the CLI: right after
`pip install`, its 1,000,000-row export peaked at 197 MB (against the 200 MB of issue 17), at
166 MB once the pages were dropped (docs/PERFORMANCE.md, fifteenth round).

So the gunicorn master drops the library's clean cached pages when it starts, before any worker
loads it (app/gunicorn_conf.py), and `make` does once it has installed the packages
(`python app/library_cache.py`): a process then reads back only the code it runs. Pages another
process has mapped stay; nothing else changes but a first read from disk.

Loaded by path (gunicorn_conf's `_sibling`) or run as a script: it imports nothing of the app,
nor polars."""

from __future__ import annotations

import contextlib
import glob
import os
import sys
from collections.abc import Iterable

LIBRARY_GLOBS = ("_polars_runtime*/*.so",)


def polars_libraries(search_path: Iterable[str] | None = None) -> list[str]:
    """The shared libraries of polars' runtime package(s) on `search_path` (sys.path), found
    without importing them."""
    found: list[str] = []
    for folder in sys.path if search_path is None else search_path:
        if folder and os.path.isdir(folder):
            for pattern in LIBRARY_GLOBS:
                found.extend(sorted(glob.glob(os.path.join(folder, pattern))))
    return found


def drop_cached_pages(paths: Iterable[str]) -> list[str]:
    """Ask the kernel to drop the cached pages of each file (written back first, so that none
    is dirty; pages a process has mapped are kept); returns the files it was asked for."""
    if not hasattr(os, "posix_fadvise"):
        return []
    dropped = []
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            # A file system that cannot sync a read-only descriptor: its clean pages still go.
            with contextlib.suppress(OSError):
                os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            dropped.append(path)
        except OSError:
            continue
        finally:
            os.close(fd)
    return dropped


if __name__ == "__main__":
    dropped = drop_cached_pages(polars_libraries())
    print("cached pages dropped:", ", ".join(dropped) or "none")
