"""media_svc on a read replica holding other rows than its primary: settled media reads the
replica; new, pending or processing media and every write read the primary."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy.exc import DBAPIError

from media_svc import store
from media_svc.servicer import create_media_service
from media_svc.settings import MediaSettings
from mesh import db
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from shutter.media.v1 import media_pb2, media_service_pb2_grpc
from tests.media_svc import corpus
from tests.media_svc.test_servicer import (
    as_service,
    as_user,
    pb,
    settings_for,
    stream,
    wait_until_done,
)
from tests.replica import make_replica, writable


@pytest.fixture
async def replica_url(data_dir: Path) -> str:
    return await make_replica("media_svc", data_dir)


@pytest.fixture
async def served(data_dir: Path, replica_url: str) -> AsyncIterator[tuple[Any, MediaSettings]]:
    settings = settings_for(data_dir, database_replica_url=replica_url)
    service = await create_media_service(settings)
    async with grpc.aio.insecure_channel(service.address) as channel:
        yield media_service_pb2_grpc.MediaServiceStub(channel), settings
    await service.stop(0)


def _store(engine: Any, replica: Any = None) -> store.SqlMediaStore:
    outbox = Outbox(store.outbox, producer="media_svc", ids=IdGenerator())
    return store.SqlMediaStore(engine, outbox=outbox, replica=replica)


async def _record(settings: MediaSettings, url: str | None, media_id: int) -> Any:
    async with writable("media_svc", settings, url) as engine:
        found = _store(engine)
        async with found.transaction() as tx:
            return await found.get_media(tx, media_id=media_id)


async def test_settled_media_reads_the_replica_and_the_rest_the_primary(
    served: tuple[Any, MediaSettings], replica_url: str
) -> None:
    stub, settings = served
    alice = as_user(settings, 7)
    data = corpus.jpeg((320, 240))
    created = (
        await stub.CreateUpload(
            pb.CreateUploadRequest(content_type="image/jpeg", size_bytes=len(data)), metadata=alice
        )
    ).upload
    # A new upload is on the primary only; reading it right away asks the primary.
    assert await _record(settings, replica_url, created.media_id) is None
    assert await _record(settings, settings.database_url, created.media_id) is not None
    got = await stub.GetUpload(pb.GetUploadRequest(upload_id=created.upload_id), metadata=alice)
    assert got.upload.status == media_pb2.UPLOAD_STATUS_PENDING
    await stub.Upload(stream(created.upload_id, data), metadata=alice)
    await stub.CompleteUpload(
        pb.CompleteUploadRequest(upload_id=created.upload_id, filter="normal"), metadata=alice
    )
    done = await wait_until_done(stub, created.upload_id, alice)
    assert done.status == media_pb2.UPLOAD_STATUS_READY and done.media.width == 320

    pending = (
        await stub.CreateUpload(
            pb.CreateUploadRequest(content_type="image/jpeg", size_bytes=len(data)), metadata=alice
        )
    ).upload
    # The replica: the ready photo with another width, the pending one already processing (it
    # is not settled, so the primary answers), and a ready photo the primary never had.
    ready = await _record(settings, settings.database_url, done.media_id)
    waiting = await _record(settings, settings.database_url, pending.media_id)
    only_there = dataclasses.replace(
        ready, media_id=ready.media_id - 1, upload_id=ready.upload_id - 1, width=99
    )
    async with writable("media_svc", settings, replica_url) as engine:
        on_replica = _store(engine)
        async with on_replica.transaction() as tx:
            await on_replica.insert_media(tx, record=dataclasses.replace(ready, width=1))
            await on_replica.insert_media(
                tx, record=dataclasses.replace(waiting, status="processing", width=2)
            )
            await on_replica.insert_media(tx, record=only_there)

    got_media = await stub.GetMedia(pb.GetMediaRequest(media_id=done.media_id), metadata=alice)
    assert got_media.media.width == 1
    got = await stub.GetUpload(pb.GetUploadRequest(upload_id=created.upload_id), metadata=alice)
    assert got.upload.media.width == 1
    got = await stub.GetUpload(pb.GetUploadRequest(upload_id=pending.upload_id), metadata=alice)
    assert got.upload.status == media_pb2.UPLOAD_STATUS_PENDING
    batch = await stub.BatchGetMedia(
        pb.BatchGetMediaRequest(media_ids=[done.media_id, pending.media_id, only_there.media_id]),
        metadata=as_service(settings),
    )
    assert [(m.media_id, m.width) for m in batch.media] == [
        (done.media_id, 1),
        (pending.media_id, 0),
        (only_there.media_id, 99),
    ]
    assert batch.media[1].status == media_pb2.MEDIA_STATUS_PENDING

    # Deleting writes the primary and reads it first: media only the replica has is not found.
    await stub.DeleteMedia(pb.DeleteMediaRequest(media_id=done.media_id), metadata=alice)
    assert (await _record(settings, settings.database_url, done.media_id)).status == "deleted"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.DeleteMedia(pb.DeleteMediaRequest(media_id=only_there.media_id), metadata=alice)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_write_in_a_read_transaction_fails(
    served: tuple[Any, MediaSettings], replica_url: str
) -> None:
    settings = served[1]
    async with (
        writable("media_svc", settings, settings.database_url) as primary,
        writable("media_svc", settings, replica_url) as replica,
    ):
        for reader in (_store(primary, db.read_only(replica)), _store(primary)):
            async with reader.transaction() as tx:  # the same write is fine on the primary
                await reader.mark_deleted(tx, media_id=1, now=datetime.now(UTC))
            with pytest.raises(DBAPIError):
                async with reader.read_transaction() as tx:
                    await reader.mark_deleted(tx, media_id=1, now=datetime.now(UTC))
