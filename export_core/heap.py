"""Freed heap memory handed back to the kernel in the middle of an export.

glibc's malloc keeps what a process frees for its next allocations; only memory at the top of
a heap goes back to the kernel by itself. The C decoder's columns (export_core._jsoncols, ~20 MB
for 50,000 `complete` records) live on that heap, spread over it, so freeing them lowers a
worker's RSS only once `malloc_trim(0)` returns their pages (MADV_DONTNEED on every free page,
~1 ms after such an export). Elsewhere than on glibc this does nothing."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    trim: Callable[[int], int] = libc.malloc_trim
    return trim


def release_free_heap() -> bool:
    """Give glibc's free heap pages back to the kernel; True if any went (False off glibc)."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
