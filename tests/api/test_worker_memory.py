"""The allocator settings in app/gunicorn_conf.py (why: the comment there and
docs/PERFORMANCE.md): glibc's mmap threshold stays fixed in a tuned process, and the Procfile's
workers get polars' allocator setting in their environment before polars loads."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import mmap
import os
import platform
import runpy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


# 8 MiB in 256 KiB blocks freed (the tuned trim threshold keeps them), then the config's
# post_request hook: how much of that left the process (RssAnon, kB, before and after).
RELEASE_PROBE = (
    _MALLINFO
    + """
conf["tune_glibc_malloc"]()
def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
blocks = [bytearray(256 << 10) for _ in range(32)]
del blocks[:-1]  # all but the last: the freed ones lie below it, where no top trim reaches
kept = anon()
conf["post_request"](None, None, None, None)
print(kept - anon())
"""
)


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_post_request_hands_freed_heap_back_to_the_kernel() -> None:
    released_kb = int(_probe(RELEASE_PROBE)[0])
    assert released_kb >= 6 << 10, released_kb  # most of the 7.75 MiB freed


def test_gunicorn_takes_the_configs_hooks() -> None:
    """The hooks are found by name: gunicorn's own config loader must see them."""
    from gunicorn.app.base import Application

    class Loader(Application):
        def load_config(self) -> None:  # instead of reading sys.argv: only the file
            self.load_config_from_module_name_or_filename(str(ROOT / "app" / "gunicorn_conf.py"))

        def load(self) -> None:
            return None

    app = Loader()
    # gunicorn's own defaults have the same names: where each hook was defined tells them apart
    hooks = {
        name: app.cfg.settings[name].get().__code__.co_filename
        for name in ("on_starting", "post_fork", "post_request")
    }
    assert hooks == dict.fromkeys(hooks, str(ROOT / "app" / "gunicorn_conf.py"))


def test_the_config_sets_the_polars_allocator_default_unless_set() -> None:
    code = (
        "import os, runpy, sys; runpy.run_path(sys.argv[1]); print(os.environ['_RJEM_MALLOC_CONF'])"
    )
    conf = str(ROOT / "app" / "gunicorn_conf.py")
    clean = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    run = [sys.executable, "-c", code, conf]
    default = subprocess.run(run, capture_output=True, text=True, check=True, env=clean)
    assert default.stdout.strip() == "narenas:1,dirty_decay_ms:20,muzzy_decay_ms:0"
    own = {**clean, "_RJEM_MALLOC_CONF": "narenas:1"}
    assert (
        subprocess.run(run, capture_output=True, text=True, check=True, env=own).stdout.strip()
        == "narenas:1"
    )
    inherited = {**clean, "_RJEM_MALLOC_CONF": "dirty_decay_ms:500,muzzy_decay_ms:1000"}
    got = subprocess.run(run, capture_output=True, text=True, check=True, env=inherited)
    assert got.stdout.strip() == "narenas:1,dirty_decay_ms:20,muzzy_decay_ms:0"


def test_the_engine_sets_its_allocator_default_for_the_cli() -> None:
    """`python -m export_core` (the CLI) gets export_core's setting before polars loads
    (polars puts its own defaults first; the later values win); a gunicorn worker keeps the
    one gunicorn_conf set in the master."""
    code = (
        "import os, sys; import export_core; import polars; "
        "print(os.environ['_RJEM_MALLOC_CONF']); print(export_core.POLARS_ALLOCATOR_CONF)"
    )
    clean = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    run = [sys.executable, "-c", code]
    got = subprocess.run(run, capture_output=True, text=True, check=True, env=clean, cwd=ROOT)
    effective, engine = got.stdout.split()
    assert engine == "dirty_decay_ms:100,muzzy_decay_ms:0"
    assert effective.endswith("," + engine)
    own = {**clean, "_RJEM_MALLOC_CONF": "narenas:1"}
    got = subprocess.run(run, capture_output=True, text=True, check=True, env=own, cwd=ROOT)
    effective, _ = got.stdout.split()
    assert effective.endswith(",narenas:1") and engine not in effective
    # started by a process that had imported polars: polars' own default is not a choice
    inherited = {**clean, "_RJEM_MALLOC_CONF": "dirty_decay_ms:500,muzzy_decay_ms:1000"}
    got = subprocess.run(run, capture_output=True, text=True, check=True, env=inherited, cwd=ROOT)
    assert got.stdout.split()[0].endswith("," + engine)
    workers = {**clean, "_RJEM_MALLOC_CONF": runpy_value("JEMALLOC_CONF")}
    got = subprocess.run(run, capture_output=True, text=True, check=True, env=workers, cwd=ROOT)
    assert got.stdout.split()[0].endswith(",narenas:1,dirty_decay_ms:20,muzzy_decay_ms:0")


def runpy_value(name: str) -> str:
    """A module-level value of app/gunicorn_conf.py, read without importing polars here."""
    code = f"import runpy, sys; print(runpy.run_path(sys.argv[1])[{name!r}])"
    conf = str(ROOT / "app" / "gunicorn_conf.py")
    done = subprocess.run([sys.executable, "-c", code, conf], capture_output=True, text=True)
    return done.stdout.strip()


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


# --- Cached library pages (app/gunicorn_conf.py, "Library pages") ------------------------------

LINUX = platform.system() == "Linux"


def _cached_fraction(path: str) -> float:
    """The share of `path`'s pages in the page cache, by mincore(2) on a mapping of it that
    touches none of them."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]  # fmt: skip
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size = os.path.getsize(path)
    pages = -(-size // mmap.PAGESIZE)
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
        try:
            vec = ctypes.create_string_buffer(pages)
            assert libc.mincore(addr, size, vec) == 0, os.strerror(ctypes.get_errno())
            return sum(b & 1 for b in vec.raw) / pages
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)


def _read_through(path: str | Path) -> None:
    """Read the file (into the page cache) without holding it in memory."""
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


def _conf() -> dict[str, Any]:
    return runpy.run_path(str(ROOT / "app" / "gunicorn_conf.py"))


@pytest.mark.skipif(not LINUX, reason="posix_fadvise and mincore as Linux implements them")
def test_drop_cached_pages_empties_the_page_cache_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "lib.so"
    path.write_bytes(os.urandom(8 << 20))
    _read_through(path)
    assert _cached_fraction(str(path)) > 0.9
    assert _conf()["drop_cached_pages"]([str(path), str(tmp_path / "missing.so")]) == [str(path)]
    assert _cached_fraction(str(path)) < 0.1
    _read_through(path)  # nothing else changes: the file reads back whole
    assert path.stat().st_size == 8 << 20 and _cached_fraction(str(path)) > 0.9


def test_polars_libraries_are_the_runtime_the_workers_map() -> None:
    found = _conf()["polars_libraries"]()
    assert found and all(p.endswith(".so") and os.path.isfile(p) for p in found)
    loaded = {Path(m.path).resolve() for m in psutil.Process().memory_maps()}
    assert any(Path(p).resolve() in loaded for p in found)  # this process imported polars
    assert _conf()["polars_libraries"]([str(ROOT / "app"), "", "/no/such/dir"]) == []


@pytest.mark.live
@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="posix_fadvise and mincore as Linux implements them")
def test_the_master_drops_polars_cached_pages_before_its_workers_start(tmp_path: Path) -> None:
    """The whole library in the page cache (as right after pip wrote it); once a server has
    started, the master has dropped what no process maps. How much other processes map (this
    one, other servers of the test run) varies: 10% of the library stayed cached when this test
    ran alone, 61% late in a full run, 100% without the hook."""
    lib = _conf()["polars_libraries"]()[0]
    _read_through(lib)
    assert _cached_fraction(lib) > 0.99
    with LiveServer(tmp_path / "data", workers=2) as live:
        assert requests.get(f"{live.url}/health", timeout=10).status_code == 200
        left = _cached_fraction(lib)
        log = live.log_path.read_text(encoding="utf-8", errors="replace")
    assert f"cached pages dropped: {lib}" in log
    assert left < 0.95, f"{left:.0%} of {lib} still cached"


@pytest.mark.skipif(not LINUX, reason="posix_fadvise and mincore as Linux implements them")
def test_make_drops_polars_cached_pages_once_it_has_installed_the_packages() -> None:
    """Right after pip wrote it, the library sits in the page cache in large folios, and the
    CLI, which no gunicorn master precedes, mapped ~30 MB more of it (docs/PERFORMANCE.md,
    fifteenth round): `make` runs app/library_cache.py after `pip install`, which drops what
    no process maps (this one maps a part: it imported polars)."""
    lib = _conf()["polars_libraries"]()[0]
    _read_through(lib)
    assert _cached_fraction(lib) > 0.99
    out = subprocess.run(
        [sys.executable, str(ROOT / "app" / "library_cache.py")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == f"cached pages dropped: {lib}"
    left = _cached_fraction(lib)
    assert left < 0.95, f"{left:.0%} of {lib} still cached"
    recipe = (ROOT / "Makefile").read_text().split("$(VENV)/.installed:", 1)[1].split("\n\n")[0]
    steps = [line.strip() for line in recipe.splitlines()[1:]]
    install = steps.index("$(BIN)/pip install --quiet -r requirements.txt")
    assert steps.index("$(BIN)/python app/library_cache.py") > install


# --- polars' allocator purged after each request (app/jemalloc.py) ----------------------------

_PURGE_PROBE = """
import ctypes, dataclasses, json, runpy, sys
conf = runpy.run_path(sys.argv[1])
jemalloc = conf["jemalloc"]
located = conf["locate_polars_mallctl"](conf["polars_libraries"]())
import polars as pl
allocator = jemalloc.attach(located)
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20
frame = pl.DataFrame({"a": pl.int_range(0, 25_000_000, eager=True)}).with_columns(b=pl.col("a") * 3)
held = rss()
del frame
freed = rss()
allocator.purge()
print(json.dumps({
    "version": allocator.version(),
    "narenas": allocator.read("opt.narenas", ctypes.c_uint),
    "dirty_decay_ms": allocator.read("opt.dirty_decay_ms", ctypes.c_ssize_t),
    "held": held, "freed": freed, "purged": rss(),
    "wrong_bytes": jemalloc.attach(dataclasses.replace(located, head=bytes(16))) is None,
    "not_loaded": jemalloc.attach(dataclasses.replace(located, inode=0)) is None,
}))
"""


@pytest.mark.skipif(not LINUX, reason="an ELF library and /proc/self/maps")
def test_polars_jemalloc_is_reached_and_purges_its_freed_pages() -> None:
    """Through the mallctl the config finds: jemalloc's own answers (version, the settings
    given in the environment), and pages a dropped frame left with the allocator (a 10 s
    decay keeps them) go back to the kernel on `purge`. A wrong address check or a library
    this process has not loaded gives no allocator at all."""
    clean = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    env = {**clean, "_RJEM_MALLOC_CONF": "narenas:1,dirty_decay_ms:10000,muzzy_decay_ms:0"}
    conf = str(ROOT / "app" / "gunicorn_conf.py")
    done = subprocess.run(
        [sys.executable, "-c", _PURGE_PROBE, conf], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["version"].startswith("5.")
    assert (got["narenas"], got["dirty_decay_ms"]) == (1, 10000)
    assert got["held"] - got["freed"] < 50, got  # freed, but still resident (the decay)
    assert got["freed"] - got["purged"] > 250, got  # ~400 MB of columns handed back
    assert got["wrong_bytes"] and got["not_loaded"]


def test_locate_reads_only_elf_symbol_tables_that_have_the_function(tmp_path: Path) -> None:
    jemalloc = _conf()["jemalloc"]
    lib = _conf()["polars_libraries"]()[0]
    located = jemalloc.locate(lib)
    assert located is not None and located.value > 0 and len(located.head) == 16
    assert located.inode == os.stat(lib).st_ino
    not_elf = tmp_path / "lib.so"
    not_elf.write_bytes(b"\x7fELF" + os.urandom(4096))
    assert jemalloc.locate(str(not_elf)) is None
    assert jemalloc.locate(str(tmp_path / "missing.so")) is None
    other = next((ROOT / "export_core").glob("_jsoncols*.so"))  # ELF, no such function
    assert jemalloc.locate(str(other)) is None


@pytest.mark.live
@pytest.mark.slow
def test_each_worker_reaches_polars_allocator_with_the_configs_settings(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "data", workers=2) as live:
        assert requests.get(f"{live.url}/health", timeout=10).status_code == 200
        deadline = time.monotonic() + 10
        while (found := _allocator_lines(live.log_path)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert found == 2, live.log_path.read_text(encoding="utf-8", errors="replace")


def _allocator_lines(log: Path) -> int:
    text = log.read_text(encoding="utf-8", errors="replace")
    return text.count("1 arena(s), dirty decay 20 ms, purged after each response")


def test_purging_after_calls_purge_once_each_response_is_made() -> None:
    purging_after = _conf()["purging_after"]
    purged: list[str] = []

    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("fail"):
            raise RuntimeError("the app failed")
        purged.append("made")  # the response is made before the purge
        start_response("200 OK", [])
        return [b"body"]

    app = purging_after(wsgi, lambda: purged.append("purged"))
    assert app({}, lambda *a: None) == [b"body"]
    assert purged == ["made", "purged"]
    with pytest.raises(RuntimeError, match="the app failed"):
        app({"fail": True}, lambda *a: None)
    assert purged == ["made", "purged", "purged"]
