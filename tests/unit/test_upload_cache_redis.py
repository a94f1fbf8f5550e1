"""The parsed-upload cache on Redis (CACHE_REDIS_URL), the scale-out replacement of the
file cache (DESIGN.md), against a real redis-server: what one worker stores, another reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from components.samples import sample_json
from components.upload_cache import UPLOAD_TIMEOUT_SECONDS, UploadCache
from export_core.readers import read_json
from export_core.settings import Settings
from tests.redis_server import redis_server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def _settings(tmp_path: Path, redis_url: str) -> Settings:
    env = {"YBB_DATA_DIR": str(tmp_path / "data"), "YBB_SECRET_KEY": "t"}
    return Settings.from_env({**env, "CACHE_REDIS_URL": redis_url})


def test_a_frame_stored_by_one_worker_is_read_by_another(tmp_path: Path, redis_url: str) -> None:
    frame = read_json(sample_json("participants", 500))
    writer = UploadCache(_settings(tmp_path, redis_url))
    key = writer.put_frame(frame)
    reader = UploadCache(_settings(tmp_path, redis_url))  # another process's cache object
    got = reader.get_frame(key)
    assert got is not None and got.equals(frame)
    assert reader.get_columns(key) == frame.columns  # the schema alone, in order
    mapped = reader.mapped(key, "participants", "standard")
    assert mapped is not None and mapped.height == 500 and mapped.template.name == "standard"
    client = redis.Redis.from_url(redis_url)
    names = [k.decode() for k in client.keys("*")]
    assert [n for n in names if n.endswith(key)], names  # in Redis ...
    ttl = client.ttl(next(n for n in names if n.endswith(key)))
    assert 0 < ttl <= UPLOAD_TIMEOUT_SECONDS  # ... expiring like the file cache's entries
    uploads = tmp_path / "data" / "cache" / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []  # ... and not on disk


def test_unknown_and_malformed_keys_read_as_nothing(tmp_path: Path, redis_url: str) -> None:
    cache = UploadCache(_settings(tmp_path, redis_url))
    assert cache.get_frame("0" * 32) is None
    assert cache.get_frame("../../etc/passwd") is None
    assert cache.get_columns("0" * 32) is None and cache.get_columns("../x") is None
    assert cache.mapped("0" * 32, "participants", "standard") is None
