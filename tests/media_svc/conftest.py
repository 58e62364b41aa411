"""Fixtures for media_svc tests: the rules on a fresh store and blob directory, with the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from media_svc import domain, store
from media_svc.blobs import LocalBlobStore
from media_svc.settings import MediaSettings
from media_svc.worker import Worker
from mesh import auth, db
from mesh.context import Principal
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.services import migrations_dir

CHUNK = 64 * 1024


def user(user_id: int) -> Principal:
    """Return a signed-in user as the rules see one."""
    return Principal(subject=str(user_id), user_id=user_id, is_service=False, token="")


SERVICE = Principal(subject="svc:post_svc", user_id=None, is_service=True, token="")


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Harness:
    """The rules, the worker and what they stand on."""

    library: domain.MediaLibrary
    worker: Worker
    store: store.SqlMediaStore
    blobs: LocalBlobStore
    clock: Clock
    settings: MediaSettings
    engine: Any
    woken: list[str]

    def new_worker(self, *, settings: dict[str, Any] | None = None, **kwargs: Any) -> Worker:
        """Return another worker on the same store (a restarted or second replica)."""
        changed = self.settings.model_copy(update=settings or {})
        return Worker(self.store, self.blobs, settings=changed, clock=self.clock, **kwargs)

    async def process_all(self, on: Worker | None = None) -> None:
        """Run queued jobs until none is left that the worker may claim now."""
        runner = on or self.worker
        for _ in range(20):
            started = await runner.claim_jobs()
            await runner.idle()
            if not started:
                return
        raise AssertionError("the queue never drained")


@pytest.fixture
def media_settings(data_dir: Path) -> MediaSettings:
    settings = MediaSettings(
        data_dir=data_dir,
        media_svc_addr="127.0.0.1:0",
        media_lease_seconds=30,
        media_poll_interval_seconds=0.2,
        media_sweep_interval_seconds=3600,
        public_url="https://edge.example",
        media_base_url="https://cdn.example/media/",
    )
    auth.ensure_keys(settings)
    return settings


@pytest.fixture
async def harness(media_settings: MediaSettings) -> AsyncIterator[Harness]:
    engine = db.create_engine("media_svc", media_settings, None)
    await db.migrate(engine, "media_svc", migrations_dir("media_svc"))
    ids = IdGenerator()
    media_store = store.SqlMediaStore(
        engine, outbox=Outbox(store.outbox, producer="media_svc", ids=ids)
    )
    blobs = LocalBlobStore(media_settings.blobs_dir())
    clock = Clock()
    woken: list[str] = []
    processing = Worker(media_store, blobs, settings=media_settings, clock=clock)
    library = domain.MediaLibrary(
        media_store,
        blobs,
        ids=ids,
        settings=media_settings,
        wake_worker=lambda: woken.append("worker"),
        wake_sweeper=lambda: woken.append("sweeper"),
        clock=clock,
    )
    yield Harness(library, processing, media_store, blobs, clock, media_settings, engine, woken)
    await processing.stop()
    await engine.dispose()


async def chunks_of(data: bytes, size: int = CHUNK) -> AsyncIterator[bytes]:
    """Yield bytes as a stream of chunks."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def uploaded(
    h: Harness, data: bytes, content_type: str = "image/jpeg", *, owner: int = 7
) -> domain.UploadView:
    """Create an upload and stream the bytes into it."""
    view = await h.library.create_upload(
        caller=owner, content_type=content_type, size_bytes=len(data)
    )
    received, count = await h.library.receive(
        caller=user(owner), upload_id=view.record.upload_id, chunks=chunks_of(data)
    )
    assert count == len(data)
    return received
