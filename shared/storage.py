"""The object store behind one small interface: S3 through boto3, or a local directory.

Keys are slash-separated (``samples/<id>.png``). Every write replaces the whole
object in one step, so a reader never sees half an object and a repeated write of
the same key is harmless (idempotent tasks rely on that).

A store that does not answer (S3 down or refusing, a full or read-only disk) raises
``StoreUnavailable`` whichever the backend: web answers it 503 ``store_unavailable``, the
workers retry or park the job; its message never holds a path, a host or a bucket.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from shared.errors import ObjectNotFound


class StoreUnavailable(OSError):
    """The object store did not do what was asked, for a reason of its own (not a missing key).

    An OSError, not a ``DigitsError``: workers treat it as passing (retry, backlog), and
    web maps it to 503 ``store_unavailable``. Only the cause's type is in the message.
    """

    code = "store_unavailable"

    @classmethod
    def of(cls, cause: BaseException) -> StoreUnavailable:
        return cls(f"the object store is unavailable ({type(cause).__name__}); try again shortly")


@contextmanager
def _local_errors() -> Iterator[None]:
    """A disk that refuses (full, read-only, a file where a folder should be) is unavailable."""
    try:
        yield
    except (StoreUnavailable, FileNotFoundError):
        raise
    except OSError as exc:
        raise StoreUnavailable.of(exc) from exc


@contextmanager
def _s3_errors() -> Iterator[None]:
    """Unreachable, timed out, throttled or failing S3 is unavailable; a client's error is not."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, S3UploadFailedError) as exc:
        raise StoreUnavailable.of(exc) from exc
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if status >= 500 or status == 403:
            raise StoreUnavailable.of(exc) from exc
        raise


class Store(Protocol):
    """What web and workers need from an object store."""

    def put_bytes(self, key: str, data: bytes, content_type: str = ...) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def put_file(self, key: str, path: Path, content_type: str = ...) -> None: ...

    def iter_bytes(self, key: str, chunk: int = ...) -> Iterator[bytes]: ...

    def exists(self, key: str) -> bool: ...

    def list_keys(self, prefix: str) -> Iterator[str]: ...

    def delete(self, key: str) -> None: ...

    def ping(self) -> None: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in {"", ".", ".."} for p in parts):
        raise ValueError(f"bad object key: {key!r}")
    return key


class LocalStore:
    """A directory on disk: the default for `make run` and a single machine."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put_bytes(self, key: str, data: bytes, content_type: str = "") -> None:
        path = self._path(key)
        with _local_errors():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write(path, data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        # Write aside, fsync, then rename: atomic on POSIX, so no reader sees a torn file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_bytes(self, key: str) -> bytes:
        try:
            with _local_errors():
                return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def put_file(self, key: str, path: Path, content_type: str = "") -> None:
        """Copy a (large) file in; the rename makes it appear whole."""
        target = self._path(key)
        with _local_errors():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
            try:
                shutil.copyfile(path, tmp)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    def iter_bytes(self, key: str, chunk: int = 1 << 16) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        with handle, _local_errors():
            while data := handle.read(chunk):
                yield data

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str) -> Iterator[str]:
        # Walk only the folder the prefix names, not the whole store (samples dwarf the rest).
        folder = self.root / prefix.rpartition("/")[0]
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def delete(self, key: str) -> None:
        with _local_errors():
            self._path(key).unlink(missing_ok=True)

    def ping(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK):
            raise StoreUnavailable("the store directory is not writable")


class S3Store:
    """An S3 bucket (AWS, MinIO, SeaweedFS) under an optional key prefix."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str = "", client: Any = None):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=3,
                read_timeout=10,
                s3={"addressing_style": "path"},
            ),
        )

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    def put_bytes(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        with _s3_errors():
            self._client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
            )

    def get_bytes(self, key: str) -> bytes:
        with _s3_errors():
            try:
                answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            except self._client.exceptions.NoSuchKey:
                raise ObjectNotFound(key) from None
            return bytes(answer["Body"].read())

    def put_file(
        self, key: str, path: Path, content_type: str = "application/octet-stream"
    ) -> None:
        """Upload in parts (boto3's managed transfer): a big archive never sits in memory."""
        with _s3_errors():
            self._client.upload_file(
                str(path), self.bucket, self._key(key), ExtraArgs={"ContentType": content_type}
            )

    def iter_bytes(self, key: str, chunk: int = 1 << 16) -> Iterator[bytes]:
        with _s3_errors():
            try:
                answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            except self._client.exceptions.NoSuchKey:
                raise ObjectNotFound(key) from None
            yield from answer["Body"].iter_chunks(chunk)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        with _s3_errors():
            try:
                self._client.head_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                    return False
                raise
            return True

    def list_keys(self, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        with _s3_errors():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix) :]

    def delete(self, key: str) -> None:
        with _s3_errors():
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def ping(self) -> None:
        with _s3_errors():
            self._client.head_bucket(Bucket=self.bucket)


def open_store(url: str, endpoint_url: str = "") -> Store:
    """``s3://bucket/prefix`` opens S3; ``file:///path`` or a plain path opens a directory."""
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        return S3Store(bucket, prefix, endpoint_url)
    if url.startswith("file://"):
        url = url[len("file://") :]
    return LocalStore(url)
