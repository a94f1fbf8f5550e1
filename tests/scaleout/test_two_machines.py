"""Two app machines (separate gunicorns, separate local data dirs) on one PostgreSQL, one
S3-protocol server and one Redis, behind a real nginx running deploy/nginx.conf: whatever one
machine creates, the other serves; cleanup by both at once removes each export exactly once;
a machine killed mid-export leaves it failed, not "processing" forever.

The tests share one cluster and run in file order (the last one kills a machine). The figures
(operations crossing machines, exports lost, duplicate cleanups) are printed by the last test:
`pytest tests/scaleout -s`."""

from __future__ import annotations

import io
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import openpyxl
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import participants
from tests.pg_server import fresh_database
from tests.s3_server import S3Server
from tests.ui.helpers import wait_until

from .cluster import Cluster, two_machines

EXPORT = "/api/ybb/export/participants"
POLL_SECONDS = 60


@pytest.fixture(scope="module")
def cluster(
    postgres_admin: str, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("two-machines")
    with fresh_database(postgres_admin) as url, two_machines(work, url, s3) as running:
        yield running


def created_on(cluster: Cluster, body: dict[str, Any], **kw: Any) -> tuple[dict[str, Any], str]:
    """POST an export through nginx; its response data and the machine that wrote it."""
    resp = cluster.request("POST", EXPORT, json=body, **kw)
    assert resp.status_code in (200, 202), resp.text
    return resp.json()["data"], cluster.machine_of(resp)


def crossed(cluster: Cluster, method: str, path: str, creator: str, **kw: Any) -> Any:
    """`method path` landing on the machine that did NOT create the export."""
    resp = cluster.request(method, path, on=cluster.other(creator), **kw)
    cluster.tally.crossings += 1
    if resp.status_code == 404:
        cluster.tally.lost += 1
    return resp


def test_sync_export_status_downloads_batches_zip_signed_links_on_the_other(
    cluster: Cluster,
) -> None:
    data, creator = created_on(cluster, {"data": participants(6000), "template": "complete"})
    export_id = data["export_id"]
    status = crossed(cluster, "GET", f"/api/ybb/export/{export_id}/status", creator)
    assert status.status_code == 200 and status.json()["state"] == "completed"
    batch = crossed(cluster, "GET", f"/api/ybb/export/{export_id}/download/batch/2", creator)
    assert batch.status_code == 200
    assert openpyxl.load_workbook(io.BytesIO(batch.content)).active.max_row == 2001  # type: ignore[union-attr]
    archive = crossed(cluster, "GET", f"/api/ybb/export/{export_id}/download/zip", creator)
    assert len(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) == 3
    assert len(archive.content) == data["archive"]["zip_file_size"]
    links = cluster.request("POST", f"/api/ybb/export/{export_id}/signed-links", on=creator)
    signed = crossed(cluster, "GET", links.json()["data"]["download_url"], creator)
    assert signed.status_code == 200 and signed.content == archive.content
    listed = crossed(cluster, "GET", "/api/ybb/exports?limit=100", creator)
    assert export_id in [e["export_id"] for e in listed.json()["data"]["exports"]]


def test_async_export_finished_by_one_is_read_by_the_other(cluster: Cluster) -> None:
    data, creator = created_on(cluster, {"data": participants(3000), "async": True})
    status_path = f"/api/ybb/export/{data['export_id']}/status"
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        status = crossed(cluster, "GET", status_path, creator)
        assert status.status_code == 200
        if status.json()["state"] != "processing":
            break
        assert time.monotonic() < deadline, "the async export never finished"
        time.sleep(0.2)
    assert status.json()["state"] == "completed"
    download = crossed(cluster, "GET", f"/api/ybb/export/{data['export_id']}/download", creator)
    assert openpyxl.load_workbook(io.BytesIO(download.content)).active.max_row == 3001  # type: ignore[union-attr]


def test_idempotent_retry_on_the_other_machine_gets_the_same_export(cluster: Cluster) -> None:
    body = {"data": participants(10)}
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    data, creator = created_on(cluster, body, headers=key)
    retry = crossed(cluster, "POST", EXPORT, creator, json=body, headers=key)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["data"]["export_id"] == data["export_id"]
    changed = {"data": participants(11)}
    conflict = crossed(cluster, "POST", EXPORT, creator, json=changed, headers=key)
    assert conflict.status_code == 422  # the key was used with another body, on any machine


def test_delete_on_the_other_machine_removes_it_everywhere(cluster: Cluster, s3: S3Server) -> None:
    data, creator = created_on(cluster, {"data": participants(5)})
    path = f"/api/ybb/export/{data['export_id']}"
    assert crossed(cluster, "DELETE", path, creator).status_code == 200
    # ... and the creator no longer has it either (files and row are shared)
    gone = cluster.request("GET", f"{path}/download", on=creator)
    assert gone.status_code == 404 and gone.json()["status"] == "error"


def _expire_all(database_url: str) -> list[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "UPDATE exports SET expires_at = 0 WHERE state != 'processing' RETURNING export_id"
        ).fetchall()
    return [r[0] for r in rows]


def _removed_so_far(cluster: Cluster) -> int:
    """Expired exports removed by any process of either machine (its /metrics: API calls and
    the workers' own cleanup rounds)."""
    total = 0.0
    for live in cluster.machines.values():
        text = cluster.session.get(f"{live.url}/metrics", timeout=30).text
        for family in text_string_to_metric_families(text):
            if family.name == "ybb_cleanup_removed_exports":
                total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return int(total)


def _exports_left(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM exports").fetchall()[0][0])


def test_cleanup_by_both_machines_at_once_removes_each_export_once(
    cluster: Cluster, s3: S3Server
) -> None:
    for _ in range(6):
        created_on(cluster, {"data": participants(20)})
    url = cluster.machines["A"].extra_env["DATABASE_URL"]
    bucket = cluster.machines["A"].extra_env["YBB_S3_BUCKET"]
    before = _removed_so_far(cluster)
    expired = _expire_all(url)  # every export's retention is over (the clock moved on)
    assert len(expired) >= 6
    removed: dict[str, int] = {}
    barrier = threading.Barrier(4)

    def clean(name: str, i: int) -> None:
        live = cluster.machines[name]
        barrier.wait(timeout=30)
        resp = cluster.session.post(f"{live.url}/api/ybb/cleanup", timeout=120)
        removed[f"{name}{i}"] = resp.json()["data"]["removed"]

    threads = [threading.Thread(target=clean, args=(n, i)) for n in ("A", "B") for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(removed) == 4, "a cleanup call did not answer"

    # A worker serving its first request runs a cleanup round of its own; holding the lock, it
    # makes the four calls answer 0 (they never wait), and if it began before the exports
    # expired it removes none of them either. Then a later call does the work: counted below
    # from every process's metrics, so a second removal of any export would still show.
    def all_removed() -> bool:
        if _exports_left(url) == 0:
            return True
        cluster.request("POST", "/api/ybb/cleanup")
        return False

    wait_until(all_removed, "every expired export to be removed")
    by_anyone = _removed_so_far(cluster) - before
    cluster.tally.duplicate_cleanups += max(0, by_anyone - len(expired))
    assert by_anyone == len(expired), (by_anyone, removed)
    assert sum(removed.values()) <= by_anyone, removed
    assert s3.keys(bucket) == []


def test_a_machine_killed_mid_export_is_noticed_by_the_survivor(cluster: Cluster) -> None:
    body = {"data": participants(50_000), "template": "complete", "async": True}
    data, victim = created_on(cluster, body)
    status_path = f"/api/ybb/export/{data['export_id']}/status"
    first = cluster.request("GET", status_path)
    assert first.json()["state"] == "processing", "finished before the machine could be killed"
    cluster.kill(victim)
    deadline = time.monotonic() + POLL_SECONDS + 60  # other hosts: the lease (60 s) runs out
    while True:
        status = cluster.request("GET", status_path)  # nginx skips the dead machine
        assert cluster.machine_of(status) != victim
        if status.json()["state"] != "processing":
            break
        assert time.monotonic() < deadline, "the survivor never marked the export failed"
        time.sleep(0.5)
    assert status.json()["state"] == "failed"
    assert "interrupted" in status.json()["error"]
    retried, survivor = created_on(cluster, {"data": participants(5)})  # service goes on
    assert survivor != victim and retried["export_id"]
    print(f"\nmulti-machine test: {cluster.tally.report()}")
    assert cluster.tally.lost == 0 and cluster.tally.duplicate_cleanups == 0
