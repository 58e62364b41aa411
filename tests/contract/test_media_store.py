"""media_svc's store on every backend: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from media_svc import store
from media_svc.events import media_ready
from media_svc.settings import MediaSettings
from mesh import db
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.services import migrations_dir
from tests.conftest import unique_service

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ids = IdGenerator()


@pytest.fixture
async def media_store(
    data_dir: Path, database_url: str | None
) -> AsyncIterator[store.SqlMediaStore]:
    name = "media_svc" if database_url is None else unique_service("media_svc")
    engine = db.create_engine(name, MediaSettings(data_dir=data_dir), database_url)
    await db.migrate(engine, name, migrations_dir("media_svc"))
    yield store.SqlMediaStore(engine, outbox=Outbox(store.outbox, producer="media_svc", ids=ids))
    await engine.dispose()


def new_record(owner: int = 7, **changes: object) -> store.MediaRecord:
    media_id = ids.next_id()
    values: dict[str, object] = {
        "media_id": media_id,
        "upload_id": ids.next_id(),
        "owner_user_id": owner,
        "kind": "photo",
        "status": "pending",
        "content_type": "image/jpeg",
        "size_bytes": 1234,
        "incoming_key": f"in/{media_id}/tok",
        "expires_at": NOW + timedelta(hours=1),
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    return store.MediaRecord(**values)  # type: ignore[arg-type]


PROCESSED = store.Processed(
    kind="photo",
    width=1080,
    height=810,
    duration_ms=0,
    renditions=[store.StoredRendition("full", "m/1/t/full.jpg", "image/jpeg", 1080, 810, 999)],
)


async def test_insert_and_read_back_by_media_and_upload_id(
    media_store: store.SqlMediaStore,
) -> None:
    record = new_record()
    async with media_store.transaction() as tx:
        await media_store.insert_media(tx, record=record)
    async with media_store.transaction() as tx:
        by_id = await media_store.get_media(tx, media_id=record.media_id)
        by_upload = await media_store.get_by_upload(tx, upload_id=record.upload_id)
        many = await media_store.get_many(tx, media_ids=[record.media_id, 12345])
        none = await media_store.get_many(tx, media_ids=[])
    assert by_id == record and by_upload == record
    assert many == [record] and none == []
    assert by_id is not None and by_id.expires_at == NOW + timedelta(hours=1)  # zones survive
    # Outside a transaction, from the replica or the primary, each record once.
    for primary in (False, True):
        found = await media_store.current_many(
            media_ids=[record.media_id, 12345, record.media_id], primary=primary
        )
        assert found == [record]
    assert await media_store.current_many(media_ids=[]) == []


async def test_the_queue_claim_lease_and_fenced_finish(media_store: store.SqlMediaStore) -> None:
    record = new_record()
    async with media_store.transaction() as tx:
        await media_store.insert_media(tx, record=record)
        assert await media_store.claimable(tx, now=NOW, limit=10) == []  # pending is not queued
        assert await media_store.start_processing(
            tx, media_id=record.media_id, filter_name="moon", now=NOW
        )
        assert not await media_store.start_processing(
            tx, media_id=record.media_id, filter_name="moon", now=NOW
        )
        assert await media_store.claimable(tx, now=NOW, limit=10) == [record.media_id]
        lease = NOW + timedelta(seconds=60)
        first = await media_store.claim(tx, media_id=record.media_id, now=NOW, lease_until=lease)
        assert first is not None and first.attempts == 1 and first.filter == "moon"
        # Held: nobody else gets it until the lease runs out.
        assert (
            await media_store.claim(tx, media_id=record.media_id, now=NOW, lease_until=lease)
            is None
        )
        assert await media_store.claimable(tx, now=NOW + timedelta(seconds=59), limit=10) == []
        later = NOW + timedelta(seconds=61)
        assert await media_store.claimable(tx, now=later, limit=10) == [record.media_id]
        second = await media_store.claim(
            tx, media_id=record.media_id, now=later, lease_until=later + timedelta(seconds=60)
        )
        assert second is not None and second.attempts == 2
        # The first attempt lost its lease: it can neither renew nor finish.
        assert not await media_store.renew_lease(
            tx, media_id=record.media_id, attempt=1, lease_until=later
        )
        assert not await media_store.finish_ready(
            tx, media_id=record.media_id, attempt=1, result=PROCESSED, now=later
        )
        assert await media_store.renew_lease(
            tx, media_id=record.media_id, attempt=2, lease_until=later + timedelta(seconds=90)
        )
        # A stopping worker gives the job back: queued again at once, the attempt not counted.
        assert not await media_store.release(tx, media_id=record.media_id, attempt=1)
        assert await media_store.release(tx, media_id=record.media_id, attempt=2)
        assert await media_store.claimable(tx, now=later, limit=10) == [record.media_id]
        again = await media_store.claim(
            tx, media_id=record.media_id, now=later, lease_until=later + timedelta(seconds=60)
        )
        assert again is not None and again.attempts == 2
        assert await media_store.finish_ready(
            tx, media_id=record.media_id, attempt=2, result=PROCESSED, now=later
        )
        done = await media_store.get_media(tx, media_id=record.media_id)
    assert done is not None and done.status == "ready" and done.lease_until is None
    assert (done.width, done.height) == (1080, 810)
    assert done.renditions == PROCESSED.renditions and done.rendition("full") is not None


async def test_failures_expiry_deletion_and_purge(media_store: store.SqlMediaStore) -> None:
    stale, fresh = new_record(expires_at=NOW - timedelta(minutes=1)), new_record()
    async with media_store.transaction() as tx:
        await media_store.insert_media(tx, record=stale)
        await media_store.insert_media(tx, record=fresh)
        expired = await media_store.expired_pending(tx, now=NOW, limit=10)
        assert [r.media_id for r in expired] == [stale.media_id]
        assert await media_store.finish_failed(
            tx,
            media_id=stale.media_id,
            attempt=None,
            from_status="pending",
            code="UPLOAD_EXPIRED",
            reason="x" * 500,  # clipped to the column
            now=NOW,
        )
        assert not await media_store.finish_failed(
            tx,
            media_id=stale.media_id,
            attempt=None,
            from_status="pending",
            code="UPLOAD_EXPIRED",
            reason="again",
            now=NOW,
        )
        failed = await media_store.get_media(tx, media_id=stale.media_id)
        assert (
            failed is not None and failed.status == "failed" and len(failed.failure_reason) == 300
        )
        assert await media_store.expired_pending(tx, now=NOW, limit=10) == []
        assert await media_store.mark_deleted(tx, media_id=fresh.media_id, now=NOW)
        assert not await media_store.mark_deleted(tx, media_id=fresh.media_id, now=NOW)
        assert [r.media_id for r in await media_store.unpurged_deleted(tx, limit=10)] == [
            fresh.media_id
        ]
        await media_store.mark_purged(tx, media_id=fresh.media_id, now=NOW)
        assert await media_store.unpurged_deleted(tx, limit=10) == []


async def test_the_outbox_commits_and_rolls_back_with_the_change(
    media_store: store.SqlMediaStore,
) -> None:
    record = new_record()

    async def count(tx: object) -> int:
        query = select(func.count()).select_from(store.outbox)
        return int((await tx.execute(query)).scalar_one())  # type: ignore[attr-defined]

    with pytest.raises(RuntimeError):
        async with media_store.transaction() as tx:
            await media_store.insert_media(tx, record=record)
            await media_store.outbox.add(
                tx,
                aggregate_id=record.media_id,
                event=media_ready(media_id=record.media_id, owner_user_id=7, is_video=False),
            )
            raise RuntimeError("crash before commit")
    async with media_store.transaction() as tx:
        assert await media_store.get_media(tx, media_id=record.media_id) is None
        assert await count(tx) == 0
