"""One suite, every blob store: the local directory and S3 (a real SeaweedFS)."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from media_svc import blobs
from media_svc.blobs import BlobMissing, BlobStore, InvalidKey, LocalBlobStore, S3BlobStore
from tests import seaweedfs

BAD_KEYS = [
    "",
    "../etc/passwd",
    "m/../../etc/passwd",
    "m/./x.jpg",
    "/etc/passwd",
    "m//x.jpg",
    "m/x.jpg/",
    ".hidden",
    "m/.tmp/x",
    "m/a b.jpg",
    "m/caf\u00e9.jpg",
    "m\\x.jpg",
    "m/x.jpg\x00.png",
    "m/" + "a" * 511,
]


@pytest.fixture(scope="session")
def seaweed() -> seaweedfs.SeaweedFS:
    return seaweedfs.shared()  # stopped once, at the end of the session


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
        return
    server: seaweedfs.SeaweedFS = request.getfixturevalue("seaweed")
    s3 = S3BlobStore(
        endpoint=server.endpoint,
        bucket=f"t-{uuid.uuid4().hex[:12]}",
        access_key=server.access_key,
        secret_key=server.secret_key,
        region="us-east-1",
        spool_dir=tmp_path / "spool",
    )
    await s3.ensure_bucket()
    await s3.ensure_bucket()  # idempotent
    yield s3
    await s3.close()


async def read_all(store: BlobStore, key: str, **kwargs: int) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, **kwargs)])


async def test_a_written_blob_appears_whole_on_commit_and_not_before(store: BlobStore) -> None:
    data = os.urandom(300_000)
    writer = store.writer("m/1/tok/full.jpg")
    for i in range(0, len(data), 65_536):
        await writer.write(data[i : i + 65_536])
    assert await store.stat("m/1/tok/full.jpg") is None  # nothing visible mid-write
    await writer.commit()
    info = await store.stat("m/1/tok/full.jpg")
    assert info is not None and info.size == len(data)
    assert info.content_type == "image/jpeg"
    assert info.etag.startswith('"') and info.etag.endswith('"') and len(info.etag) > 2
    assert info.modified_at.tzinfo is not None
    assert await read_all(store, "m/1/tok/full.jpg") == data
    assert await store.stat("m/1/tok") is None  # a "folder" of keys is not a blob


async def test_an_aborted_write_leaves_nothing(store: BlobStore) -> None:
    writer = store.writer("in/2/tok")
    await writer.write(b"partial bytes")
    await writer.abort()
    assert await store.stat("in/2/tok") is None
    empty = store.writer("in/2/empty")
    await empty.commit()  # a committed empty blob exists, with size 0
    info = await store.stat("in/2/empty")
    assert info is not None and info.size == 0


async def test_put_file_download_and_content_types(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "clip"
    source.write_bytes(b"\0\0\0\x18ftypisom" + os.urandom(5000))
    for key, content_type in [
        ("m/3/tok/video_720p.mp4", "video/mp4"),
        ("m/3/tok/original.mov", "video/quicktime"),
        ("m/3/tok/feed.webp", "image/webp"),
        ("in/3/tok", "application/octet-stream"),
    ]:
        await store.put_file(key, source)
        info = await store.stat(key)
        assert info is not None and info.content_type == content_type
        dest = tmp_path / "copy"
        await store.download(key, dest)
        assert dest.read_bytes() == source.read_bytes()
    with pytest.raises(BlobMissing):
        await store.download("m/3/tok/missing.jpg", tmp_path / "never")


async def test_overwriting_replaces_the_blob(store: BlobStore) -> None:
    for data in (b"first version", b"second, longer version"):
        writer = store.writer("in/4/tok")
        await writer.write(data)
        await writer.commit()
        assert await read_all(store, "in/4/tok") == data
    info = await store.stat("in/4/tok")
    assert info is not None and info.size == len(b"second, longer version")


async def test_ranges_and_chunk_sizes(store: BlobStore) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    writer = store.writer("m/5/tok/feed.jpg")
    await writer.write(data)
    await writer.commit()
    key = "m/5/tok/feed.jpg"
    assert await read_all(store, key, offset=100, length=50) == data[100:150]
    assert await read_all(store, key, offset=10_000) == data[10_000:]
    assert await read_all(store, key, offset=10_200, length=1000) == data[10_200:]  # clamped
    assert await read_all(store, key, offset=0, length=1) == data[:1]
    assert await read_all(store, key, offset=10_239, length=1) == data[-1:]
    chunks = [c async for c in store.read(key, chunk_size=4096)]
    assert [len(c) for c in chunks] == [4096, 4096, 2048]
    with pytest.raises(BlobMissing):
        await read_all(store, "m/5/tok/missing.jpg")


def slow_opening(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> SlowOpening:
    """Make the store's opening of a blob wait until released, recording what it opened."""
    slow = SlowOpening(threading.Event(), threading.Event(), [])
    if isinstance(store, LocalBlobStore):
        real_open = open

        def opening(path: Path, mode: str) -> object:
            slow.entered.set()
            slow.release.wait(10)
            file = real_open(path, mode)
            slow.opened.append(lambda: file.closed)
            return file

        monkeypatch.setattr(blobs, "open", opening, raising=False)
    else:
        assert isinstance(store, S3BlobStore)
        real_get = store._client.get_object

        def getting(**kwargs: object) -> dict[str, Any]:
            slow.entered.set()
            slow.release.wait(10)
            answer: dict[str, Any] = real_get(**kwargs)
            slow.opened.append(lambda: answer["Body"]._raw_stream.closed)
            return answer

        monkeypatch.setattr(store._client, "get_object", getting)
    return slow


@dataclass
class SlowOpening:
    entered: threading.Event
    release: threading.Event
    opened: list[Callable[[], bool]]  # one "is it closed?" per blob opened


async def test_a_reader_cancelled_while_the_blob_opens_leaves_nothing_open(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client that goes away mid-request cancels the read while a worker thread opens the
    # blob; the thread cannot be stopped, so what it opens must still be closed.
    writer = store.writer("m/7/tok/feed.jpg")
    await writer.write(b"x" * 1000)
    await writer.commit()
    slow = slow_opening(store, monkeypatch)
    reading = asyncio.create_task(read_all(store, "m/7/tok/feed.jpg"))
    assert await asyncio.to_thread(slow.entered.wait, 10)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    slow.release.set()
    for _ in range(200):
        if slow.opened and slow.opened[0]():
            break
        await asyncio.sleep(0.01)
    assert len(slow.opened) == 1 and slow.opened[0](), "the blob opened for a gone reader is open"


async def test_delete_and_delete_prefix(store: BlobStore) -> None:
    for key in ("m/6/a/thumbnail.jpg", "m/6/a/full.jpg", "m/6/b/feed.jpg", "m/66/a/full.jpg"):
        writer = store.writer(key)
        await writer.write(b"x")
        await writer.commit()
    await store.delete("m/6/a/thumbnail.jpg")
    await store.delete("m/6/a/thumbnail.jpg")  # again: not an error
    assert await store.stat("m/6/a/thumbnail.jpg") is None
    assert await store.delete_prefix("m/6/") == 2
    assert await store.stat("m/6/b/feed.jpg") is None
    assert await store.stat("m/66/a/full.jpg") is not None  # m/6/ is not a prefix of m/66/
    assert await store.delete_prefix("m/6/") == 0
    with pytest.raises(InvalidKey):
        await store.delete_prefix("m/6")  # a prefix is a folder: it ends with "/"


@pytest.mark.parametrize("key", BAD_KEYS, ids=[repr(k)[:30] for k in BAD_KEYS])
async def test_unsafe_keys_are_refused_by_every_operation(
    store: BlobStore, key: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidKey):
        store.writer(key)
    with pytest.raises(InvalidKey):
        await store.stat(key)
    with pytest.raises(InvalidKey):
        await read_all(store, key)
    with pytest.raises(InvalidKey):
        await store.delete(key)
    with pytest.raises(InvalidKey):
        await store.put_file(key, tmp_path)
    with pytest.raises(InvalidKey):
        await store.download(key, tmp_path / "x")


async def test_presigned_put_is_a_working_url_or_none(store: BlobStore) -> None:
    url = store.presign_put("in/7/tok", content_type="image/png", expires_in=300)
    if isinstance(store, LocalBlobStore):
        assert url is None  # bytes come through the edge instead
        return
    assert url is not None
    async with httpx.AsyncClient() as http:
        wrong_type = await http.put(url, content=b"png?", headers={"Content-Type": "image/jpeg"})
        assert wrong_type.status_code == 403  # the content type is part of the signature
        tampered = await http.put(url.replace("in/7/tok", "in/7/other"), content=b"x")
        assert tampered.status_code in (400, 403)
        ok = await http.put(url, content=b"\x89PNG fake", headers={"Content-Type": "image/png"})
        assert ok.status_code == 200, ok.text
    info = await store.stat("in/7/tok")
    assert info is not None and info.size == len(b"\x89PNG fake")
    assert info.content_type == "image/png"
    assert await store.stat("in/7/other") is None


async def test_the_local_store_never_leaves_its_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"secret")
    store = LocalBlobStore(tmp_path / "blobs")
    (tmp_path / "blobs" / "m").mkdir()
    os.symlink(outside, tmp_path / "blobs" / "m" / "link")  # a planted symlink
    with pytest.raises(InvalidKey):
        await store.stat("m/link/secret.jpg")
    with pytest.raises(InvalidKey):
        store.writer("m/link/new.jpg")
    assert not (outside / "new.jpg").exists()


async def test_presigned_get_reads_the_file_or_is_none(store: BlobStore) -> None:
    writer = store.writer("x/7/export.zip")
    await writer.write(b"PK zip bytes")
    await writer.commit()
    url = store.presign_get("x/7/export.zip", expires_in=300)
    if isinstance(store, LocalBlobStore):
        assert url is None  # the edge serves it, on a URL media_svc signs
        return
    assert url is not None
    async with httpx.AsyncClient() as http:
        got = await http.get(url)
        assert got.status_code == 200 and got.content == b"PK zip bytes"
        tampered = await http.get(url.replace("x/7/export.zip", "x/7/other.zip"))
        assert tampered.status_code in (400, 403, 404)
