"""The store on its own and through the API: slots across processes, leases, recovery after a
dead process, expiry, cleanup, orphans, and a download racing cleanup. Every test runs against
both metadata backends: the embedded SQLite file and PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.api.context import ApiContext
from export_core import readers
from export_core.errors import NotFound, StorageError
from export_core.model import ExportOptions
from export_core.settings import Settings
from export_core.store import open_store
from export_core.store.maintenance import cleanup_if_free
from export_core.store.sqlite import INTERRUPTED, SQLiteStore

from .conftest import AppFactory, participants
from .envelope import assert_error_envelope

EXPORT = "/api/ybb/export/participants"
STORE_BACKENDS = ("sqlite", "postgres")  # every test here runs on both (tests/api/conftest.py)
OPTIONS = ExportOptions(export_type="participants")
DAY = 24 * 3600


def store_for(settings: Settings) -> SQLiteStore:
    store = open_store(settings)
    assert isinstance(store, SQLiteStore)
    return store


def test_unknown_store_kind_is_a_clear_startup_error(settings: Settings) -> None:
    with pytest.raises(ValueError, match="YBB_STORE='redis' is not a known store"):
        open_store(settings, "redis")


def test_run_export_writes_and_records(settings: Settings) -> None:
    store = store_for(settings)
    seen: list[tuple[int, int]] = []
    frame = readers.records_to_frame(participants(3))
    record = store.run_export(frame, OPTIONS, progress=lambda d, t: seen.append((d, t)))
    assert record.state == "completed" and record.progress == 100
    assert seen and seen[-1][0] == seen[-1][1]
    opened = store.open_file(record.export_id, "main")
    assert opened.path.parent == settings.exports_dir / record.export_id
    assert opened.size == record.files[0].file_size
    assert not (settings.exports_dir / f"{record.export_id}.partial").exists()
    assert store_for(settings).get(record.export_id) == record  # a second store sees it


def test_finish_with_consume_empties_the_frame_once_written(settings: Settings) -> None:
    """The API hands its decoded records over (consume=True): the store's write empties the
    frame (service.write_export) and records the export of every row."""
    store = store_for(settings)
    frame = readers.records_to_frame(participants(3))
    record = store.finish(store.begin(OPTIONS, 3).export_id, frame, OPTIONS, consume=True)
    assert record.state == "completed" and record.record_count == 3
    assert frame.width == 0
    assert store.open_file(record.export_id, "main").size == record.files[0].file_size


def test_failed_write_marks_failed_and_removes_files(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_for(settings)
    record = store.begin(OPTIONS, 3)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device", "/srv/secret/path")

    monkeypatch.setattr("export_core.service.write_export", broken)
    with pytest.raises(StorageError, match="Could not write export files"):
        store.finish(record.export_id, readers.records_to_frame(participants(3)), OPTIONS)
    failed = store.get(record.export_id)
    # the reason, without the server's paths
    assert failed.state == "failed"
    assert failed.error == "Could not write export files: No space left on device"
    assert list(settings.exports_dir.iterdir()) == []


def test_busy_when_every_slot_is_taken(make_app: AppFactory) -> None:
    server = make_app(YBB_MAX_CONCURRENT_EXPORTS="2")
    ctx: ApiContext = server.extensions["ybb_api"]
    client = server.test_client()
    held = [ctx.store.begin(OPTIONS, 3) for _ in range(2)]
    resp = client.post(EXPORT, json={"data": participants(3)})
    body = assert_error_envelope(resp, 429)
    assert resp.headers["Retry-After"] == "5"
    assert body["error_code"] == "TOO_MANY_EXPORTS"
    ctx.store.finish(held[0].export_id, readers.records_to_frame(participants(3)), OPTIONS)
    assert client.post(EXPORT, json={"data": participants(3)}).status_code == 200


def test_a_slot_with_an_expired_lease_is_free(settings: Settings) -> None:
    store = store_for(settings)
    small = Settings(**{**settings.__dict__, "max_concurrent_exports": 1})
    store.settings = small
    store.begin(OPTIONS, 3)
    with pytest.raises(Exception, match="Too many exports"):
        store.begin(OPTIONS, 3)
    store.lease_seconds = 0.0  # every lease is now stale
    assert store.begin(OPTIONS, 3).state == "processing"


def _begin_in_child(data_dir: Path, backend_env: dict[str, str]) -> str:
    code = (
        "import json, sys\n"
        "from export_core.settings import Settings\n"
        "from export_core.store import open_store\n"
        "from export_core.model import ExportOptions\n"
        "env = {'YBB_DATA_DIR': sys.argv[1], 'YBB_SECRET_KEY': 't', **json.loads(sys.argv[2])}\n"
        "s = Settings.from_env(env)\n"
        "print(open_store(s).begin(ExportOptions('participants'), 3).export_id)\n"
    )
    args = [sys.executable, "-c", code, str(data_dir), json.dumps(backend_env)]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def test_export_left_processing_by_a_dead_process_is_marked_failed(
    settings: Settings, backend_env: dict[str, str]
) -> None:
    export_id = _begin_in_child(settings.data_dir, backend_env)  # exits without finishing
    record = store_for(settings).get(export_id)
    assert record.state == "failed"
    assert record.error == INTERRUPTED


def test_expired_export_is_gone_before_and_after_cleanup(
    ctx: ApiContext, client: FlaskClient
) -> None:
    data = client.post(EXPORT, json={"data": participants(3)}).get_json()["data"]
    store = ctx.store
    assert isinstance(store, SQLiteStore)
    export_dir = ctx.settings.exports_dir / data["export_id"]
    assert export_dir.is_dir()
    store.clock = lambda: time.time() + DAY + 60
    assert_error_envelope(client.get(data["status_url"]), 404, "Export not found or expired")
    assert_error_envelope(client.get(data["download_url"]), 404, "Export not found or expired")
    assert client.get("/api/ybb/exports").get_json()["data"]["total"] == 0
    assert export_dir.is_dir()  # not cleaned yet, already invisible
    resp = client.post("/api/ybb/cleanup")
    assert resp.get_json() == {"status": "success", "data": {"removed": 1}}
    assert not export_dir.exists()


def test_short_retention_from_the_environment(make_app: AppFactory) -> None:
    server = make_app(YBB_RETENTION_HOURS="0.0003")  # about 1.1 seconds
    client = server.test_client()
    data = client.post(EXPORT, json={"data": participants(2)}).get_json()["data"]
    assert client.get(data["status_url"]).status_code == 200
    time.sleep(1.3)
    assert_error_envelope(client.get(data["status_url"]), 404, "Export not found or expired")
    ctx: ApiContext = server.extensions["ybb_api"]
    assert cleanup_if_free(ctx.store, ctx.scheduler.lock_path) == 1


def test_download_already_streaming_survives_cleanup(ctx: ApiContext, client: FlaskClient) -> None:
    data = client.post(EXPORT, json={"data": participants(6000)}).get_json()["data"]
    url = data["archive"]["download_url"]
    expected = client.get(url).data
    assert len(expected) > 256 * 1024  # more than one block
    resp = client.get(url, buffered=False)
    chunks = iter(resp.response)
    first = next(chunks)  # the stream has started
    store = ctx.store
    assert isinstance(store, SQLiteStore)
    store.clock = lambda: time.time() + DAY + 60
    assert store.cleanup() == 1
    assert not (ctx.settings.exports_dir / data["export_id"]).exists()
    rest = b"".join(chunks)
    resp.close()
    assert first + rest == expected


HOLD_LOCK_FILE = (
    "import fcntl, sys\n"
    "f = open(sys.argv[1], 'a+b'); fcntl.flock(f, fcntl.LOCK_EX)\n"
    "print('locked', flush=True); sys.stdin.readline()\n"
)
HOLD_ADVISORY_LOCK = (  # another machine cleaning: the lock is the database's, not a file's
    "import sys, psycopg\n"
    "from export_core.store.postgres import CLEANUP_LOCK\n"
    "c = psycopg.connect(sys.argv[2]); c.execute('SELECT pg_advisory_lock(%s)', (CLEANUP_LOCK,))\n"
    "print('locked', flush=True); sys.stdin.readline()\n"
)


def test_cleanup_runs_in_one_process_at_a_time(ctx: ApiContext) -> None:
    import fcntl

    lock = ctx.scheduler.lock_path
    lock.parent.mkdir(parents=True, exist_ok=True)
    code = HOLD_ADVISORY_LOCK if ctx.settings.store == "postgres" else HOLD_LOCK_FILE
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(lock), ctx.settings.database_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert cleanup_if_free(ctx.store, lock) is None  # another process is cleaning
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    assert cleanup_if_free(ctx.store, lock) == 0
    assert fcntl.LOCK_NB  # the lock is non-blocking: a busy round is skipped, not queued


def test_orphaned_directories_are_removed(settings: Settings) -> None:
    import os

    store = store_for(settings)
    orphan = settings.exports_dir / "no-such-export.partial"
    orphan.mkdir(parents=True)
    (orphan / "half.xlsx").write_bytes(b"x")
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    store.cleanup()
    assert not orphan.exists()


def test_periodic_cleanup_thread_removes_expired_exports(make_app: AppFactory) -> None:
    server = make_app(YBB_CLEANUP_INTERVAL_SECONDS="1")
    ctx: ApiContext = server.extensions["ybb_api"]
    client = server.test_client()
    data = client.post(EXPORT, json={"data": participants(2)}).get_json()["data"]
    export_dir = ctx.settings.exports_dir / data["export_id"]
    store = ctx.store
    assert isinstance(store, SQLiteStore)
    store.clock = lambda: time.time() + DAY + 60
    client.get("/health")  # the scheduler was started lazily by the first request
    deadline = time.monotonic() + 15
    while export_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not export_dir.exists()


def test_many_connections_opening_a_new_database_at_once(settings: Settings) -> None:
    """Workers and threads open the same fresh file together (first request + cleanup
    thread): switching it to WAL must not fail with "database is locked"."""
    import threading

    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def open_and_use() -> None:
        try:
            store = store_for(settings)  # its own Database, so its own connections
            barrier.wait(timeout=10)
            store.list(limit=1)
            store.begin(OPTIONS, 1)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert store_for(settings).list(limit=50)[1] == 8


def test_heartbeat_keeps_a_running_export_lease_fresh(settings: Settings) -> None:
    from export_core.store.leases import Leases

    store = store_for(settings)
    record = store.begin(OPTIONS, 3)
    query = "SELECT heartbeat_at FROM exports WHERE export_id = ?"
    first = store.db.read_all(query, (record.export_id,))[0][0]
    leases = Leases(store.db, interval=0.05)
    leases.track(record.export_id)
    deadline = time.monotonic() + 10
    while store.db.read_all(query, (record.export_id,))[0][0] == first:
        assert time.monotonic() < deadline, "heartbeat never refreshed the lease"
        time.sleep(0.05)
    leases.untrack(record.export_id)
    assert record.export_id not in leases.mine()


def test_files_outside_the_exports_dir_are_never_served(
    ctx: ApiContext, client: FlaskClient, tmp_path: Path
) -> None:
    data = client.post(EXPORT, json={"data": participants(3)}).get_json()["data"]
    secret = tmp_path / "outside.txt"
    secret.write_text("not an export")
    stored = ctx.settings.exports_dir / data["export_id"] / data["file_name"]
    stored.unlink()
    stored.symlink_to(secret)  # e.g. planted by someone with write access to the data dir
    assert_error_envelope(client.get(data["download_url"]), 404)


def test_cancel_removes_unfinished_exports_and_fences_ids_not_begun(settings: Settings) -> None:
    store = store_for(settings)
    running = store.begin(OPTIONS, 3)
    (store.exports_dir / f"{running.export_id}.partial").mkdir(parents=True)
    assert store.cancel(running.export_id) is True
    assert store.list() == ([], 0)
    assert not (store.exports_dir / f"{running.export_id}.partial").exists()
    done = store.run_export(readers.records_to_frame(participants(3)), OPTIONS)
    assert store.cancel(done.export_id) is False and store.get(done.export_id).state == "completed"
    fenced = "0b0e8f4e-5a1c-4f7e-9d2b-3c6a7e1f2d40"
    assert store.cancel(fenced) is True  # not begun yet: it can no longer begin
    with pytest.raises(NotFound, match=r"^Export cancelled$"):
        store.begin(OPTIONS, 3, export_id=fenced)
    with pytest.raises(NotFound, match=r"^Export not found or expired$"):
        store.get(fenced)  # the fence is invisible ...
    assert [r.export_id for r in store.list()[0]] == [done.export_id]
    assert store.cleanup() == 1  # ... and goes with the next cleanup (done stays)
    assert store.begin(OPTIONS, 3, export_id=fenced).export_id == fenced


def test_concurrent_claims_of_one_key_from_two_machines(settings: Settings) -> None:
    """Two stores (two machines' processes) claim the same new key at the same moment:
    exactly one gets it, the other is told it is in progress; the remembered answer then
    reaches both."""
    import threading

    from export_core.errors import IdempotencyInProgress
    from export_core.store import StoredResponse

    machines = [store_for(settings), store_for(settings)]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def claim(store: SQLiteStore) -> None:
        barrier.wait(timeout=10)
        try:
            outcomes.append("claimed" if store.claim_idempotency_key("k", "h") is None else "?")
        except IdempotencyInProgress:
            outcomes.append("in progress")

    threads = [threading.Thread(target=claim, args=(m,)) for m in machines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["claimed", "in progress"]
    machines[0].remember_response("k", StoredResponse(200, b'{"ok":1}', None))
    assert machines[1].claim_idempotency_key("k", "h") == StoredResponse(200, b'{"ok":1}', None)


def test_the_slot_limit_counts_this_machines_exports(settings: Settings) -> None:
    """With a store shared by several machines, another host's running exports do not take
    this machine's slots (the limit protects each machine's memory)."""
    store = store_for(settings)
    store.settings = Settings(**{**settings.__dict__, "max_concurrent_exports": 1})
    elsewhere = store.begin(OPTIONS, 3)
    with store.db.write() as conn:  # as if another machine were writing it
        conn.execute(
            "UPDATE exports SET owner = ? WHERE export_id = ?",
            ("other-host:4242:1.000", elsewhere.export_id),
        )
    mine = store.begin(OPTIONS, 3)
    with pytest.raises(Exception, match="Too many exports"):
        store.begin(OPTIONS, 3)
    assert store.get(elsewhere.export_id).state == "processing"  # its lease is fresh
    assert mine.state == "processing"


def test_an_export_of_a_machine_that_went_silent_fails_once_its_lease_runs_out(
    settings: Settings,
) -> None:
    """Another host's process cannot be probed: its export is failed by whichever machine
    reads it once its heartbeat is older than the lease, not before."""
    store = store_for(settings)
    record = store.begin(OPTIONS, 3)
    store.leases.untrack(record.export_id)  # this process stops beating for it, as if gone

    def written_elsewhere(heartbeat_age: float) -> None:
        with store.db.write() as conn:
            conn.execute(
                "UPDATE exports SET owner = ?, heartbeat_at = ? WHERE export_id = ?",
                ("other-host:4242:1.000", time.time() - heartbeat_age, record.export_id),
            )

    written_elsewhere(store.lease_seconds / 2)
    assert store.get(record.export_id).state == "processing"  # lease still fresh
    written_elsewhere(store.lease_seconds + 1)
    failed = store.get(record.export_id)
    assert (failed.state, failed.error) == ("failed", INTERRUPTED)
