"""Data exports and account deletion in media_svc, on SQLite and a blob directory: one export at
a time, the ZIP's contents, signed URLs, expiry after the set time, resuming an unfinished build,
and a deleted account's media and exports removed with their files."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile

import pytest

from media_svc import errors
from media_svc.exports import Exports, signature
from tests.media_svc.conftest import Harness, user
from tests.media_svc.test_domain import ALICE, BOB, files_under, ready_media

SECRET = b"s" * 32


class Owners:
    """The owner services' files, held back until `release` is set (a build in flight)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.asked: list[int] = []

    async def files(self, user_id: int) -> dict[str, bytes]:
        self.asked.append(user_id)
        await self.release.wait()
        return {"profile.json": b'{"userId": "%d"}' % user_id}


def exports_of(harness: Harness, owners: Owners) -> Exports:
    return Exports(
        harness.store,
        harness.blobs,
        sources=owners,
        secret=SECRET,
        ids=harness.library._ids,
        settings=harness.settings.model_copy(
            update={"export_ttl_seconds": 600, "export_url_ttl_seconds": 60}
        ),
        clock=harness.clock,
    )


async def _ready(exports: Exports, owner: int) -> None:
    for _ in range(200):
        if (await exports.latest(caller=owner, user_id=owner)).record.state == "ready":
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the export never got ready")


async def test_one_export_at_a_time_then_a_signed_zip_that_expires(harness: Harness) -> None:
    photo = (await ready_media(harness, ALICE)).record
    owners = Owners()
    exports = exports_of(harness, owners)
    try:
        with pytest.raises(errors.NotExportOwner):
            await exports.start(caller=BOB, user_id=ALICE)
        with pytest.raises(errors.ExportNotFound):
            await exports.latest(caller=ALICE, user_id=ALICE)
        first = await exports.start(caller=ALICE, user_id=ALICE)
        second = await exports.start(caller=ALICE, user_id=ALICE)  # still building: the same
        assert second.record.export_id == first.record.export_id
        assert (await exports.latest(caller=ALICE, user_id=ALICE)).url == ""
        owners.release.set()
        await _ready(exports, ALICE)
        assert owners.asked == [ALICE]

        view = await exports.latest(caller=ALICE, user_id=ALICE)
        key = view.record.blob_key
        assert key.startswith(f"x/{ALICE}/") and view.url.startswith("https://cdn.example/media/x/")
        assert view.url_expires_at is not None and view.record.expires_at is not None
        assert 59 <= (view.url_expires_at - harness.clock.now).total_seconds() <= 60
        with zipfile.ZipFile(io.BytesIO(harness.blobs.path_of(key).read_bytes())) as archive:
            assert sorted(archive.namelist()) == [f"media/{photo.media_id}.jpg", "profile.json"]
            assert archive.read("profile.json") == b'{"userId": "%d"}' % ALICE
        # The signed URL opens it; anything else finds nothing.
        expires = int(time.time()) + 60
        exports.check_signed(key=key, expires=expires, signed=signature(SECRET, key, expires))
        for bad_expires, signed in (
            (expires, "0" * 64),
            (expires + 1, signature(SECRET, key, expires)),
            (int(time.time()) - 1, signature(SECRET, key, int(time.time()) - 1)),
            (expires, ""),
        ):
            with pytest.raises(errors.BlobNotFound):
                exports.check_signed(key=key, expires=bad_expires, signed=signed)
        blob = await harness.library.open_blob(key=key, signed_export=True)
        assert blob.info.size == view.record.size_bytes

        # A new export once that one is ready; the ZIP goes when its time is up.
        third = await exports.start(caller=ALICE, user_id=ALICE)
        assert third.record.export_id != first.record.export_id
        await _ready(exports, ALICE)
        assert await exports.sweep() == 0
        harness.clock.advance(601)
        assert await exports.sweep() == 2
        assert files_under(harness, f"x/{ALICE}") == []
        with pytest.raises(errors.ExportNotFound):
            await exports.latest(caller=ALICE, user_id=ALICE)
    finally:
        await exports.stop()


async def test_an_unfinished_build_is_resumed_by_the_next_start(harness: Harness) -> None:
    stopped = Owners()
    exports = exports_of(harness, stopped)
    started = await exports.start(caller=ALICE, user_id=ALICE)
    await exports.stop()  # the service stopped mid-build
    again = Owners()
    again.release.set()
    restarted = exports_of(harness, again)
    try:
        await restarted.resume()
        await _ready(restarted, ALICE)
        view = await restarted.latest(caller=ALICE, user_id=ALICE)
        assert view.record.export_id == started.record.export_id and again.asked == [ALICE]
    finally:
        await restarted.stop()


async def test_a_deleted_accounts_media_and_exports_go_with_their_files(harness: Harness) -> None:
    mine = [(await ready_media(harness, ALICE)).record for _ in range(2)]
    theirs = (await ready_media(harness, BOB)).record
    owners = Owners()
    owners.release.set()
    exports = exports_of(harness, owners)
    try:
        await exports.start(caller=ALICE, user_id=ALICE)
        await _ready(exports, ALICE)
        steps = dict(harness.library.deletion_steps())
        await steps["media"](ALICE)
        await steps["media"](ALICE)  # again (a redelivery): nothing left to do
        await exports.forget_account(ALICE)
        await harness.worker.sweep()
        for record in mine:
            with pytest.raises(errors.MediaNotFound):
                await harness.library.get_media(caller=user(ALICE), media_id=record.media_id)
            assert files_under(harness, f"m/{record.media_id}") == []
        assert files_under(harness, f"x/{ALICE}") == []
        assert files_under(harness, f"m/{theirs.media_id}") != []
        with pytest.raises(errors.ExportNotFound):
            await exports.latest(caller=ALICE, user_id=ALICE)
    finally:
        await exports.stop()
