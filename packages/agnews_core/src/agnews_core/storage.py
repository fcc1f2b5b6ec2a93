"""Artifact stores: a local folder (embedded default) and S3 through boto3, behind one small interface.

Keys are '/'-separated paths relative to the store root. Writing one key is atomic on both backends (a
rename on a folder, a single PUT on S3), which is what the registry builds its guarantees on.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from agnews_core.errors import ConflictError, NotFoundError, StorageError


class ArtifactStore(Protocol):
    """What the registry, the trainer and the batch jobs need from a store."""

    uri: str

    def put_bytes(self, key: str, data: bytes) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def get_file(self, key: str, dest: Path) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def sizes(self, prefix: str) -> dict[str, int]: ...
    def delete(self, key: str) -> None: ...
    def get_with_token(self, key: str) -> tuple[bytes | None, str | None]: ...
    def put_if(self, key: str, data: bytes, token: str | None) -> None: ...
    def local_path(self, key: str) -> Path | None: ...


def _clean_key(key: str) -> str:
    key = key.strip("/")
    if not key or any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"invalid artifact key {key!r}")
    return key


class LocalStore:
    """A folder on disk. Writes go to a temporary file and are renamed into place."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / _clean_key(key)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no artifact {key!r} in {self.uri}") from None

    def put_file(self, key: str, path: Path) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        os.close(fd)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_file(self, key: str, dest: Path) -> None:
        src = self._path(key)
        if not src.is_file():
            raise NotFoundError(f"no artifact {key!r} in {self.uri}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        keys = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                keys.append(path.relative_to(self.root).as_posix())
        return sorted(keys)

    def sizes(self, prefix: str) -> dict[str, int]:
        """Bytes of each key under `prefix` (what the storage metrics add up)."""
        return {key: self._path(key).stat().st_size for key in self.list(prefix) if self._path(key).is_file()}

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        # S3 has no folders: drop the ones this leaves empty, so a deleted job or run leaves nothing behind
        for parent in path.parents:
            if parent == self.root or self.root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break

    @contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        lock_path = self._path(key).with_name(f".{self._path(key).name}.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def get_with_token(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None, None
        return data, hashlib.sha256(data).hexdigest()

    def put_if(self, key: str, data: bytes, token: str | None) -> None:
        """Write only if the key still holds what `token` was read from (None: key must be absent)."""
        with self._lock(key):
            _, current = self.get_with_token(key)
            if current != token:
                raise ConflictError(f"{key} changed while it was being updated; try again")
            self.put_bytes(key, data)


class S3Store:
    """An S3 bucket (and optional prefix) through boto3; works with any S3 API server."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.endpoint_url = endpoint_url
        self._client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                s3={"addressing_style": "path"} if endpoint_url else {},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
            ),
        )

    def _key(self, key: str) -> str:
        key = _clean_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFoundError(f"no artifact {what!r} in {self.uri}") from None
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise ConflictError(f"{what} changed while it was being updated; try again") from None
            raise StorageError(f"S3 refused {what!r} in {self.uri}: {code or exc}") from None
        except BotoCoreError as exc:
            where = self.endpoint_url or "AWS"
            raise StorageError(f"S3 unreachable ({where}) for {self.uri}: {exc}") from None

    def local_path(self, key: str) -> Path | None:
        return None

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._errors(key):
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get_bytes(self, key: str) -> bytes:
        with self._errors(key):
            body = self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return bytes(body.read())

    def put_file(self, key: str, path: Path) -> None:
        with self._errors(key):
            self._client.upload_file(str(path), self.bucket, self._key(key))

    def get_file(self, key: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        with self._errors(key):
            self._client.download_file(self.bucket, self._key(key), str(tmp))
        os.replace(tmp, dest)

    def exists(self, key: str) -> bool:
        try:
            with self._errors(key):
                self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except NotFoundError:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        return sorted(self.sizes(prefix))

    def sizes(self, prefix: str) -> dict[str, int]:
        full = self._key(prefix) + "/" if prefix.strip("/") else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        sizes: dict[str, int] = {}
        with self._errors(prefix or "/"):
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                sizes.update((obj["Key"][strip:], int(obj.get("Size", 0))) for obj in page.get("Contents", []))
        return sizes

    def delete(self, key: str) -> None:
        with self._errors(key):
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def get_with_token(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            with self._errors(key):
                obj = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
                return bytes(obj["Body"].read()), str(obj["ETag"])
        except NotFoundError:
            return None, None

    def put_if(self, key: str, data: bytes, token: str | None) -> None:
        """Conditional PUT (If-Match / If-None-Match), S3's compare-and-swap."""
        condition = {"IfMatch": token} if token else {"IfNoneMatch": "*"}
        with self._errors(key):
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **condition)


def open_store(uri: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None) -> ArtifactStore:
    """A store for `uri`: a folder path, `file:///path` or `s3://bucket/prefix`."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StorageError(f"S3 URI {uri!r} names no bucket; use s3://bucket/prefix")
        return S3Store(parsed.netloc, parsed.path, endpoint_url=s3_endpoint_url, region=s3_region)
    if parsed.scheme == "file":
        return LocalStore(parsed.path)
    if parsed.scheme in ("",) or len(parsed.scheme) == 1:  # plain path (a drive letter is not a scheme)
        return LocalStore(uri)
    raise StorageError(f"unsupported store URI {uri!r}; use a folder path, file:///path or s3://bucket/prefix")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Content hash of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
