"""Gunicorn settings shared by the Procfile and `make run`; values come from the environment."""

import ctypes
import ctypes.util
import glob
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable

from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker


class SafeAccessLogger(Logger):
    """Gunicorn's logger with every access-log value escaped: the path is logged decoded, so a
    %0D%0A in a URL would otherwise forge a log line of the client's choosing."""

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        values = super().atoms(resp, req, environ, request_time)
        return {
            k: v.encode("unicode_escape").decode("ascii") if isinstance(v, str) else v
            for k, v in values.items()
        }


# A new connection wakes every worker waiting on the listening socket, and the first to get to
# it takes it. A worker that has just taken one request is often that first one again, so two
# exports sent together (two users, or make bench's concurrent pair) were served by the same
# worker in 14 of 48 measured pairs: one process, one GIL, both exports' memory (worker peaks
# of 217-236 MB for two 50k Excel exports) while the other worker stood idle. A worker already
# serving a request now waits ACCEPT_DEFER_SECONDS before taking a new connection itself, so
# that an idle worker takes it first (docs/PERFORMANCE.md, tenth round). With every worker
# busy, a new connection is taken that much later; with one worker, nothing changes.
# GUNICORN_ACCEPT_DEFER_MS sets the wait (0: take connections as plain gthread does).
ACCEPT_DEFER_SECONDS = float(os.environ.get("GUNICORN_ACCEPT_DEFER_MS", "5")) / 1000


class SpreadingThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, leaving new connections to idle workers while it serves."""

    def serving(self) -> int:
        """Connections this worker is handling a request on now (taken by its threads or
        queued for them; not idle keep-alive connections, nor ones waiting for a request)."""
        return self.nr_conns - len(self.keepalived_conns) - len(self.pending_conns)

    def accept(self, listener):  # type: ignore[no-untyped-def]
        """Take a new connection; when busy, only once an idle worker had time to take it (it
        is then gone, and the accept finds nothing: gthread ignores EAGAIN)."""
        if ACCEPT_DEFER_SECONDS > 0 and self.cfg.workers > 1 and self.serving() > 0:
            time.sleep(ACCEPT_DEFER_SECONDS)
        super().accept(listener)


bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = SpreadingThreadWorker
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
max_requests = 1000
max_requests_jitter = 100
# With YBB_LOG_FORMAT=json the app writes one JSON line per request itself (app/api/hooks.py),
# so gunicorn's text access line would only say the same thing a second time.
_json_logs = os.environ.get("YBB_LOG_FORMAT", "").strip().lower() == "json"
accesslog = None if _json_logs else "-"
# The path without its query string: signed download links carry their signature there, and a
# link in a log is a credential until it expires. No Referer either (it may hold such a link).
logger_class = SafeAccessLogger
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
errorlog = "-"
loglevel = os.environ.get("YBB_LOG_LEVEL", "info").lower()

# Gunicorn >= 25 opens a control socket at one fixed per-user path by default, so two servers
# (tests, several apps on one host) would fight over it. Off unless a path is given.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket


# --- Worker memory ----------------------------------------------------------------------------
# This file must not import the app: the master would load polars (and its allocator) before
# the setting below, and the workers inherit it.
#
# Allocator settings that keep a worker's memory from ratcheting up export after export.
#
# A 50,000-row export allocates ~100 MB for a few seconds and frees it. Measured on the
# Procfile's gunicorn (docs/PERFORMANCE.md, "Worker memory"), three allocator defaults kept most
# of that resident afterwards, so each later export started ~70 MB higher:
#
# * glibc raises its mmap threshold to the size of the largest block freed (up to 32 MB), so
#   after the first export the 20 MB request bodies come from the heap and fragment it instead
#   of being mapped and unmapped: a fixed threshold of 1 MiB keeps big blocks mapped.
# * glibc gives each thread (gunicorn's gthread workers run requests on 4) its own arena, each
#   keeping its own freed memory: at most 2 arenas.
# * polars' jemalloc keeps freed pages for 0.5-1.5 s, in up to 8 arenas: `_RJEM_MALLOC_CONF`
#   (it must be in the environment before polars loads) gives it one arena and a 20 ms decay.
#   Returning freed pages at once (0 ms, until issue 17's eleventh round) cost ~70,000 page
#   faults and ~20% of a 50k Excel export's time; a 20 ms decay cuts the faults to ~25,000,
#   but over 8 arenas each kept its own recent pages and one worker's peak crept to 199-210 MB
#   over 24 exports, and a 100 ms decay (the CLI's, export_core's POLARS_ALLOCATOR_CONF) took
#   it over 200 MB in `make bench`. With one arena the freed pages are reused by whichever
#   thread allocates next, and with every arena purged once a response is made (below, "polars'
#   allocator purged after each request"), 120 back-to-back 50k Excel / 50k CSV / 10k exports
#   on one worker peaked at 199 MB at most (50k Excel median 191 MB; 187 MB at 0 ms), the 50k
#   Excel export ~0.52 vs ~0.63 s (docs/PERFORMANCE.md, eleventh round).
# * With its mmap threshold fixed, glibc stops raising its trim threshold too, which stays at
#   128 KiB: whenever more than that is free at the top of the heap it is handed back to the
#   kernel, to be faulted in again moments later. A page fault costs ~4 us on this VM, and
#   reading one 20 MB request body took ~25,000 of them (0.1 s of system time). A trim
#   threshold of 8 MiB keeps that much free heap per arena for reuse: the body's read took
#   ~6,000 faults, the 50,000-row CSV export ~10% less time (interleaved A/B,
#   benchmarks/ab_api.py), for a few MB of worker memory.
# * Even so, a worker kept ~30 MB more after a 50,000-row export than before it (freed heap
#   below the top, which trimming the top cannot return), and its peaks crept up request after
#   request: 185 -> 205 MB over ten rounds of a 50k Excel and a 50k CSV export (one worker).
#   `post_request` below hands every free page back with malloc_trim(0) once a request is done
#   (~2 ms after a 50k export, ~0.1 ms after a small one): the same rounds then peaked at
#   181-197 MB (docs/PERFORMANCE.md, "Seventh round").
#
# The three mallopt settings yield to the same setting made by the operator in the environment.

JEMALLOC_CONF = "narenas:1,dirty_decay_ms:20,muzzy_decay_ms:0"
ARENA_MAX = 2
MMAP_THRESHOLD = 1 << 20
TRIM_THRESHOLD = 8 << 20
_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


# Loaded once, in the master (find_library runs ldconfig); the workers inherit it.
_LIBC = _glibc()


def tune_glibc_malloc() -> list[str]:
    """Apply the glibc settings above to this process (call it early, e.g. after a worker
    forks); returns the names of those applied (none off glibc; one the environment sets
    itself, e.g. MALLOC_TRIM_THRESHOLD_, is left as it is)."""
    libc = _LIBC
    if libc is None:
        return []
    applied = []
    for env, param, value in (
        ("MALLOC_ARENA_MAX", _M_ARENA_MAX, ARENA_MAX),
        ("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        ("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    ):
        if env not in os.environ and libc.mallopt(param, value) == 1:
            applied.append(env)
    return applied


# Read by polars' allocator when a worker imports polars (the workers import the app after
# the fork, and inherit this environment).
# Unset, or only what polars itself writes there (inherited from a parent that imported it,
# e.g. a test or benchmark process): not an operator's choice.
POLARS_OWN_CONF = "dirty_decay_ms:500,muzzy_decay_ms:1000"
if os.environ.get("_RJEM_MALLOC_CONF", POLARS_OWN_CONF) == POLARS_OWN_CONF:
    os.environ["_RJEM_MALLOC_CONF"] = JEMALLOC_CONF


# --- polars' allocator purged after each request ----------------------------------------------
# With a decay (JEMALLOC_CONF above), pages a request freed stay with polars' jemalloc until
# its clock runs out and some thread allocates again. A client that sends its next request as
# soon as the response arrives then has that request start on top of them: sent back to back,
# one 50k CSV export in ten peaked at 199-212 MB instead of ~184 (with a 0.1 s pause between
# requests, or a 0 ms decay, never over 193). app/jemalloc.py reaches jemalloc's mallctl
# through the library's symbol table, and each worker purges every arena once the app has made
# a response, before it is sent (~0.1-2 ms), so the next request starts from what is live. The
# master finds the function in the file (before the library's cached pages are dropped); each
# worker attaches once it has loaded the app (and polars).


def _sibling(name: str):  # type: ignore[no-untyped-def]
    """A module of this directory, loaded by path: importing the `app` package here would load
    the whole app (and polars) into the master."""
    spec = importlib.util.spec_from_file_location(
        f"ybb_gunicorn_{name}",
        os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py"),
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


jemalloc = _sibling("jemalloc")


# --- Library pages ---------------------------------------------------------------------------
# polars' runtime is dropped from the page cache when the master starts, before any worker maps
# it, so that a worker maps only the code it runs, not whole large folios (app/library_cache.py).

library_cache = _sibling("library_cache")
polars_libraries = library_cache.polars_libraries
drop_cached_pages = library_cache.drop_cached_pages
POLARS_MALLCTL: list[object] = []  # the master's find: [Located] (inherited by the workers)
_ATTACHED: list[object] = []  # each worker's: [Jemalloc or None]


def locate_polars_mallctl(libraries: Iterable[str]) -> object | None:
    """Where polars' mallctl is, in the first of `libraries` that has it (None: nowhere)."""
    for path in libraries:
        located = jemalloc.locate(path)
        if located is not None:
            return located
    return None


def polars_allocator() -> object | None:
    """This worker's polars jemalloc (`jemalloc.Jemalloc`), or None when out of reach."""
    if not _ATTACHED:
        _ATTACHED.append(jemalloc.attach(POLARS_MALLCTL[0]) if POLARS_MALLCTL else None)
    return _ATTACHED[0]


def on_starting(server):  # type: ignore[no-untyped-def]
    """The master, before it forks the first worker: polars' mallctl found (above), polars'
    cached pages dropped (above), the metrics directory made ready (below), a warning if the
    workers will run without PYTHONOPTIMIZE=2, and the export launcher started."""
    located = locate_polars_mallctl(polars_libraries())
    if located is not None:
        POLARS_MALLCTL.append(located)
    server.log.info("polars' mallctl: %s", "found" if located is not None else "not found")
    dropped = drop_cached_pages(polars_libraries())
    server.log.info("cached pages dropped: %s", ", ".join(dropped) or "none")
    path, _ = prepare_metrics_dir()
    server.log.info("metrics of all workers in %s", path)
    if sys.flags.optimize < 2:  # the Procfile, `make run` and deploy/ set it
        server.log.warning(
            "PYTHONOPTIMIZE is not 2: each worker loads every docstring (~10 MB more memory)"
        )
    start_export_launcher(server)


# --- Prometheus metrics of all workers ---------------------------------------------------------
# Each worker writes its metric values to files in PROMETHEUS_MULTIPROC_DIR; a scrape of any
# worker adds up all of them (app/metrics.py). The master makes the directory ready before the
# first fork (the workers inherit the variable): the operator's, emptied of a previous run's
# files (they would be added to this run's), or a fresh one of its own, removed at exit. A
# worker that ends has its live gauges (exports in flight, queued jobs) dropped; its counters
# stay, so that totals never go down when gunicorn replaces a worker (max_requests).

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_OWN_METRICS_DIR: list[str] = []


def prepare_metrics_dir() -> tuple[str, bool]:
    """The metrics directory, ready and empty, exported to the environment; True if this
    process created it (then `on_exit` removes it)."""
    configured = os.environ.get(METRICS_DIR_ENV, "").strip()
    if configured:
        os.makedirs(configured, exist_ok=True)
        for stale in glob.glob(os.path.join(configured, "*.db")):
            os.unlink(stale)
        return configured, False
    path = tempfile.mkdtemp(prefix="ybb-metrics-")
    os.environ[METRICS_DIR_ENV] = path
    _OWN_METRICS_DIR.append(path)
    return path, True


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """The master, when a worker has ended: that worker's live gauges dropped (above)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    """The master, at shutdown: the export launcher stopped, the metrics directory removed if
    it was its own."""
    launcher = getattr(server, LAUNCHER_ATTRIBUTE, None)
    if launcher is not None:
        launcher.stop()
    for path in _OWN_METRICS_DIR:
        shutil.rmtree(path, ignore_errors=True)


# --- The UI's export launcher ------------------------------------------------------------------
# An export started from the page runs in a process of its own. The master starts one warm
# interpreter (components/export_launcher.py) that forks such processes with the engine already
# imported (~0.3 s less per UI export); the workers find its socket in the environment.
# YBB_UI_EXPORT_LAUNCHER=0: none (each export then starts a fresh interpreter).
# The handle lives on the arbiter: a HUP executes this file again (fresh module globals) but
# keeps the arbiter, and on_exit must still find the launcher to stop it.
LAUNCHER_ATTRIBUTE = "ybb_export_launcher"


def start_export_launcher(server) -> None:  # type: ignore[no-untyped-def]
    """The master, before its first fork: the export launcher started, unless switched off."""
    from components import export_launcher

    if not export_launcher.enabled():
        server.log.info("export launcher: off (YBB_UI_EXPORT_LAUNCHER)")
        return
    launcher = export_launcher.start()
    setattr(server, LAUNCHER_ATTRIBUTE, launcher)
    server.log.info("export launcher: pid %d, socket %s", launcher.process.pid, launcher.path)


# --- Errors gunicorn answers itself ------------------------------------------------------------
# A request gunicorn cannot parse (a request line over 4094 bytes, too many or too large
# headers, a malformed line) never reaches the app: gunicorn answers it from
# gunicorn.util.write_error, with an HTML page. Every API error must use the seed's envelope,
# so each worker replaces that one function with the JSON below (same status and reason; the
# message clipped, as it may echo the request). Its signature is gunicorn's (pinned < 28), and
# tests/api/test_gunicorn_errors.py sends such requests to a real server.

ERROR_CODES = {
    400: "BAD_REQUEST",
    403: "FORBIDDEN",
    414: "URI_TOO_LONG",
    417: "EXPECTATION_FAILED",
    431: "REQUEST_HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
}
MAX_ERROR_MESSAGE = 200


def write_json_error(sock, status_int, reason, mesg):  # type: ignore[no-untyped-def]
    """gunicorn.util.write_error's job, answered in the API's error envelope."""
    from gunicorn.util import write_nonblock

    detail = str(mesg or "").strip()
    if len(detail) > MAX_ERROR_MESSAGE:
        detail = detail[:MAX_ERROR_MESSAGE] + "…"
    body = json.dumps(
        {
            "status": "error",
            "message": f"{reason}: {detail}" if detail else str(reason),
            "error_code": ERROR_CODES.get(int(status_int), "BAD_REQUEST"),
        }
    ).encode("ascii")  # json.dumps escapes every non-ASCII character
    head = (
        f"HTTP/1.1 {int(status_int)} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Request-ID: {uuid.uuid4().hex}\r\n\r\n"  # as on every API answer
    )
    write_nonblock(sock, head.encode("latin-1") + body)


def pre_fork(server, worker):  # type: ignore[no-untyped-def]
    """The master, before each worker it starts (at start, and whenever one is replaced): the
    export launcher started again if it has ended, so that it comes back by itself at the
    latest when a worker is next recycled (`max_requests`)."""
    launcher = getattr(server, LAUNCHER_ATTRIBUTE, None)
    if launcher is not None and launcher.restart_if_gone():
        server.log.warning("export launcher had ended; started again: pid %d", launcher.process.pid)


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    """Each worker: the glibc malloc settings above before it starts serving, and gunicorn's
    own error answers in the API's envelope."""
    import gunicorn.util

    gunicorn.util.write_error = write_json_error
    applied = tune_glibc_malloc()
    worker.log.debug("malloc settings applied: %s", ", ".join(applied) or "none")


def release_free_heap() -> bool:
    """Hand glibc's free heap pages back to the kernel (malloc_trim(0)); True if any went."""
    return bool(_LIBC.malloc_trim(0)) if _LIBC is not None else False


def purging_after(wsgi, purge):  # type: ignore[no-untyped-def]
    """The WSGI app `wsgi`, calling `purge()` once it has made each response (a handler's
    locals are gone by then; a streamed body, such as a download, is read afterwards)."""

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        try:
            return wsgi(environ, start_response)
        finally:
            purge()

    return app


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Each worker, its app loaded: attached to polars' allocator (above), which it purges
    after each response is made, and logs."""
    allocator = polars_allocator()
    if allocator is None:
        worker.log.info("polars allocator out of reach: freed pages go back by decay only")
        return
    worker.wsgi = purging_after(worker.wsgi, allocator.purge)  # type: ignore[attr-defined]
    worker.log.info(
        "polars allocator: jemalloc %s, %d arena(s), dirty decay %d ms, purged after each response",
        allocator.version(),  # type: ignore[attr-defined]
        allocator.read("opt.narenas", ctypes.c_uint),  # type: ignore[attr-defined]
        allocator.read("opt.dirty_decay_ms", ctypes.c_ssize_t),  # type: ignore[attr-defined]
    )


def post_request(worker, req, environ, resp):  # type: ignore[no-untyped-def]
    """Each worker, once a request is done: its freed heap back to the kernel (above)."""
    release_free_heap()
