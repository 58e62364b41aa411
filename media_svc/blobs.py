"""Blob stores: where uploads and renditions live, a local directory or any S3 API (boto3).

Keys are validated by both stores (`check_key`): relative, made of [A-Za-z0-9._-] segments that
start with a letter or digit, so no "..", no absolute paths, no hidden names; the local store
also checks that every path it opens resolves inside its root. A file's content type follows
from its key's extension, so a CDN serving the bucket directly sends the same headers.
Blocking calls (file I/O, boto3) run in threads: the event loop never waits on a disk or socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from mesh import telemetry

MAX_KEY_CHARS = 512
DEFAULT_CHUNK_BYTES = 256 * 1024
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_PREFIX = re.compile(rf"(?:{_SEGMENT}/)+")
CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
}
OCTET_STREAM = "application/octet-stream"


Opened = TypeVar("Opened")


async def _open_in_thread(
    opener: Callable[[], Opened], release: Callable[[Opened], None]
) -> Opened:
    """Return what opener opens, run in a worker thread. A thread cannot be stopped, so when the
    caller is cancelled meanwhile (a client gone mid-request), what the thread still opens is
    released as it arrives instead of being dropped unclosed."""
    opening = asyncio.ensure_future(asyncio.to_thread(opener))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(lambda done: _release_opened(done, release))
        raise


def _release_opened(done: asyncio.Future[Opened], release: Callable[[Opened], None]) -> None:
    if not done.cancelled() and done.exception() is None:
        release(done.result())


class InvalidKey(ValueError):
    """A key (or prefix) outside the safe set."""


class BlobMissing(LookupError):
    """No blob has the key."""


def check_key(key: str) -> str:
    """Return the key if it is safe to use as a path and an object name, else raise InvalidKey."""
    if not key or len(key) > MAX_KEY_CHARS or not _KEY.fullmatch(key):
        raise InvalidKey(f"not a valid blob key: {key[:80]!r}")
    if any(segment.strip(".") == "" for segment in key.split("/")):
        raise InvalidKey(f"not a valid blob key: {key[:80]!r}")  # "." or ".." (belt and braces)
    return key


def check_prefix(prefix: str) -> str:
    """Return a "directory" prefix (one or more segments, ending with "/") or raise InvalidKey."""
    if len(prefix) > MAX_KEY_CHARS or not _PREFIX.fullmatch(prefix):
        raise InvalidKey(f"not a valid blob prefix: {prefix[:80]!r}")
    return prefix


def content_type_of(key: str) -> str:
    """Return the MIME type a key's extension stands for."""
    return CONTENT_TYPES.get(os.path.splitext(key)[1].lower(), OCTET_STREAM)


@dataclass(frozen=True)
class BlobInfo:
    """What is known about a stored blob without reading it."""

    key: str
    size: int
    content_type: str
    etag: str
    modified_at: datetime


class BlobWriter(Protocol):
    """Bytes on their way into one blob; nothing is visible under the key until commit."""

    async def write(self, chunk: bytes) -> None: ...
    async def commit(self) -> None: ...
    async def abort(self) -> None: ...


class BlobStore(Protocol):
    """Where uploads and renditions live."""

    def writer(self, key: str) -> BlobWriter:
        """Return a writer that makes the blob appear whole, or not at all."""
        ...

    async def put_file(self, key: str, path: Path) -> None:
        """Store a local file under a key (replacing what was there)."""
        ...

    async def stat(self, key: str) -> BlobInfo | None:
        """Return a blob's metadata, or None when there is none."""
        ...

    def read(
        self, key: str, *, offset: int = 0, length: int | None = None, chunk_size: int = ...
    ) -> AsyncIterator[bytes]:
        """Yield a blob's bytes from offset, at most length of them, in chunks; BlobMissing if
        there is no such blob."""
        ...

    async def download(self, key: str, dest: Path) -> None:
        """Copy a blob into a local file; BlobMissing if there is no such blob."""
        ...

    async def delete(self, key: str) -> None:
        """Delete a blob; deleting a missing one is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under a "dir/" prefix; return how many there were."""
        ...

    def presign_get(self, key: str, *, expires_in: int) -> str | None:
        """Return a URL that reads a file until it expires, or None when the store has none
        (the local directory: the edge serves it, on a URL media_svc signs)."""
        ...

    def presign_put(self, key: str, *, content_type: str, expires_in: int) -> str | None:
        """Return a URL a client may PUT the blob to directly, or None when the store has none."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def _close(file: IO[bytes]) -> None:
    file.close()


class _LocalWriter:
    """Write into a temporary file beside the blobs, renamed into place on commit."""

    def __init__(self, store: LocalBlobStore, key: str) -> None:
        self._store = store
        self._key = key
        self._file: IO[bytes] | None = None
        self._tmp: Path | None = None

    async def _open(self) -> tuple[Path, IO[bytes]]:
        if self._file is None or self._tmp is None:
            tmp, file = await _open_in_thread(self._store._temp_file, _discard_opened)
            self._tmp, self._file = tmp, file
            return tmp, file
        return self._tmp, self._file

    async def write(self, chunk: bytes) -> None:
        _, file = await self._open()
        await asyncio.to_thread(file.write, chunk)

    async def commit(self) -> None:
        tmp, file = await self._open()
        self._file = self._tmp = None
        await asyncio.to_thread(self._store._finish, file, tmp, self._key)

    async def abort(self) -> None:
        file, tmp = self._file, self._tmp
        self._file = self._tmp = None
        if file is not None and tmp is not None:
            await asyncio.to_thread(_discard, file, tmp)


def _discard(file: IO[bytes], tmp: Path) -> None:
    file.close()
    tmp.unlink(missing_ok=True)


def _discard_opened(opened: tuple[Path, IO[bytes]]) -> None:
    _discard(opened[1], opened[0])


class LocalBlobStore:
    """Blobs as files under one directory (the embedded default)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        # Keys never start with ".", so this folder can never collide with a blob.
        self._tmp_dir = self.root / ".tmp"
        self._tmp_dir.mkdir(exist_ok=True)

    def path_of(self, key: str) -> Path:
        """Return the file of a key, refusing anything that would land outside the root."""
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidKey(f"not a valid blob key: {key[:80]!r}")
        return path

    def _temp_file(self) -> tuple[Path, IO[bytes]]:
        fd, name = tempfile.mkstemp(dir=self._tmp_dir)
        return Path(name), os.fdopen(fd, "wb")

    def _finish(self, file: IO[bytes], tmp: Path, key: str) -> None:
        try:
            file.flush()
            os.fsync(file.fileno())
            file.close()
            target = self.path_of(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)  # atomic: readers see the old blob or the new, never half
        except BaseException:
            _discard(file, tmp)
            raise

    def writer(self, key: str) -> BlobWriter:
        """Return a writer for a key."""
        self.path_of(key)
        return _LocalWriter(self, key)

    async def put_file(self, key: str, path: Path) -> None:
        """Store a copy of a local file."""
        self.path_of(key)

        def copy() -> None:
            tmp, file = self._temp_file()
            with open(path, "rb") as source:
                shutil.copyfileobj(source, file, 1024 * 1024)
            self._finish(file, tmp, key)

        await asyncio.to_thread(copy)

    async def stat(self, key: str) -> BlobInfo | None:
        """Return a blob's size, type, etag and time."""
        path = self.path_of(key)
        try:
            st = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None  # a "folder" of other keys is not a blob
        return BlobInfo(
            key=key,
            size=st.st_size,
            content_type=content_type_of(key),
            # Size and write time identify the content (blobs are immutable but for HLS master
            # playlists, rewritten as a ladder grows).
            etag=f'"{st.st_size:x}-{st.st_mtime_ns:x}"',
            modified_at=datetime.fromtimestamp(st.st_mtime, tz=UTC),
        )

    async def read(
        self,
        key: str,
        *,
        offset: int = 0,
        length: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_BYTES,
    ) -> AsyncIterator[bytes]:
        """Yield a range of a blob's bytes."""
        path = self.path_of(key)
        try:
            file = await _open_in_thread(lambda: open(path, "rb"), _close)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise BlobMissing(key) from None
        try:
            await asyncio.to_thread(file.seek, offset)
            left = length
            while left is None or left > 0:
                want = chunk_size if left is None else min(chunk_size, left)
                chunk = await asyncio.to_thread(file.read, want)
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            file.close()

    async def download(self, key: str, dest: Path) -> None:
        """Copy a blob to a local file."""
        path = self.path_of(key)
        try:
            await asyncio.to_thread(shutil.copyfile, path, dest)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise BlobMissing(key) from None

    async def delete(self, key: str) -> None:
        """Delete a blob and the folders it leaves empty."""
        path = self.path_of(key)

        def remove() -> None:
            path.unlink(missing_ok=True)
            self._prune(path.parent)

        await asyncio.to_thread(remove)

    def _prune(self, folder: Path) -> None:
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or already gone): stop climbing
            folder = folder.parent

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under a prefix."""
        folder = self.path_of(check_prefix(prefix).rstrip("/"))

        def remove() -> int:
            if not folder.is_dir():
                return 0
            count = sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder, ignore_errors=True)
            self._prune(folder.parent)
            return count

        return await asyncio.to_thread(remove)

    def presign_put(self, key: str, *, content_type: str, expires_in: int) -> str | None:
        """Return None: a directory has no URL of its own; bytes come through the edge."""
        return None

    def presign_get(self, key: str, *, expires_in: int) -> str | None:
        """Return None: a directory's files are served by the edge, on URLs media_svc signs."""
        return None

    async def close(self) -> None:
        """Nothing to release."""


class _S3Writer:
    """Spool to a temporary file (memory stays flat), upload it whole on commit."""

    def __init__(self, store: S3BlobStore, key: str) -> None:
        self._store = store
        self._key = key
        self._file: IO[bytes] | None = None

    async def write(self, chunk: bytes) -> None:
        if self._file is None:
            self._file = await _open_in_thread(self._store._spool, _close)
        await asyncio.to_thread(self._file.write, chunk)

    async def commit(self) -> None:
        if self._file is None:
            self._file = await _open_in_thread(self._store._spool, _close)
        file, self._file = self._file, None
        try:
            await asyncio.to_thread(file.seek, 0)
            await asyncio.to_thread(self._store._upload_fileobj, file, self._key)
        finally:
            file.close()

    async def abort(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()


class S3BlobStore:
    """Blobs as objects of one bucket of any S3 API (AWS, SeaweedFS, MinIO), through boto3."""

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        access_key: str | None,
        secret_key: str | None,
        region: str,
        presign_endpoint: str | None = None,
        spool_dir: Path | None = None,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        telemetry.instrument_s3()

        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=20,
        )
        credentials = {
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
            "region_name": region,
            "config": config,
        }
        self.bucket = bucket
        self._client: Any = boto3.client("s3", endpoint_url=endpoint, **credentials)
        self._presigner: Any = (
            self._client
            if not presign_endpoint or presign_endpoint == endpoint
            else boto3.client("s3", endpoint_url=presign_endpoint, **credentials)
        )
        self._transfer = TransferConfig(multipart_threshold=16 * 1024 * 1024, max_concurrency=4)
        self._spool_dir = spool_dir
        if spool_dir is not None:
            spool_dir.mkdir(parents=True, exist_ok=True)

    async def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet."""
        from botocore.exceptions import ClientError

        def ensure() -> None:
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _status(exc) != 404:
                    raise
                with contextlib.suppress(self._client.exceptions.BucketAlreadyOwnedByYou):
                    self._client.create_bucket(Bucket=self.bucket)

        await asyncio.to_thread(ensure)

    def _spool(self) -> IO[bytes]:
        return tempfile.TemporaryFile(dir=self._spool_dir)

    def _upload_fileobj(self, file: IO[bytes], key: str) -> None:
        self._client.upload_fileobj(
            file,
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type_of(key)},
            Config=self._transfer,
        )

    def writer(self, key: str) -> BlobWriter:
        """Return a writer for a key."""
        return _S3Writer(self, check_key(key))

    async def put_file(self, key: str, path: Path) -> None:
        """Upload a local file (multipart when it is large)."""
        check_key(key)
        await asyncio.to_thread(
            self._client.upload_file,
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type_of(key)},
            Config=self._transfer,
        )

    async def stat(self, key: str) -> BlobInfo | None:
        """Return an object's size, type, etag and time (one HEAD request)."""
        from botocore.exceptions import ClientError

        check_key(key)
        try:
            head = await asyncio.to_thread(self._client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise
        etag = str(head.get("ETag") or "")
        return BlobInfo(
            key=key,
            size=int(head["ContentLength"]),
            content_type=str(head.get("ContentType") or content_type_of(key)),
            etag=etag if etag.startswith('"') else f'"{etag}"',
            modified_at=head["LastModified"],
        )

    async def read(
        self,
        key: str,
        *,
        offset: int = 0,
        length: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_BYTES,
    ) -> AsyncIterator[bytes]:
        """Yield a range of an object's bytes (one ranged GET, read in chunks)."""
        from botocore.exceptions import ClientError

        check_key(key)
        if length == 0:
            return
        end = "" if length is None else str(offset + length - 1)
        try:
            answer = await _open_in_thread(
                lambda: self._client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes={offset}-{end}"
                ),
                lambda answer: answer["Body"].close(),
            )
        except ClientError as exc:
            if _status(exc) == 404:
                raise BlobMissing(key) from None
            if _status(exc) == 416:
                return  # the offset is at or past the end: nothing to send
            raise
        body = answer["Body"]
        try:
            while True:
                chunk = await asyncio.to_thread(body.read, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    async def download(self, key: str, dest: Path) -> None:
        """Copy an object to a local file."""
        from botocore.exceptions import ClientError

        check_key(key)
        try:
            await asyncio.to_thread(
                self._client.download_file, self.bucket, key, str(dest), Config=self._transfer
            )
        except ClientError as exc:
            if _status(exc) == 404:
                raise BlobMissing(key) from None
            raise

    async def delete(self, key: str) -> None:
        """Delete an object (S3 answers a missing one with success too)."""
        check_key(key)
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a prefix, 1000 per request."""
        check_prefix(prefix)

        def remove() -> int:
            count = 0
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self._client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                    )
                    count += len(keys)
            return count

        return await asyncio.to_thread(remove)

    def presign_get(self, key: str, *, expires_in: int) -> str | None:
        """Return a presigned GET URL of a stored file."""
        check_key(key)
        url: str = self._presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url

    def presign_put(self, key: str, *, content_type: str, expires_in: int) -> str | None:
        """Return a presigned PUT URL; the Content-Type header is part of the signature."""
        check_key(key)
        url: str = self._presigner.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires_in,
            HttpMethod="PUT",
        )
        return url

    async def close(self) -> None:
        """Close the HTTP connection pools."""
        self._client.close()
        if self._presigner is not self._client:
            self._presigner.close()


def _status(exc: Any) -> int:
    meta = exc.response.get("ResponseMetadata", {})
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in ("NoSuchKey", "NotFound", "NoSuchBucket", "404"):
        return 404
    if code == "InvalidRange":
        return 416
    return int(meta.get("HTTPStatusCode", 0))
