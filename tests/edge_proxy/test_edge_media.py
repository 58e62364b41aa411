"""The edge's byte routes: streaming an upload body into media_svc, and the /media origin."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import timestamp_pb2
from grpc import aio

from edge_proxy.app import create_app
from edge_proxy.settings import EdgeSettings
from mesh.clients import Channels
from mesh.errors import InvalidArgument
from mesh.status import details_metadata, rich_status
from shutter.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc
from tests.edge_proxy.conftest import USER_SPEC, serving

BLOB = bytes(range(256)) * 40  # 10 240 bytes
ETAG = '"' + hashlib.sha256(BLOB).hexdigest()[:32] + '"'
DECLARED = 3 * 1024 * 1024 + 5


@dataclass
class FakeMedia(media_service_pb2_grpc.MediaServiceServicer):
    """Keeps what Upload streams receive; serves one stored file by key."""

    received: list[bytes] = field(default_factory=list)
    upload_ids: list[int] = field(default_factory=list)
    reads: list[media_service_pb2.ReadBlobRequest] = field(default_factory=list)

    async def GetUpload(self, request: Any, context: Any) -> Any:
        if request.upload_id != 7:
            status = rich_status(InvalidArgument("no", reason="UPLOAD_NOT_FOUND"), domain="m")
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                "no such upload",
                trailing_metadata=details_metadata(status),
            )
        upload = media_pb2.Upload(upload_id=7, size_bytes=DECLARED)
        return media_service_pb2.GetUploadResponse(upload=upload)

    async def Upload(self, requests: Any, context: Any) -> Any:
        total = 0
        async for message in requests:
            if message.upload_id:
                self.upload_ids.append(message.upload_id)
            self.received.append(message.chunk)
            total += len(message.chunk)
        upload = media_pb2.Upload(upload_id=7, size_bytes=total)
        return media_service_pb2.UploadResponse(upload=upload, received_bytes=total)

    async def ReadBlob(self, request: Any, context: Any) -> AsyncIterator[Any]:
        self.reads.append(request)
        if request.key != "m/1/abc/feed.jpg":
            error = InvalidArgument("no such file", reason="BLOB_NOT_FOUND")
            status = rich_status(error, domain="media_svc.shutter")
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                "no such file",
                trailing_metadata=details_metadata(status),
            )
        size = len(BLOB)
        if request.suffix_length:
            offset = max(size - request.suffix_length, 0)
            length = size - offset
        else:
            offset = request.offset
            length = max(0, min(request.length or size, size - offset))
        if request.metadata_only:
            length = 0
        modified = timestamp_pb2.Timestamp(seconds=1_700_000_000)
        meta = media_service_pb2.BlobMetadata(
            content_type="image/jpeg",
            size_bytes=size,
            etag=ETAG,
            modified_at=modified,
            offset=offset,
            length=length,
        )
        yield media_service_pb2.ReadBlobResponse(metadata=meta)
        data = BLOB[offset : offset + length]
        for start in range(0, len(data), 4096):
            yield media_service_pb2.ReadBlobResponse(chunk=data[start : start + 4096])


@pytest.fixture(scope="module")
async def media() -> AsyncIterator[tuple[FakeMedia, str]]:
    fake = FakeMedia()  # type: ignore[abstract]  # only the calls the edge makes
    server = aio.server()
    media_service_pb2_grpc.add_MediaServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture
async def http(media: tuple[FakeMedia, str]) -> AsyncIterator[httpx.AsyncClient]:
    fake, address = media
    fake.received.clear()
    fake.upload_ids.clear()
    fake.reads.clear()
    settings = EdgeSettings(edge_max_body_bytes=1024)
    channels = Channels(settings, addresses={"media_svc": address})
    async with serving(create_app(settings, channels, services=[USER_SPEC])) as client:
        yield client
    await channels.close()


async def test_upload_body_streams_in_chunks_of_at_most_one_mib(
    http: httpx.AsyncClient, media: tuple[FakeMedia, str]
) -> None:
    fake, _ = media
    body = b"x" * DECLARED  # well over the JSON body limit: this route streams instead

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100_000):
            yield body[start : start + 100_000]

    response = await http.put("/api/v1/uploads/7", content=chunked())
    assert response.status_code == 200, response.text
    assert response.json()["receivedBytes"] == str(DECLARED)
    assert fake.upload_ids == [7]
    assert b"".join(fake.received) == body
    assert max(len(c) for c in fake.received) == 1024 * 1024


async def test_upload_longer_than_declared_is_413_before_reading(
    http: httpx.AsyncClient, media: tuple[FakeMedia, str]
) -> None:
    fake, _ = media
    response = await http.put(
        "/api/v1/uploads/7", content=b"x" * 10, headers={"Content-Length": str(DECLARED + 1)}
    )
    assert response.status_code == 413 and response.json()["code"] == 8
    assert fake.received == []  # media_svc never saw a byte


async def test_upload_of_an_unknown_or_malformed_id(http: httpx.AsyncClient) -> None:
    assert (await http.put("/api/v1/uploads/8", content=b"x")).status_code == 404
    assert (await http.put("/api/v1/uploads/abc", content=b"x")).status_code == 400


async def test_media_origin_serves_immutable_files(http: httpx.AsyncClient) -> None:
    response = await http.get("/media/m/1/abc/feed.jpg")
    assert response.status_code == 200 and response.content == BLOB
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["etag"] == ETAG
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-length"] == str(len(BLOB))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["last-modified"].endswith("GMT")


async def test_conditional_get_answers_304_without_the_bytes(
    http: httpx.AsyncClient, media: tuple[FakeMedia, str]
) -> None:
    fake, _ = media
    response = await http.get("/media/m/1/abc/feed.jpg", headers={"If-None-Match": ETAG})
    assert response.status_code == 304 and response.content == b""
    assert fake.reads[-1].metadata_only
    stale = await http.get("/media/m/1/abc/feed.jpg", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200 and stale.content == BLOB


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-40", 10200, 10239),
        ("bytes=10230-20000", 10230, 10239),
    ],
)
async def test_byte_ranges_answer_206(
    http: httpx.AsyncClient, header: str, start: int, end: int
) -> None:
    response = await http.get("/media/m/1/abc/feed.jpg", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == BLOB[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(BLOB)}"


async def test_unsatisfiable_range_is_416_and_multi_range_gets_the_whole_file(
    http: httpx.AsyncClient,
) -> None:
    past_end = await http.get("/media/m/1/abc/feed.jpg", headers={"Range": "bytes=99999-"})
    assert past_end.status_code == 416
    assert past_end.headers["content-range"] == f"bytes */{len(BLOB)}"
    several = await http.get("/media/m/1/abc/feed.jpg", headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == BLOB


async def test_head_sends_headers_only(http: httpx.AsyncClient) -> None:
    response = await http.head("/media/m/1/abc/feed.jpg")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == str(len(BLOB))


@pytest.mark.parametrize(
    "path",
    [
        "/media/m/1/abc/missing.jpg",
        "/media/m/../../etc/passwd",
        "/media/m/%2e%2e/x",
        "/media//etc/passwd",
        "/media/m/1/abc/feed.jpg%00",
    ],
)
async def test_unknown_keys_and_traversal_are_404(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 404, path
