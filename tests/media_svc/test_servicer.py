"""MediaService over real gRPC: streamed and presigned uploads, processing, reads, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2

from media_svc import store
from media_svc.blobs import LocalBlobStore
from media_svc.servicer import create_media_service
from media_svc.settings import MediaSettings
from mesh import auth, db, status
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.server import Service
from mesh.services import migrations_dir
from shutter.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc
from tests import seaweedfs
from tests.identity import service_md
from tests.media_svc import corpus

pb = media_service_pb2
READY_TIMEOUT_SECONDS = 60


def settings_for(data_dir: Path, **changes: Any) -> MediaSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "media_svc_addr": "127.0.0.1:0",
        "media_poll_interval_seconds": 0.2,
    }
    values.update(changes)
    return MediaSettings(**values)


@pytest.fixture
async def served(data_dir: Path) -> AsyncIterator[tuple[Service, MediaSettings]]:
    settings = settings_for(data_dir)
    service = await create_media_service(settings)
    yield service, settings
    await service.stop(0)


@pytest.fixture
async def stub(served: tuple[Service, MediaSettings]) -> AsyncIterator[Any]:
    async with grpc.aio.insecure_channel(served[0].address) as channel:
        yield media_service_pb2_grpc.MediaServiceStub(channel)


def as_user(settings: MediaSettings, user_id: int) -> tuple[tuple[str, str], ...]:
    return (
        ("authorization", f"Bearer {auth.TokenIssuer(settings).user_token(user_id)}"),
        *service_md(),
    )


def as_service(settings: MediaSettings) -> tuple[tuple[str, str]]:
    token = auth.TokenIssuer(settings).service_token("post_svc")
    return (("authorization", f"Bearer {token}"),)


def reason(error: grpc.aio.AioRpcError) -> str:
    rich = status.status_from_metadata(
        error.code(), error.details() or "", error.trailing_metadata()
    )
    for detail in rich.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


async def stream(upload_id: int, data: bytes, chunk: int = 65_536) -> AsyncIterator[Any]:
    yield pb.UploadRequest(upload_id=upload_id)
    for i in range(0, len(data), chunk):
        yield pb.UploadRequest(chunk=data[i : i + chunk])


async def wait_until_done(stub: Any, upload_id: int, metadata: Any) -> media_pb2.Upload:
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_SECONDS
    while True:
        upload = (
            await stub.GetUpload(pb.GetUploadRequest(upload_id=upload_id), metadata=metadata)
        ).upload
        if upload.status in (media_pb2.UPLOAD_STATUS_READY, media_pb2.UPLOAD_STATUS_FAILED):
            assert isinstance(upload, media_pb2.Upload)
            return upload
        assert asyncio.get_running_loop().time() < deadline, "processing never finished"
        await asyncio.sleep(0.05)


async def read_blob(stub: Any, key: str, **kwargs: Any) -> tuple[pb.BlobMetadata, bytes]:
    # The edge reads files for anyone, with its own identity (ReadBlob is internal).
    request = pb.ReadBlobRequest(key=key, **kwargs)
    messages = [m async for m in stub.ReadBlob(request, metadata=service_md())]
    assert messages[0].HasField("metadata")
    assert all(m.WhichOneof("part") == "chunk" for m in messages[1:])
    assert all(len(m.chunk) <= 256 * 1024 for m in messages[1:])
    return messages[0].metadata, b"".join(m.chunk for m in messages[1:])


def key_of(settings: MediaSettings, url: str) -> str:
    assert url.startswith(settings.media_base_url)
    return url.removeprefix(settings.media_base_url)


async def test_streamed_upload_to_ready_media_and_served_files(
    served: tuple[Service, MediaSettings], stub: Any
) -> None:
    _, settings = served
    alice = as_user(settings, 7)
    data = corpus.jpeg((2400, 1800), gps=True, orientation=3)
    created = (
        await stub.CreateUpload(
            pb.CreateUploadRequest(content_type="image/jpeg", size_bytes=len(data)), metadata=alice
        )
    ).upload
    as_json = json_format.MessageToDict(created)
    assert as_json["status"] == "UPLOAD_STATUS_PENDING" and as_json["uploadMethod"] == "PUT"
    if settings.s3_endpoint is None:
        assert as_json["uploadUrl"] == f"http://127.0.0.1:8080/api/v1/uploads/{created.upload_id}"
    else:  # the engines run: a presigned object-store URL; bytes may still stream through here
        assert "X-Amz-Signature=" in as_json["uploadUrl"]
    assert as_json["uploadId"] == str(created.upload_id) and "expiresAt" in as_json
    assert as_json["uploadHeaders"] == {"Content-Type": "image/jpeg"}
    assert as_json["media"]["type"] == "MEDIA_TYPE_PHOTO"

    sent = await stub.Upload(stream(created.upload_id, data), metadata=alice)
    assert (
        sent.received_bytes == len(data) and sent.upload.status == media_pb2.UPLOAD_STATUS_PENDING
    )
    completed = await stub.CompleteUpload(
        pb.CompleteUploadRequest(upload_id=created.upload_id, filter="valencia"), metadata=alice
    )
    assert completed.upload.status in (
        media_pb2.UPLOAD_STATUS_PROCESSING,
        media_pb2.UPLOAD_STATUS_READY,
    )
    done = await wait_until_done(stub, created.upload_id, alice)
    assert done.status == media_pb2.UPLOAD_STATUS_READY and done.upload_url == ""
    media = json_format.MessageToDict(done.media)
    assert media["status"] == "MEDIA_STATUS_READY" and media["filter"] == "valencia"
    assert (media["width"], media["height"]) == (1080, 810)
    assert set(media["variants"]) == {
        "thumbnail",
        "feed",
        "full",
        "thumbnailWebp",
        "feedWebp",
        "fullWebp",
        "thumbnailKey",
        "story",
        "storyWebp",
        "storyFull",
        "storyFullWebp",
        "storyWidth",
        "storyHeight",
    }
    assert (media["variants"]["storyWidth"], media["variants"]["storyHeight"]) == (1080, 810)
    assert media["variants"]["thumbnail"].endswith("/" + media["variants"]["thumbnailKey"])
    got = await stub.GetMedia(pb.GetMediaRequest(media_id=done.media_id), metadata=alice)
    assert got.media == done.media

    # The edge's /media origin: no token needed, ranges, metadata-only.
    thumb_key = key_of(settings, done.media.variants.thumbnail)
    meta, body = await read_blob(stub, thumb_key)
    assert meta.content_type == "image/jpeg" and meta.size_bytes == len(body) == meta.length
    assert meta.etag.startswith('"')
    corpus.assert_clean(body, name="thumbnail")
    full_key = key_of(settings, done.media.variants.full)
    meta, whole = await read_blob(stub, full_key)
    assert len(whole) > 256 * 1024 or meta.size_bytes == len(whole)
    meta, part = await read_blob(stub, full_key, offset=100, length=1000)
    assert (meta.offset, meta.length) == (100, 1000) and part == whole[100:1100]
    meta, nothing = await read_blob(stub, full_key, metadata_only=True)
    assert nothing == b"" and meta.size_bytes == len(whole)

    # post_svc hydrates with its service identity; the author deletes.
    batch = await stub.BatchGetMedia(
        pb.BatchGetMediaRequest(media_ids=[done.media_id, 42]), metadata=as_service(settings)
    )
    assert [m.media_id for m in batch.media] == [done.media_id]
    await stub.DeleteMedia(pb.DeleteMediaRequest(media_id=done.media_id), metadata=alice)
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.GetMedia(pb.GetMediaRequest(media_id=done.media_id), metadata=alice)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    for _ in range(200):  # the sweeper was woken; files disappear shortly
        try:
            await read_blob(stub, thumb_key)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("deleted media's files were never purged")


async def test_a_video_upload_becomes_a_playable_video(
    served: tuple[Service, MediaSettings], stub: Any, tmp_path: Path
) -> None:
    import imageio_ffmpeg

    _, settings = served
    alice = as_user(settings, 7)
    clip = corpus.video(imageio_ffmpeg.get_ffmpeg_exe(), tmp_path / "clip.mp4", seconds=1.0)
    created = (
        await stub.CreateUpload(
            pb.CreateUploadRequest(content_type="video/mp4", size_bytes=len(clip)), metadata=alice
        )
    ).upload
    await stub.Upload(stream(created.upload_id, clip, chunk=4096), metadata=alice)
    await stub.CompleteUpload(pb.CompleteUploadRequest(upload_id=created.upload_id), metadata=alice)
    done = await wait_until_done(stub, created.upload_id, alice)
    assert done.status == media_pb2.UPLOAD_STATUS_READY, done.failure_reason
    media = done.media
    assert media.type == media_pb2.MEDIA_TYPE_VIDEO and 900 <= media.duration_ms <= 1100
    # The upload itself is never served (issue 15): only transcoded renditions are.
    assert [r.label for r in media.video_renditions] == ["source"]
    assert media.video_url == media.video_renditions[0].url and media.variants.thumbnail
    meta, video = await read_blob(stub, key_of(settings, media.video_url))
    assert meta.content_type == "video/mp4" and video[4:8] == b"ftyp"
    assert b"+37.7749" not in video


@pytest.mark.parametrize(
    ("request_", "code", "why"),
    [
        (
            pb.CreateUploadRequest(content_type="image/gif", size_bytes=10),
            "INVALID_ARGUMENT",
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            pb.CreateUploadRequest(content_type="image/png", size_bytes=0),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
        ),
        (
            pb.CreateUploadRequest(content_type="image/png", size_bytes=15 * 1024 * 1024 + 1),
            "INVALID_ARGUMENT",
            "MEDIA_TOO_LARGE",
        ),
    ],
)
async def test_create_upload_errors(
    served: tuple[Service, MediaSettings], stub: Any, request_: Any, code: str, why: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateUpload(request_, metadata=as_user(served[1], 7))
    assert caught.value.code().name == code and reason(caught.value) == why


async def test_who_may_call_what(served: tuple[Service, MediaSettings], stub: Any) -> None:
    _, settings = served
    request = pb.CreateUploadRequest(content_type="image/png", size_bytes=10)
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await stub.CreateUpload(request)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as service:
        await stub.CreateUpload(request, metadata=as_service(settings))
    assert service.value.code() == grpc.StatusCode.PERMISSION_DENIED
    upload = (await stub.CreateUpload(request, metadata=as_user(settings, 7))).upload
    for call, message in [
        (stub.GetUpload, pb.GetUploadRequest(upload_id=upload.upload_id)),
        (stub.CompleteUpload, pb.CompleteUploadRequest(upload_id=upload.upload_id)),
        (stub.GetMedia, pb.GetMediaRequest(media_id=upload.media_id)),
        (stub.DeleteMedia, pb.DeleteMediaRequest(media_id=upload.media_id)),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as stranger:
            await call(message, metadata=as_user(settings, 8))
        assert stranger.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as foreign_bytes:
        await stub.Upload(
            stream(upload.upload_id, b"\x89PNG\r\n\x1a\n"), metadata=as_user(settings, 8)
        )
    assert foreign_bytes.value.code() == grpc.StatusCode.NOT_FOUND
    seen = await stub.GetUpload(
        pb.GetUploadRequest(upload_id=upload.upload_id), metadata=as_service(settings)
    )
    assert seen.upload.media_id == upload.media_id


async def test_upload_stream_errors(served: tuple[Service, MediaSettings], stub: Any) -> None:
    _, settings = served
    alice = as_user(settings, 7)
    data = corpus.png((64, 64))
    upload = (
        await stub.CreateUpload(
            pb.CreateUploadRequest(content_type="image/png", size_bytes=len(data)), metadata=alice
        )
    ).upload

    async def unnamed() -> AsyncIterator[Any]:
        yield pb.UploadRequest(chunk=data)

    async def switching() -> AsyncIterator[Any]:
        yield pb.UploadRequest(upload_id=upload.upload_id, chunk=data[:10])
        yield pb.UploadRequest(upload_id=upload.upload_id + 1, chunk=data[10:])

    cases = [
        (unnamed(), "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        (switching(), "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        (stream(upload.upload_id, data + b"!"), "INVALID_ARGUMENT", "UPLOAD_SIZE_MISMATCH"),
        (stream(upload.upload_id, data[:-1]), "INVALID_ARGUMENT", "UPLOAD_SIZE_MISMATCH"),
        (
            stream(upload.upload_id, corpus.pdf()[:10] + data[10:]),
            "INVALID_ARGUMENT",
            "UNSUPPORTED_MEDIA_TYPE",
        ),
    ]
    for requests, code, why in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Upload(requests, metadata=alice)
        assert caught.value.code().name == code and reason(caught.value) == why
    with pytest.raises(grpc.aio.AioRpcError) as incomplete:
        await stub.CompleteUpload(
            pb.CompleteUploadRequest(upload_id=upload.upload_id), metadata=alice
        )
    assert incomplete.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(incomplete.value) == "UPLOAD_INCOMPLETE"
    await stub.Upload(stream(upload.upload_id, data, chunk=7), metadata=alice)
    with pytest.raises(grpc.aio.AioRpcError) as bad_filter:
        await stub.CompleteUpload(
            pb.CompleteUploadRequest(upload_id=upload.upload_id, filter="nashville"), metadata=alice
        )
    assert bad_filter.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(bad_filter.value) == "UNKNOWN_FILTER"


async def test_read_blob_errors(stub: Any) -> None:
    for key, code in [
        ("m/1/tok/missing.jpg", grpc.StatusCode.NOT_FOUND),
        ("../../etc/passwd", grpc.StatusCode.INVALID_ARGUMENT),
        ("/etc/passwd", grpc.StatusCode.INVALID_ARGUMENT),
        ("in/1/tok", grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await read_blob(stub, key)
        assert caught.value.code() == code, key


async def test_jobs_left_processing_by_a_dead_service_are_taken_at_start_up(
    data_dir: Path,
) -> None:
    # The local blob store, whatever the run's engines: the test plants the bytes in it itself.
    settings = settings_for(data_dir, s3_endpoint=None)
    auth.ensure_keys(settings)
    # What a crash mid-processing leaves: the bytes, and a row claimed by a worker now gone.
    engine = db.create_engine("media_svc", settings, settings.database_url)
    await db.migrate(engine, "media_svc", migrations_dir("media_svc"))
    ids = IdGenerator()
    media_store = store.SqlMediaStore(
        engine, outbox=Outbox(store.outbox, producer="media_svc", ids=ids)
    )
    blobs = LocalBlobStore(settings.blobs_dir())
    data = corpus.jpeg((640, 480))
    now = datetime.now(UTC)
    media_id, upload_id = ids.next_id(), ids.next_id()
    record = store.MediaRecord(
        media_id=media_id,
        upload_id=upload_id,
        owner_user_id=7,
        kind="photo",
        status="processing",
        content_type="image/jpeg",
        size_bytes=len(data),
        incoming_key=f"in/{media_id}/tok",
        expires_at=now + timedelta(hours=1),
        created_at=now,
        updated_at=now,
        filter="gingham",
        attempts=1,
        lease_until=now - timedelta(seconds=1),
    )
    writer = blobs.writer(record.incoming_key)
    await writer.write(data)
    await writer.commit()
    async with media_store.transaction() as tx:
        await media_store.insert_media(tx, record=record)
    await engine.dispose()

    service = await create_media_service(settings)
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = media_service_pb2_grpc.MediaServiceStub(channel)
            done = await wait_until_done(stub, upload_id, as_user(settings, 7))
        assert done.status == media_pb2.UPLOAD_STATUS_READY and done.media.filter == "gingham"
    finally:
        await service.stop(0)


@pytest.fixture(scope="session")
def seaweed() -> seaweedfs.SeaweedFS:
    return seaweedfs.shared()  # stopped once, at the end of the session


async def test_presigned_upload_straight_to_seaweedfs(
    data_dir: Path, seaweed: seaweedfs.SeaweedFS
) -> None:
    settings = settings_for(
        data_dir,
        s3_endpoint=seaweed.endpoint,
        s3_bucket="shutter-presign-test",
        s3_access_key=seaweed.access_key,
        s3_secret_key=seaweed.secret_key,
    )
    service = await create_media_service(settings)
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = media_service_pb2_grpc.MediaServiceStub(channel)
            alice = as_user(settings, 7)
            data = corpus.jpeg((1600, 1200), gps=True)
            upload = (
                await stub.CreateUpload(
                    pb.CreateUploadRequest(content_type="image/jpeg", size_bytes=len(data)),
                    metadata=alice,
                )
            ).upload
            assert upload.upload_url.startswith(seaweed.endpoint + "/shutter-presign-test/in/")
            assert "X-Amz-Signature=" in upload.upload_url
            async with httpx.AsyncClient() as http:
                put = await http.put(
                    upload.upload_url, content=data, headers=dict(upload.upload_headers)
                )
                assert put.status_code == 200, put.text
            await stub.CompleteUpload(
                pb.CompleteUploadRequest(upload_id=upload.upload_id, filter="moon"), metadata=alice
            )
            done = await wait_until_done(stub, upload.upload_id, alice)
            assert done.status == media_pb2.UPLOAD_STATUS_READY, done.failure_reason
            assert (done.media.width, done.media.height) == (1080, 810)
            meta, body = await read_blob(stub, key_of(settings, done.media.variants.feed))
            assert meta.content_type == "image/jpeg" and len(body) == meta.size_bytes
            corpus.assert_clean(body, name="feed")
    finally:
        await service.stop(0)
