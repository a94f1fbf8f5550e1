"""The allocator settings in app/gunicorn_conf.py (why: the comment there and
docs/PERFORMANCE.md): glibc's mmap threshold stays fixed in a tuned process, and the Procfile's
workers get polars' allocator setting in their environment before polars loads."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from .live_server import ROOT, LiveServer

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# What both probes start with: the config (argv[1]) loaded, and glibc's mallinfo2 at hand.
_MALLINFO = """
import ctypes, runpy, sys
conf = runpy.run_path(sys.argv[1])
libc = ctypes.CDLL("libc.so.6")
names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in names.split()]
libc.mallinfo2.restype = Info
"""

# Frees an 8 MB block (glibc then raises its mmap threshold to 8 MB unless it is fixed) and
# reports whether a 2 MB block allocated afterwards was mapped (mallinfo2's hblks grows).
PROBE = (
    _MALLINFO
    + """
applied = conf["tune_glibc_malloc"]() if sys.argv[2] == "tuned" else []
big = bytearray(8 << 20)
del big
before = libc.mallinfo2().hblks
block = bytearray(2 << 20)
print(",".join(applied) or "-", libc.mallinfo2().hblks > before)
"""
)


def _probe(code: str, *args: str, **env: str) -> list[str]:
    """Run a probe on the config (argv[1]; `args` after it), its output split into words;
    the MALLOC_ variables of this environment are not passed on, `env` is."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "app" / "gunicorn_conf.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**clean, **env},
    )
    return out.stdout.split()


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's; other C libraries are left alone")
def test_a_tuned_process_keeps_big_blocks_mapped() -> None:
    assert _probe(PROBE, "untuned") == ["-", "False"]  # glibc's default: the threshold moved up
    tuned = "MALLOC_ARENA_MAX,MALLOC_MMAP_THRESHOLD_,MALLOC_TRIM_THRESHOLD_"
    assert _probe(PROBE, "tuned") == [tuned, "True"]
    # The operator's own setting wins and is not overridden.
    assert _probe(PROBE, "tuned", MALLOC_MMAP_THRESHOLD_="33554432") == [
        "MALLOC_ARENA_MAX,MALLOC_TRIM_THRESHOLD_",
        "False",
    ]


# 4 MiB in 256 KiB blocks (below the fixed 1 MiB mmap threshold: from the heap), freed; then
# whether glibc kept that free memory for reuse rather than handing it back to the kernel.
TRIM_PROBE = (
    _MALLINFO
    + """
applied = conf["tune_glibc_malloc"]()
blocks = [bytearray(256 << 10) for _ in range(16)]
del blocks
print(",".join(applied) or "-", libc.mallinfo2().fordblks >= (3 << 20))
"""
)


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's; other C libraries are left alone")
def test_a_tuned_process_keeps_freed_heap_for_reuse() -> None:
    """The trim threshold: freed heap memory up to 8 MiB stays for the next request instead
    of being faulted in again; with glibc's own 128 KiB (set by the operator here) it goes."""
    assert _probe(TRIM_PROBE) == [
        "MALLOC_ARENA_MAX,MALLOC_MMAP_THRESHOLD_,MALLOC_TRIM_THRESHOLD_",
        "True",
    ]
    assert _probe(TRIM_PROBE, MALLOC_TRIM_THRESHOLD_="131072") == [
        "MALLOC_ARENA_MAX,MALLOC_MMAP_THRESHOLD_",
        "False",
    ]


def test_the_config_sets_the_polars_allocator_default_unless_set() -> None:
    code = (
        "import os, runpy, sys; runpy.run_path(sys.argv[1]); print(os.environ['_RJEM_MALLOC_CONF'])"
    )
    conf = str(ROOT / "app" / "gunicorn_conf.py")
    clean = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    run = [sys.executable, "-c", code, conf]
    default = subprocess.run(run, capture_output=True, text=True, check=True, env=clean)
    assert default.stdout.strip() == "dirty_decay_ms:0,muzzy_decay_ms:0"
    own = {**clean, "_RJEM_MALLOC_CONF": "narenas:1"}
    assert (
        subprocess.run(run, capture_output=True, text=True, check=True, env=own).stdout.strip()
        == "narenas:1"
    )


@pytest.mark.live
@pytest.mark.slow
def test_polars_loads_in_the_workers_not_in_the_master(tmp_path: Path) -> None:
    """The setting above is read when polars' allocator starts: that must happen in the
    workers (which inherit the master's environment), never in the master before it."""
    with LiveServer(tmp_path / "data", workers=2) as live:
        pid = int(requests.get(f"{live.url}/health", timeout=10).headers["X-Served-By"])
        master = psutil.Process(pid).ppid()
        assert "gunicorn" in " ".join(psutil.Process(master).cmdline())
        assert "_polars_runtime" in Path(f"/proc/{pid}/maps").read_text()
        assert "_polars_runtime" not in Path(f"/proc/{master}/maps").read_text()
