"""A real S3-protocol server for the tests: moto's standalone server (`moto_server`, from the
moto[server] dev requirement) as a separate process on a free loopback port. The code under
test only gets an endpoint URL, credentials and a bucket, as it would for MinIO or AWS."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.api.live_server import free_port
from tests.processes import stop

START_TIMEOUT_SECONDS = 30
ACCESS_KEY = "ybb-test-key"
SECRET_KEY = "ybb-test-secret"  # moto accepts any credentials
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """Where the server listens, and the settings that point the app at one bucket on it."""

    endpoint: str

    def env(self, bucket: str) -> dict[str, str]:
        """The app's environment for `bucket` (the documented YBB_FILES=s3 settings)."""
        return {
            "YBB_FILES": "s3",
            "YBB_S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self) -> Any:
        """A boto3 client for the test's own checks."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self) -> str:
        """Create a bucket with a random name."""
        name = f"ybb-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every object key in `bucket`."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


@contextlib.contextmanager
def s3_server(log_dir: Path) -> Iterator[S3Server]:
    """Start moto_server on a free loopback port; yield it; always stop it."""
    port = free_port()
    binary = Path(sys.executable).with_name("moto_server")
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "moto.log", "ab") as log:
        process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "1"},
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not answer on {endpoint}")
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        yield S3Server(endpoint)
    finally:
        stop(process, grace_seconds=10)
