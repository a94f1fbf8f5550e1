"""The Procfile's gunicorn with 4 workers: an export made through one request is visible to
every worker, survives a restart, chunked bodies over the limit are refused, and a big body
waits in an unnamed temporary file while it is read, gone once answered."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import sqlite3
import struct
import threading
import time
from pathlib import Path
from typing import Any

import openpyxl
import orjson
import pytest
import requests

from benchmarks.datagen import records

from .conftest import participants
from .envelope import assert_error_envelope
from .live_server import LiveServer
from .openapi_check import assert_matches_openapi

pytestmark = [pytest.mark.live, pytest.mark.slow]
STATUS = "/api/ybb/export/{export_id}/status"


def test_cross_worker_visibility_and_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with LiveServer(data_dir, workers=4) as live:
        doc = requests.get(f"{live.url}/api/ybb/openapi.json", timeout=10).json()
        resp = requests.post(
            f"{live.url}/api/ybb/export/participants",
            json={"data": participants(6000), "template": "complete"},
            timeout=60,
        )
        assert resp.status_code == 200, resp.text
        assert_matches_openapi(doc, "/api/ybb/export/participants", "post", 200, resp.json())
        data = resp.json()["data"]
        export_id, zip_size = data["export_id"], data["archive"]["zip_file_size"]
        pids = set()
        with requests.Session() as session:
            for _ in range(24):
                # a new connection each time, so the kernel spreads them over the workers
                status = requests.get(f"{live.url}{data['status_url']}", timeout=10)
                assert status.status_code == 200
                assert status.json()["state"] == "completed"
                assert_matches_openapi(doc, STATUS, "get", 200, status.json())
                pids.add(status.headers["X-Served-By"])
                listing = requests.get(f"{live.url}/api/ybb/exports", timeout=10).json()
                assert export_id in [e["export_id"] for e in listing["data"]["exports"]]
                pids.add(session.get(f"{live.url}/health", timeout=10).headers["X-Served-By"])
            for batch in data["individual_files"]:
                got = requests.get(f"{live.url}{batch['download_url']}", timeout=30)
                assert len(got.content) == batch["file_size"]
                pids.add(got.headers["X-Served-By"])
        print(f"requests were served by {len(pids)} worker(s): {sorted(pids)}")
        assert len(pids) >= 2, "every request hit one worker; cross-worker not exercised"
    assert live.proc is not None and live.proc.returncode == 0, live.log()

    with LiveServer(data_dir, workers=2) as again:
        status = requests.get(f"{again.url}{data['status_url']}", timeout=10).json()
        assert status["state"] == "completed"
        zipped = requests.get(f"{again.url}/api/export/{export_id}/download/zip", timeout=30)
        assert zipped.headers["Content-Type"] == "application/zip"
        assert len(zipped.content) == zip_size
        single = requests.get(f"{again.url}/api/ybb/export/{export_id}/download/batch/1")
        path = tmp_path / "batch1.xlsx"
        path.write_bytes(single.content)
        assert openpyxl.load_workbook(path).active.max_row == 2001


class RawResponse:
    """An http.client answer with the attributes assert_error_envelope reads."""

    def __init__(self, resp: http.client.HTTPResponse) -> None:
        self.status_code = resp.status
        self.headers = requests.structures.CaseInsensitiveDict(resp.getheaders())
        self.content = resp.read()
        self.text = self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _chunked_post(port: int, path: str, blocks: list[bytes]) -> RawResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for block in blocks:
                conn.send(f"{len(block):x}\r\n".encode() + block + b"\r\n")
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer 413 and close before reading everything
        return RawResponse(conn.getresponse())
    finally:
        conn.close()


def test_chunked_bodies_on_the_live_server(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "data", workers=1, YBB_MAX_BODY_MB="1") as live:
        small = b'{"data": [{"id": 1, "first_name": "Ann"}]}'
        resp = _chunked_post(live.port, "/api/ybb/export/participants", [small])
        assert resp.status_code == 200, resp.text
        filler = b'{"data": [' + b",".join([b'{"id": 1, "notes": "' + b"x" * 1000 + b'"}'] * 1200)
        blocks = [filler[i : i + 65536] for i in range(0, len(filler), 65536)] + [b"]}"]
        resp = _chunked_post(live.port, "/api/ybb/export/participants", blocks)
        assert_error_envelope(resp, 413, "Request body too large: the limit is 1 MB")


def _spool_files(pid: int, spool: Path) -> list[str]:
    """The body spool files worker `pid` has open or mapped in `spool` (its descriptors and
    mappings): unnamed files, "#<inode> (deleted)" (O_TMPFILE), or "ybb-body-..." ones where
    the file system has no O_TMPFILE. gunicorn's and the metrics' own files there are not."""

    def spooled(path: str) -> bool:
        name = path.removeprefix(str(spool) + "/")
        return path != name and name.startswith(("#", "ybb-body-"))

    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # a descriptor closed meanwhile
            if spooled(target := os.readlink(fd)):
                found.append(target)
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return found + [line for line in maps if len(fields := line.split(None, 5)) == 6
                    and spooled(fields[5])]  # fmt: skip


def _until(check: Any, what: str, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while not (got := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.02)
    return got


def test_a_big_body_is_spooled_while_it_is_read_and_let_go_after(tmp_path: Path) -> None:
    """A chunked export body passes 1 MiB: from then on the worker holds it in an unnamed file
    in TMPDIR (export_core.spool), seen here while the client pauses halfway; once answered,
    nothing of it stays open or mapped, also after a body the fast path turns down late (a
    nested value in the last record: the whole-document decode reads the file again) and a
    truncated one (400)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    data = records("participants", 6_000, seed=5)
    body = orjson.dumps({"template": "complete", "format": "csv", "data": data})
    half = len(body) // 2
    assert half > 1 << 20
    with LiveServer(tmp_path / "data", workers=1, TMPDIR=str(spool)) as live:
        pid = int(requests.get(f"{live.url}/health", timeout=10).headers["X-Served-By"])
        conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=60)
        try:
            conn.putrequest("POST", "/api/ybb/export/participants")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()

            def send(part: bytes) -> None:
                for at in range(0, len(part), 65536):
                    block = part[at : at + 65536]
                    conn.send(f"{len(block):x}\r\n".encode() + block + b"\r\n")

            send(body[:half])
            held = _until(lambda: _spool_files(pid, spool), "the body spooled")
            assert all("(deleted)" in entry for entry in held), held  # no name to leave behind
            send(body[half:])
            conn.send(b"0\r\n\r\n")
            resp = RawResponse(conn.getresponse())
        finally:
            conn.close()
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"]["total_records"] == 6_000
        data[-1]["notes"] = {"nested": [1, 2]}
        url, json_type = (
            f"{live.url}/api/ybb/export/participants",
            {"Content-Type": "application/json"},
        )
        nested_body = orjson.dumps({"template": "complete", "data": data})
        nested = requests.post(url, data=nested_body, headers=json_type, timeout=60)
        assert nested.status_code == 200, nested.text
        assert nested.json()["data"]["total_records"] == 6_000
        truncated = requests.post(url, data=body[:-100], headers=json_type, timeout=60)
        assert truncated.status_code == 400
        assert truncated.json()["message"].startswith("Request body is not valid JSON")
        _until(lambda: not _spool_files(pid, spool), "the spooled bodies let go")
    assert not [p for p in spool.iterdir() if p.name.startswith("ybb-body-")]


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads in /proc/pid/status")


def test_a_big_body_with_a_length_is_decoded_while_it_arrives(tmp_path: Path) -> None:
    """A Content-Length body over 1 MiB is spooled by a thread of its own while the request's
    thread decodes what has arrived (export_core.spool.ArrivingBody): sent in two halves with
    a pause between, it is answered as a whole body is; a client that closes halfway gets the
    truncated-JSON error; a client that vanishes halfway leaves no thread reading and no
    spooled file behind, and the worker answers the next request."""
    spool = tmp_path / "spool"
    spool.mkdir()
    body = orjson.dumps({"template": "complete", "data": records("participants", 6_000, seed=6)})
    half = len(body) // 2
    assert half > 1 << 20
    head = _post_head(len(body))
    with LiveServer(tmp_path / "data", workers=1, TMPDIR=str(spool)) as live:
        pid = int(requests.get(f"{live.url}/health", timeout=10).headers["X-Served-By"])
        with socket.create_connection(("127.0.0.1", live.port), timeout=60) as sock:
            sock.sendall(head + body[:half])
            held = _until(lambda: _spool_files(pid, spool), "the body spooled")
            assert all("(deleted)" in entry for entry in held), held
            time.sleep(0.3)
            sock.sendall(body[half:])
            received = b""
            while block := sock.recv(65536):
                received += block
        status, _, payload = received.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 200"), received[:500]
        assert json.loads(payload)["data"]["record_count"] == 6_000
        threads = _threads(pid)

        [(status_code, answer)] = _raw_exchange(live.port, [head + body[:half]], half_close=True)
        assert status_code == 400, answer[:500]
        assert json.loads(answer)["message"].startswith("Request body is not valid JSON")

        with socket.create_connection(("127.0.0.1", live.port), timeout=60) as sock:
            sock.sendall(head + body[:half])
            _until(lambda: _spool_files(pid, spool), "the vanishing client's body spooled")
            # closed with a reset (SO_LINGER on, 0 s): the worker's reads fail at once
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        _until(lambda: not _spool_files(pid, spool), "the spooled bodies let go")
        _until(lambda: _threads(pid) <= threads, "the body reader's thread gone")
        again = requests.post(
            f"{live.url}/api/ybb/export/participants",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        assert again.status_code == 200, again.text
        assert again.headers["X-Served-By"] == str(pid)
    assert live.proc is not None and live.proc.returncode == 0, live.log()


def _writing(data_dir: Path, writer: threading.Thread) -> None:
    """Return once an export is being written (a "processing" row), while `writer` runs."""
    while writer.is_alive():
        query = "SELECT COUNT(*) FROM exports WHERE state = 'processing'"
        # (the database may not exist yet, or be locked for a moment)
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(data_dir / "exports.sqlite3")) as db,
        ):
            if db.execute(query).fetchone()[0]:
                return
        time.sleep(0.005)
    raise AssertionError("the export ended before it was seen being written")


def test_a_worker_serving_an_export_leaves_new_connections_to_an_idle_one(
    tmp_path: Path,
) -> None:
    """With two workers, a request that arrives while one worker is writing an export is
    taken by the other (app/gunicorn_conf.py, SpreadingThreadWorker); plain gthread gave it to
    either, as the two raced for it (~30% of pairs on one worker, measured). A long defer
    here, so that a slow machine cannot make the idle worker miss its turn. A round counts
    only when the export's response arrived well after /health was sent (on a loaded machine
    the export may end between being seen and /health being sent); six must count. 40,000
    rows: since the eleventh round a 20,000-row export often ended within 0.1 s of /health."""
    body = {"data": participants(40_000), "template": "complete"}
    data_dir = tmp_path / "data"
    counted = 0
    with LiveServer(
        data_dir, workers=2, YBB_SERVED_BY_HEADER="1", GUNICORN_ACCEPT_DEFER_MS="1000"
    ) as live:
        for _ in range(30):
            served: list[tuple[str, float]] = []

            def export(served: list[tuple[str, float]] = served) -> None:
                resp = requests.post(
                    f"{live.url}/api/ybb/export/participants", json=body, timeout=120
                )
                assert resp.status_code == 200, resp.text
                served.append((resp.headers["X-Served-By"], time.monotonic()))

            writer = threading.Thread(target=export)
            writer.start()
            _writing(data_dir, writer)
            sent = time.monotonic()
            health = requests.get(f"{live.url}/health", timeout=30)
            writer.join()
            assert served
            (export_worker, answered) = served[0]
            if answered - sent > 0.1:  # the export was still being served when /health came
                counted += 1
                assert health.headers["X-Served-By"] != export_worker
            if counted == 6:
                break
    assert counted == 6, f"only {counted} of 30 rounds sent /health well before the export ended"


def _raw_exchange(
    port: int, parts: list[bytes], *, pause: float = 0.0, half_close: bool = False
) -> list[tuple[int, bytes]]:
    """Sends `parts` on one connection (sleeping `pause` between them), optionally closes the
    sending side, reads until the server closes (the last request says Connection: close, or
    the client half-closed) and returns the responses in order: [(status, body), ...]."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        for index, part in enumerate(parts):
            if index and pause:
                time.sleep(pause)
            sock.sendall(part)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while block := sock.recv(65536):
            received += block
    answers = []
    while received:
        head, _, rest = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(fields["content-length"])
        answers.append((int(lines[0].split()[1]), rest[:length]))
        received = rest[length:]
    return answers


def _post_head(length: int, *, close: bool = True) -> bytes:
    return (
        "POST /api/ybb/export/participants HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
        f"{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n"
    ).encode()


def test_request_bodies_over_one_connection(tmp_path: Path) -> None:
    """How app/api/body.read_body meets gunicorn's reader: a body whose first bytes come with
    the headers and the rest in slow pieces is read whole, a request pipelined right behind a
    body is answered after it, and a client that closes its side before its Content-Length
    gets what arrived decoded (here JSON cut short: the JSON error, at the offset it stopped).
    Two big bodies on one kept-alive connection with a request pipelined behind them are
    answered in order."""
    body = json.dumps({"data": participants(3000), "template": "complete"}).encode()
    with LiveServer(tmp_path / "data", workers=1) as live:
        # headers and the first bytes of the body in one packet, the rest in 4 slow pieces
        step = len(body) // 4 + 1
        pieces = [_post_head(len(body)) + body[:1000]]
        pieces += [body[i : i + step] for i in range(1000, len(body), step)]
        [(status, payload)] = _raw_exchange(live.port, pieces, pause=0.2)
        assert status == 200, payload[:500]
        assert json.loads(payload)["data"]["record_count"] == 3000

        # a body and a second request in one packet: both answered, in order
        small = json.dumps({"data": participants(5)}).encode()
        health = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        pipelined = _post_head(len(small), close=False) + small + health
        (first, export), (second, health) = _raw_exchange(live.port, [pipelined])
        assert first == 200 and json.loads(export)["data"]["record_count"] == 5
        assert second == 200 and json.loads(health)["status"] == "healthy"

        # a body over the spool size read from the socket (app/api/gunicorn_body), twice on
        # one kept-alive connection, then a request pipelined right behind the second
        big = json.dumps({"data": participants(4000), "template": "complete"}).encode()
        assert len(big) > 1 << 20
        last = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        big_twice = [_post_head(len(big), close=False) + big] * 2 + [last]
        answers = _raw_exchange(live.port, [b"".join(big_twice)])
        assert [status for status, _ in answers] == [200, 200, 200], answers[2][1][:500]
        assert [json.loads(a)["data"]["record_count"] for _, a in answers[:2]] == [4000, 4000]
        assert json.loads(answers[2][1])["status"] == "healthy"

        # the client closes its side 10 bytes before its Content-Length
        [(status, payload)] = _raw_exchange(
            live.port, [_post_head(len(small)) + small[:-10]], half_close=True
        )
        assert status == 400, payload[:500]
        error = json.loads(payload)
        assert error["status"] == "error", error
        assert error["message"].startswith("Request body is not valid JSON: unexpected end")
        assert error["message"].endswith(f"(char {len(small) - 10})"), error
    assert live.proc is not None and live.proc.returncode == 0, live.log()
