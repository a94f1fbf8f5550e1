"""The export body's sliced decode (export_core.jsonslices) inside the API: taken for
well-formed bodies, the same frame and Idempotency-Key hash as decoding whole, and the
ordinary path (with its exact errors) for everything else."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient

from app.api.body import MAX_NESTING, decode_export_body, request_hash
from benchmarks.datagen import records
from export_core.jsonslices import decode_records
from export_core.model import ExportOptions
from export_core.readers import records_to_frame
from export_core.service import write_export
from export_core.spool import arriving as spool_arriving
from export_core.spool import release_behind, spool

from .chunked import post_chunked
from .envelope import assert_error_envelope

ROUTE = "/api/ybb/export/participants"


def body_of(n: int, **fields: Any) -> dict[str, Any]:
    return {"template": "complete", **fields, "data": records("participants", n, seed=3)}


def test_a_body_of_several_slices_is_decoded_in_slices() -> None:
    body = body_of(6_000, format="csv")  # ~2.5 MB: three slices of 1 MB
    raw = orjson.dumps(body)
    assert len(raw) > 2 * (1 << 20)
    decoded = decode_export_body(raw, ROUTE, 50_000, hashed=True)
    assert decoded.frame is not None, "a well-formed body must take the sliced path"
    assert decoded.frame.equals(records_to_frame(body["data"]))
    assert decoded.fields == {"template": "complete", "format": "csv"}
    assert decoded.request_hash == request_hash(ROUTE, body)


@pytest.mark.parametrize("hashed", [False, True])
def test_a_spooled_body_decodes_as_the_same_frame(tmp_path: Path, hashed: bool) -> None:
    """A big body read into a file map (export_core.spool) decodes to the frame and hash of
    the same bytes in memory; with an Idempotency-Key the slices are dicts (no columns)."""
    body = body_of(6_000, format="csv")
    raw = orjson.dumps(body)
    spooled = spool([raw], str(tmp_path))
    assert not isinstance(spooled, bytes)
    decoded = decode_export_body(spooled, ROUTE, 50_000, hashed=hashed)
    in_memory = decode_export_body(raw, ROUTE, 50_000, hashed=hashed)
    assert decoded.frame is not None and in_memory.frame is not None
    assert decoded.frame.equals(in_memory.frame)
    assert decoded.frame.equals(records_to_frame(body["data"]))
    assert decoded.fields == in_memory.fields == {"template": "complete", "format": "csv"}
    assert decoded.request_hash == in_memory.request_hash


@pytest.mark.parametrize("hashed", [False, True])
def test_a_body_decoded_while_it_arrives_is_the_same(tmp_path: Path, hashed: bool) -> None:
    """A body spooled by a thread as its blocks come (export_core.spool.ArrivingBody, what a
    Content-Length body of 1 MiB or more becomes) decodes to the frame and hash of the same
    bytes in memory; one the fast path refuses late gets the ordinary answer; the thread is
    done and the spool file closed either way."""
    body = body_of(6_000, format="csv")
    raw = orjson.dumps(body)
    blocks = (raw[at : at + 100_000] for at in range(0, len(raw), 100_000))
    arriving = spool_arriving(blocks, len(raw), str(tmp_path))
    assert arriving is not None
    decoded = decode_export_body(arriving, ROUTE, 50_000, hashed=hashed)
    in_memory = decode_export_body(raw, ROUTE, 50_000, hashed=hashed)
    assert decoded.frame is not None and in_memory.frame is not None
    assert decoded.frame.equals(in_memory.frame)
    assert decoded.fields == in_memory.fields == {"template": "complete", "format": "csv"}
    assert decoded.request_hash == in_memory.request_hash
    assert arriving.map is None and arriving._file.closed
    body["data"][5_999]["notes"] = {"nested": True}
    nested = orjson.dumps(body)
    arriving = spool_arriving(iter([nested[:500_000], nested[500_000:]]), len(nested))
    assert arriving is not None
    refused = decode_export_body(arriving, ROUTE, 50_000, hashed=hashed)
    assert refused.frame is None and refused.fields["data"][5_999]["notes"] == {"nested": True}
    assert arriving.map is None and arriving._file.closed


def test_the_decoder_releases_what_it_has_gone_past(tmp_path: Path) -> None:
    raw = orjson.dumps(body_of(6_000))
    spooled = spool([raw], str(tmp_path))
    release = release_behind(spooled)
    assert release is not None
    offsets: list[int] = []

    def recording(offset: int) -> None:
        offsets.append(offset)
        release(offset)

    sliced = decode_records(spooled, release=recording)
    assert sliced is not None and sliced.frame.height == 6_000
    assert offsets == sorted(offsets) and len(offsets) >= 3, offsets
    assert len(raw) - offsets[-1] < 16, "the last slice ends at the end of the list"


def test_a_spooled_body_the_fast_path_refuses_gets_the_ordinary_error(tmp_path: Path) -> None:
    body = body_of(6_000)
    body["data"][5_999]["notes"] = {"nested": True}  # in the last slice: released before it
    raw = spool([orjson.dumps(body)], str(tmp_path))
    decoded = decode_export_body(raw, ROUTE, 50_000, hashed=False)
    assert decoded.frame is None and decoded.fields["data"][5_999]["notes"] == {"nested": True}


def test_the_hash_ignores_key_order_and_layout_but_not_content() -> None:
    body = body_of(50)
    reordered = {"data": body["data"], "template": "complete"}
    first = decode_export_body(orjson.dumps(body), ROUTE, 100, hashed=True)
    second = decode_export_body(orjson.dumps(reordered, option=orjson.OPT_INDENT_2), ROUTE, 100,
                                hashed=True)  # fmt: skip
    assert first.request_hash == second.request_hash
    changed = body_of(50)
    changed["data"][7]["email"] = "other@example.com"
    third = decode_export_body(orjson.dumps(changed), ROUTE, 100, hashed=True)
    assert third.request_hash != first.request_hash
    other_route = decode_export_body(orjson.dumps(body), ROUTE + "x", 100, hashed=True)
    assert other_route.request_hash != first.request_hash


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "data",
    [
        [{"id": 1}, {}],  # an empty record
        [{"id": 1}, {"notes": _nested(MAX_NESTING + 1)}],  # too deep
        [{"id": 1}, {"notes": {"a": 1}}],  # nested: polars does not convert it per value
        [{"id": i} for i in range(11)],  # more records than allowed (10 below)
    ],
)
def test_bodies_the_checks_refuse_take_the_ordinary_path(data: list[Any]) -> None:
    decoded = decode_export_body(orjson.dumps({"data": data}), ROUTE, 10, hashed=False)
    assert decoded.frame is None
    assert decoded.fields["data"] == data


@pytest.mark.parametrize(
    ("bad", "max_records"),
    [({}, 5_000), ({"notes": _nested(MAX_NESTING + 1)}, 5_000), ({"id": 1}, 2_999)],
)
def test_later_slices_decoded_as_columns_are_checked_like_dicts(bad: Any, max_records: int) -> None:
    """Without an Idempotency-Key, slices after the first go straight to columns
    (export_core.jsoncolumns): a bad record there, or one record too many, still sends the
    body to the ordinary path and its errors."""
    body = body_of(3_000, format="csv")
    good = decode_export_body(orjson.dumps(body), ROUTE, 5_000, hashed=False)
    assert good.frame is not None and good.frame.equals(records_to_frame(body["data"]))
    body["data"][2_500] = bad
    decoded = decode_export_body(orjson.dumps(body), ROUTE, max_records, hashed=False)
    assert decoded.frame is None
    assert decoded.fields["data"] == body["data"]


def test_a_sliced_export_writes_what_the_engine_writes(client: FlaskClient, tmp_path: Path) -> None:
    body = body_of(6_000, format="csv")
    resp = client.post(ROUTE, data=orjson.dumps(body), content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_json()["data"]
    assert data["total_records"] == 6_000
    archive = client.get(data["archive"]["download_url"])
    assert archive.status_code == 200
    expected = write_export(
        records_to_frame(body["data"]), ExportOptions("participants", "complete", "csv"), tmp_path
    )
    with zipfile.ZipFile(io.BytesIO(archive.data)) as got:
        names = got.namelist()
        assert names == [f.file_name for f in expected.files]
        for name in names:
            assert got.read(name) == (tmp_path / name).read_bytes(), name


def test_a_big_chunked_body_is_spooled_and_exported(client: FlaskClient) -> None:
    """No Content-Length: a body that passes spool.SPOOL_MIN_BYTES while being read goes on
    into the file (the blocks read so far first)."""
    body = body_of(4_000, format="csv")
    raw = orjson.dumps(body)
    assert len(raw) > 1 << 20
    resp = post_chunked(client, ROUTE, raw)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["data"]["record_count"] == 4_000


def test_errors_in_a_big_body_are_the_ordinary_ones(client: FlaskClient) -> None:
    body = body_of(3_000)
    body["data"][2_500] = "not an object"
    resp = client.post(ROUTE, data=orjson.dumps(body), content_type="application/json")
    assert_error_envelope(resp, 400, "Record 2501 must be a JSON object with at least one field,"
                          " not a JSON string")  # fmt: skip
    broken = orjson.dumps(body_of(3_000))[:-40] + b"}"
    resp = client.post(ROUTE, data=broken, content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["message"].startswith("Request body is not valid JSON")


@pytest.mark.parametrize("idempotent", [False, True])
def test_record_keys_shaped_like_regexes_export(client: FlaskClient, idempotent: bool) -> None:
    """A key such as "^first.*$" once made the sliced decode pick columns by regex (a 500
    for a duplicate column). With an Idempotency-Key the sliced decode also feeds the request
    hash: both ways keep every key as a plain name."""
    rows = records("participants", 3_000, seed=5)  # ~1.2 MB: more than one slice
    for row in rows:
        row["^first.*$"] = "odd key"
    headers = {"Idempotency-Key": "regex-keys-1"} if idempotent else {}
    resp = client.post(
        ROUTE,
        data=orjson.dumps({"template": "standard", "format": "csv", "data": rows}),
        content_type="application/json",
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    csv_file = client.get(resp.get_json()["data"]["download_url"])
    lines = csv_file.data.decode("utf-8-sig").splitlines()
    assert len(lines) == 3_001
    assert rows[0]["first_name"] in lines[1]
