"""Export files in S3-compatible object storage (AWS S3, MinIO, Ceph, R2...), with boto3.

An export is written to a local scratch dir (`<data dir>/s3-scratch/<id>.partial`) exactly as
with local files, then each file is uploaded to `<prefix><id>/<name>` (multipart above
MULTIPART_THRESHOLD; boto3 aborts a failed multipart upload, and S3 shows a multipart object
only once it is completed), then the scratch dir is removed. The export's row turns
"completed" only after every upload succeeded, so a client never sees a partial export.

Downloads either stream the object through the app in BLOCK_SIZE chunks (bounded memory) or,
with YBB_S3_PRESIGNED_DOWNLOADS=1, redirect to a presigned GET URL that names the file."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3  # type: ignore[import-untyped]
from boto3.exceptions import Boto3Error  # type: ignore[import-untyped]
from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from ..errors import NotFound, StorageError
from ..settings import Settings
from . import OpenedFile
from .files import PROBE_BYTES, local_orphans, remove_scratch

MULTIPART_THRESHOLD = 16 * 1024 * 1024
BLOCK_SIZE = 256 * 1024
NOT_FOUND = "Export not found or expired"
_ERRORS = (Boto3Error, BotoCoreError, ClientError, OSError)


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


class S3Files:
    """FileArea on an S3 bucket (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.presigned = settings.s3_presigned_downloads
        self.url_ttl = settings.signed_url_ttl_seconds
        self.scratch = settings.data_dir / "s3-scratch"
        self._options: dict[str, Any] = {
            "endpoint_url": settings.s3_endpoint_url or None,
            "region_name": settings.s3_region or None,
            "aws_access_key_id": settings.s3_access_key_id or None,
            "aws_secret_access_key": settings.s3_secret_access_key or None,
            "config": Config(retries={"max_attempts": 3, "mode": "standard"}),
        }
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD
        )
        self._local = threading.local()

    def client(self) -> Any:
        """This thread's and process's boto3 client (clients are not shared across fork)."""
        pid = os.getpid()
        if getattr(self._local, "pid", None) != pid:
            self._local.client = boto3.session.Session().client("s3", **self._options)
            self._local.pid = pid
        return self._local.client

    def key(self, export_id: str, name: str = "") -> str:
        """The object key of a file (or, without a name, the export's key prefix)."""
        return f"{self.prefix}{export_id}/{name}"

    def publish(self, export_id: str, partial: Path) -> None:
        """Upload every file of `partial`; on failure remove what was uploaded and raise."""
        try:
            for path in sorted(partial.iterdir()):
                self.client().upload_file(
                    str(path), self.bucket, self.key(export_id, path.name), Config=self.transfer
                )
        except _ERRORS as exc:
            with contextlib.suppress(StorageError):  # parts already uploaded; best effort
                self.remove(export_id)
            raise StorageError(f"Could not upload export files: {type(exc).__name__}") from exc
        remove_scratch(self.scratch, export_id)

    def open(self, export_id: str, name: str, media_type: str) -> OpenedFile:
        """The object, opened (or a presigned URL to it); NotFound when it is gone."""
        key = self.key(export_id, name)
        try:
            if self.presigned:
                size = int(self.client().head_object(Bucket=self.bucket, Key=key)["ContentLength"])
                url = self._presign(key, name, media_type)
                return OpenedFile(Path(key), name, media_type, size, redirect_url=url)
            got = self.client().get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                raise NotFound(NOT_FOUND, details={"export_id": export_id}) from None
            raise StorageError(f"Cannot read the export file: {type(exc).__name__}") from exc
        except _ERRORS as exc:
            raise StorageError(f"Cannot read the export file: {type(exc).__name__}") from exc
        size = int(got["ContentLength"])
        return OpenedFile(Path(key), name, media_type, size, chunks=_chunks(got["Body"]))

    def _presign(self, key: str, name: str, media_type: str) -> str:
        disposition = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": disposition,
            "ResponseContentType": media_type,
        }
        url: str = self.client().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.url_ttl
        )
        return url

    def remove(self, export_id: str) -> None:
        """Delete every object under the export's prefix, and its local scratch dir."""
        remove_scratch(self.scratch, export_id)
        try:
            self._delete(k for k, _ in self._objects(self.key(export_id)))
        except _ERRORS as exc:
            raise StorageError(f"Could not remove export files: {type(exc).__name__}") from exc

    def _objects(self, prefix: str) -> Iterator[tuple[str, float]]:
        pages = self.client().get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                yield item["Key"], item["LastModified"].timestamp()

    def _delete(self, keys: Iterable[str]) -> None:
        batch = list(keys)
        for start in range(0, len(batch), 1000):  # DeleteObjects takes up to 1000 keys
            objects = [{"Key": k} for k in batch[start : start + 1000]]
            self.client().delete_objects(Bucket=self.bucket, Delete={"Objects": objects})

    def remove_orphans(self, known: set[str], older_than: float) -> None:
        """Objects under the prefix of no known export and older than `older_than`, and this
        machine's scratch dirs likewise (a process that died mid-export leaves one)."""
        local_orphans(self.scratch, known, older_than)
        stale = (
            key
            for key, modified in self._objects(self.prefix)
            if key[len(self.prefix) :].split("/", 1)[0] not in known and modified < older_than
        )
        self._delete(stale)

    def probe(self) -> None:
        """See FileArea.probe: put, get and delete `<prefix>.probe/<random>`."""
        key = f"{self.prefix}.probe/{uuid.uuid4()}"
        try:
            self.client().put_object(Bucket=self.bucket, Key=key, Body=PROBE_BYTES)
            try:
                body = self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
            finally:
                self.client().delete_object(Bucket=self.bucket, Key=key)
        except _ERRORS as exc:
            raise StorageError(
                f"Export files: bucket {self.bucket!r}: {type(exc).__name__}: {exc}"[:300]
            ) from exc
        if body != PROBE_BYTES:
            raise StorageError(f"Export files: bucket {self.bucket!r}: probe read back differently")


def _chunks(body: Any) -> Iterator[bytes]:
    """The object's bytes in BLOCK_SIZE pieces; the connection is closed at the end or when
    the download stops early (the generator is closed by the WSGI server)."""
    try:
        yield from body.iter_chunks(BLOCK_SIZE)
    finally:
        body.close()
