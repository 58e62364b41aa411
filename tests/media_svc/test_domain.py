"""The upload and media rules, with the worker and sweeper, on SQLite and a blob directory."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from media_svc import domain, errors, store, worker
from media_svc.settings import MIB
from mesh.bus import unpack
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound
from shutter.events.v1 import envelope_pb2, media_events_pb2
from tests.media_svc import corpus
from tests.media_svc.conftest import SERVICE, Harness, chunks_of, uploaded, user

ALICE, BOB = 7, 8


def files_under(h: Harness, prefix: str) -> list[str]:
    folder = h.blobs.root / prefix
    return sorted(str(p.relative_to(h.blobs.root)) for p in folder.rglob("*") if p.is_file())


# --- CreateUpload -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("image/jpeg", "photo"),
        ("image/png", "photo"),
        ("image/webp", "photo"),
        ("image/heic", "photo"),
        ("IMAGE/HEIF", "photo"),
        ("video/mp4", "video"),
        ("video/quicktime", "video"),
    ],
)
async def test_create_upload_accepts_photo_and_video_types(
    harness: Harness, content_type: str, kind: str
) -> None:
    view = await harness.library.create_upload(
        caller=ALICE, content_type=content_type, size_bytes=1000
    )
    record = view.record
    assert record.kind == kind and record.status == "pending" and record.owner_user_id == ALICE
    assert record.content_type == content_type.lower()
    assert view.upload_url == f"https://edge.example/api/v1/uploads/{record.upload_id}"
    assert view.upload_headers == {"Content-Type": content_type.lower()}
    assert (record.expires_at - harness.clock()).total_seconds() == 3600
    assert record.upload_id != record.media_id


@pytest.mark.parametrize(
    "content_type",
    ["image/gif", "image/svg+xml", "application/pdf", "text/html", "image/jpeg; q=1"],
)
async def test_create_upload_refuses_other_types(harness: Harness, content_type: str) -> None:
    with pytest.raises(errors.UnsupportedMediaType) as caught:
        await harness.library.create_upload(caller=ALICE, content_type=content_type, size_bytes=10)
    assert caught.value.violations[0].field == "content_type"
    with pytest.raises(InvalidArgument):
        await harness.library.create_upload(caller=ALICE, content_type="", size_bytes=10)


@pytest.mark.parametrize(
    ("content_type", "limit"), [("image/jpeg", 15 * MIB), ("video/mp4", 100 * MIB)]
)
async def test_size_limits_are_exact(harness: Harness, content_type: str, limit: int) -> None:
    await harness.library.create_upload(caller=ALICE, content_type=content_type, size_bytes=limit)
    with pytest.raises(errors.MediaTooLarge) as caught:
        await harness.library.create_upload(
            caller=ALICE, content_type=content_type, size_bytes=limit + 1
        )
    assert caught.value.reason == "MEDIA_TOO_LARGE"
    assert caught.value.violations[0].field == "size_bytes"
    for size in (0, -1):
        with pytest.raises(InvalidArgument) as empty:
            await harness.library.create_upload(
                caller=ALICE, content_type=content_type, size_bytes=size
            )
        assert empty.value.violations[0].field == "size_bytes"


# --- Upload (streamed bytes) ------------------------------------------------------------


async def test_streamed_bytes_are_stored_under_the_incoming_key(harness: Harness) -> None:
    data = corpus.jpeg((1000, 800))
    view = await uploaded(harness, data)
    info = await harness.blobs.stat(view.record.incoming_key)
    assert info is not None and info.size == len(data)
    assert view.record.incoming_key.startswith(f"in/{view.record.media_id}/")


@pytest.mark.parametrize("delta", [+1, -1])
async def test_more_or_fewer_bytes_than_declared_keeps_nothing(
    harness: Harness, delta: int
) -> None:
    data = corpus.jpeg()
    view = await harness.library.create_upload(
        caller=ALICE, content_type="image/jpeg", size_bytes=len(data) - delta
    )
    with pytest.raises(errors.StreamSizeMismatch) as caught:
        await harness.library.receive(
            caller=user(ALICE), upload_id=view.record.upload_id, chunks=chunks_of(data)
        )
    assert caught.value.reason == "UPLOAD_SIZE_MISMATCH"
    assert await harness.blobs.stat(view.record.incoming_key) is None
    assert list((harness.blobs.root / ".tmp").iterdir()) == []  # no half-written temp file


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (corpus.pdf(), "image/jpeg"),
        (corpus.svg(), "image/png"),
        (corpus.eps(), "image/jpeg"),
        (corpus.jpeg(), "video/mp4"),
        (b"\0\0\0\x18ftypisom" + b"\0" * 100, "image/jpeg"),
    ],
    ids=["pdf-as-jpeg", "svg-as-png", "eps-as-jpeg", "jpeg-as-mp4", "mp4-as-jpeg"],
)
async def test_bytes_of_the_wrong_kind_are_refused_while_streaming(
    harness: Harness, data: bytes, content_type: str
) -> None:
    view = await harness.library.create_upload(
        caller=ALICE, content_type=content_type, size_bytes=len(data)
    )
    with pytest.raises(errors.UnsupportedMediaType):
        await harness.library.receive(
            caller=user(ALICE), upload_id=view.record.upload_id, chunks=chunks_of(data, 16)
        )
    assert await harness.blobs.stat(view.record.incoming_key) is None


async def test_chunks_may_be_up_to_one_mebibyte(harness: Harness) -> None:
    data = corpus.jpeg() + b"\0" * (2 * MIB)
    view = await harness.library.create_upload(
        caller=ALICE, content_type="image/jpeg", size_bytes=len(data)
    )
    _, count = await harness.library.receive(
        caller=user(ALICE), upload_id=view.record.upload_id, chunks=chunks_of(data, MIB)
    )
    assert count == len(data)
    with pytest.raises(InvalidArgument) as caught:
        await harness.library.receive(
            caller=user(ALICE), upload_id=view.record.upload_id, chunks=chunks_of(data, MIB + 1)
        )
    assert caught.value.violations[0].field == "chunk"


async def test_someone_elses_or_an_unknown_upload_is_not_found(harness: Harness) -> None:
    view = await harness.library.create_upload(
        caller=ALICE, content_type="image/png", size_bytes=10
    )
    for caller, upload_id in [(user(BOB), view.record.upload_id), (user(ALICE), 12345)]:
        with pytest.raises(errors.UploadNotFound):
            await harness.library.receive(
                caller=caller, upload_id=upload_id, chunks=chunks_of(b"0123456789")
            )
        with pytest.raises(errors.UploadNotFound):
            await harness.library.complete(caller=caller, upload_id=upload_id, filter_name="")
        with pytest.raises(errors.UploadNotFound):
            await harness.library.get_upload(caller=caller, upload_id=upload_id)
    with pytest.raises(InvalidArgument):
        await harness.library.get_upload(caller=user(ALICE), upload_id=0)


async def test_sending_again_replaces_the_earlier_bytes(harness: Harness) -> None:
    first = corpus.jpeg((300, 200))
    second = first[:100] + bytes(len(first) - 100)  # same size, same start, other bytes
    view = await uploaded(harness, first)
    await harness.library.receive(
        caller=user(ALICE), upload_id=view.record.upload_id, chunks=chunks_of(second)
    )
    stored = b"".join([c async for c in harness.blobs.read(view.record.incoming_key)])
    assert stored == second


async def test_no_bytes_after_expiry_or_completion(harness: Harness) -> None:
    data = corpus.jpeg()
    view = await uploaded(harness, data)
    await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
    )
    with pytest.raises(errors.UploadNotPending):
        await harness.library.receive(
            caller=user(ALICE), upload_id=view.record.upload_id, chunks=chunks_of(data)
        )
    late = await harness.library.create_upload(
        caller=ALICE, content_type="image/jpeg", size_bytes=len(data)
    )
    harness.clock.advance(3601)
    with pytest.raises(errors.UploadExpired):
        await harness.library.receive(
            caller=user(ALICE), upload_id=late.record.upload_id, chunks=chunks_of(data)
        )


# --- CompleteUpload ------------------------------------------------------------------------


async def test_complete_queues_processing_and_wakes_the_worker(harness: Harness) -> None:
    view = await uploaded(harness, corpus.jpeg())
    done = await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name=" Clarendon "
    )
    assert done.record.status == "processing" and done.record.filter == "clarendon"
    assert done.upload_url == "" and harness.woken == ["worker"]
    again = await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name="clarendon"
    )
    assert again.record.status == "processing"  # a retried call is answered the same way
    with pytest.raises(errors.UploadAlreadyCompleted):
        await harness.library.complete(
            caller=user(ALICE), upload_id=view.record.upload_id, filter_name="moon"
        )


async def test_an_unknown_filter_is_invalid(harness: Harness) -> None:
    view = await uploaded(harness, corpus.jpeg())
    for name in ("sepia-ish", "x" * 33, "clarendon!"):
        with pytest.raises(InvalidArgument) as caught:
            await harness.library.complete(
                caller=user(ALICE), upload_id=view.record.upload_id, filter_name=name
            )
        assert caught.value.reason == "UNKNOWN_FILTER"
        assert caught.value.violations[0].field == "filter"
    empty = await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
    )
    assert empty.record.filter == "normal"


async def test_complete_needs_all_the_declared_bytes(harness: Harness) -> None:
    view = await harness.library.create_upload(
        caller=ALICE, content_type="image/jpeg", size_bytes=1000
    )
    with pytest.raises(errors.UploadIncomplete):
        await harness.library.complete(
            caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
        )
    # As a presigned PUT of the wrong size would leave it in the object store:
    writer = harness.blobs.writer(view.record.incoming_key)
    await writer.write(b"\xff\xd8\xff" + b"\0" * 500)
    await writer.commit()
    with pytest.raises(errors.UploadSizeMismatch) as caught:
        await harness.library.complete(
            caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
        )
    assert isinstance(caught.value, FailedPrecondition)
    harness.clock.advance(3601)
    with pytest.raises(errors.UploadExpired):
        await harness.library.complete(
            caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
        )


# --- Processing ----------------------------------------------------------------------------


async def test_a_photo_becomes_ready_with_renditions_under_an_unguessable_prefix(
    harness: Harness,
) -> None:
    view = await uploaded(harness, corpus.jpeg((2000, 1500), gps=True))
    await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name="lark"
    )
    await harness.process_all()
    ready = await harness.library.get_upload(caller=user(ALICE), upload_id=view.record.upload_id)
    record = ready.record
    assert record.status == "ready" and (record.width, record.height) == (1080, 810)
    names = {r.name for r in record.renditions}
    assert names == {
        "original",
        "thumbnail",
        "feed",
        "full",
        "thumbnail_webp",
        "feed_webp",
        "full_webp",
        "story",
        "story_webp",
        "story_full",  # 4:3 is both shapes: the same file as full
        "story_full_webp",
    }
    assert record.rendition("story_full").key == record.rendition("full").key  # type: ignore[union-attr]
    prefixes = {r.key.rsplit("/", 1)[0] for r in record.renditions}
    assert len(prefixes) == 1
    prefix = prefixes.pop()
    assert prefix.startswith(f"m/{record.media_id}/") and len(prefix.split("/")[2]) >= 16
    for rendition in record.renditions:
        info = await harness.blobs.stat(rendition.key)
        assert info is not None and info.size == rendition.size
        data = b"".join([c async for c in harness.blobs.read(rendition.key)])
        corpus.assert_clean(data, name=rendition.name)
    assert await harness.blobs.stat(record.incoming_key) is None  # the upload itself is gone
    assert harness.library.url(record.renditions[0].key).startswith("https://cdn.example/media/m/")


async def test_a_refused_file_fails_cleanly_and_the_worker_goes_on(harness: Harness) -> None:
    # A presigned upload skips the streaming check: the worker is the last line.
    bad = await harness.library.create_upload(
        caller=ALICE, content_type="image/jpeg", size_bytes=len(corpus.pdf())
    )
    writer = harness.blobs.writer(bad.record.incoming_key)
    await writer.write(corpus.pdf())
    await writer.commit()
    bomb = await uploaded(harness, corpus.png_bomb(), "image/png")
    good = await uploaded(harness, corpus.jpeg())
    for view in (bad, bomb, good):
        await harness.library.complete(
            caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
        )
    await harness.process_all()
    outcomes = {}
    for view in (bad, bomb, good):
        record = (
            await harness.library.get_upload(caller=user(ALICE), upload_id=view.record.upload_id)
        ).record
        outcomes[view.record.upload_id] = (record.status, record.failure_code)
        if record.status == "failed":
            assert record.renditions == [] and record.failure_reason
            assert files_under(harness, f"m/{record.media_id}") == []
        assert await harness.blobs.stat(record.incoming_key) is None
    assert outcomes == {
        bad.record.upload_id: ("failed", "UNSUPPORTED_MEDIA_TYPE"),
        bomb.record.upload_id: ("failed", "IMAGE_TOO_LARGE"),
        good.record.upload_id: ("ready", ""),
    }


async def test_a_job_over_its_deadline_is_killed_and_fails(harness: Harness) -> None:
    slow = harness.new_worker(settings={"media_job_timeout_seconds": 0.05})
    view = await uploaded(harness, corpus.jpeg((3000, 2000)))
    await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
    )
    await harness.process_all(slow)
    record = (
        await harness.library.get_upload(caller=user(ALICE), upload_id=view.record.upload_id)
    ).record
    assert (record.status, record.failure_code) == ("failed", "PROCESSING_TIMEOUT")
    assert files_under(harness, f"m/{record.media_id}") == []


async def test_a_crashing_job_process_is_a_failure_not_a_crash_of_the_service() -> None:
    crash = (sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    outcome = await worker.run_job_process({}, 10, command=crash)
    assert not outcome.ok and outcome.code == "PROCESSING_FAILED"
    garbage = (sys.executable, "-c", "print('not json')")
    assert (await worker.run_job_process({}, 10, command=garbage)).code == "PROCESSING_FAILED"


async def test_a_job_left_by_a_dead_process_is_taken_again_when_its_lease_runs_out(
    harness: Harness,
) -> None:
    view = await uploaded(harness, corpus.jpeg())
    await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
    )
    # A worker claims the job, then its process dies: nothing more happens to the row.
    now = harness.clock()
    async with harness.store.transaction() as tx:
        claimed = await harness.store.claim(
            tx,
            media_id=view.record.media_id,
            now=now,
            lease_until=now + timedelta(seconds=30),
        )
    assert claimed is not None
    restarted = harness.new_worker()
    assert await restarted.claim_jobs() == 0  # the lease still holds
    harness.clock.advance(31)
    await harness.process_all(restarted)
    record = (
        await harness.library.get_upload(caller=user(ALICE), upload_id=view.record.upload_id)
    ).record
    assert record.status == "ready" and record.attempts == 2


async def test_a_stopping_worker_gives_its_job_back_for_the_next_one(harness: Harness) -> None:
    started = asyncio.Event()

    async def hanging_job(_job: dict[str, Any], _timeout: float) -> worker.JobOutcome:
        started.set()
        await asyncio.Event().wait()  # until cancelled
        raise AssertionError("unreachable")

    stopping = harness.new_worker(run_job=hanging_job)
    view = await uploaded(harness, corpus.jpeg())
    await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
    )
    assert await stopping.claim_jobs() == 1
    await started.wait()
    await stopping.stop()
    async with harness.store.transaction() as tx:
        record = await harness.store.get_media(tx, media_id=view.record.media_id)
    assert record is not None and record.status == "processing"
    assert record.lease_until is None and record.attempts == 0
    await harness.process_all()  # no waiting for a lease: the next worker takes it now
    done = (
        await harness.library.get_upload(caller=user(ALICE), upload_id=view.record.upload_id)
    ).record
    assert done.status == "ready" and done.attempts == 1


async def test_a_job_interrupted_too_often_fails_instead_of_looping(harness: Harness) -> None:
    view = await uploaded(harness, corpus.jpeg())
    await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
    )
    for _ in range(harness.settings.media_max_attempts):
        now = harness.clock()
        async with harness.store.transaction() as tx:
            assert await harness.store.claim(
                tx, media_id=view.record.media_id, now=now, lease_until=now
            )
        harness.clock.advance(1)
    await harness.process_all()
    record = (
        await harness.library.get_upload(caller=user(ALICE), upload_id=view.record.upload_id)
    ).record
    assert (record.status, record.failure_code) == ("failed", "PROCESSING_FAILED")
    assert await harness.blobs.stat(record.incoming_key) is None


async def test_media_deleted_mid_job_keeps_no_renditions(harness: Harness) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow_job(job: dict[str, Any], timeout: float) -> worker.JobOutcome:
        started.set()
        await release.wait()
        return await worker.run_job_process(job, timeout)

    slow = harness.new_worker(settings={"media_lease_seconds": 0.3}, run_job=slow_job)
    view = await uploaded(harness, corpus.jpeg())
    await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
    )
    assert await slow.claim_jobs() == 1
    await started.wait()
    await harness.library.delete(caller=user(ALICE), media_id=view.record.media_id)
    await asyncio.wait_for(slow.idle(), 5)  # the heartbeat notices the lost lease
    release.set()
    async with harness.store.transaction() as tx:
        record = await harness.store.get_media(tx, media_id=view.record.media_id)
    assert record is not None and record.status == "deleted" and record.renditions == []
    assert files_under(harness, f"m/{view.record.media_id}") == []


async def test_a_video_is_ready_with_its_first_rung_and_a_crashed_ladder_is_made_later(
    harness: Harness, tmp_path: Any
) -> None:
    """The first job makes the video ready (poster, 720p, a master playlist of one rung); the
    ladder job of that attempt dies with its worker; once the lease runs out another worker
    makes the ladder into the same folder and the master playlist lists every rung."""
    import imageio_ffmpeg

    clip = corpus.video(
        imageio_ffmpeg.get_ffmpeg_exe(), tmp_path / "clip.mp4", seconds=1.0, size="720x1280"
    )

    async def ladder_dies(job: dict[str, Any], timeout: float) -> worker.JobOutcome:
        if job["phase"] == "ladder":
            raise OSError("the machine went away")  # as a crash: no outcome, lease kept
        return await worker.run_job_process(job, timeout)

    crashing = harness.new_worker(run_job=ladder_dies)
    view = await uploaded(harness, clip, "video/mp4")
    await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
    )
    await harness.process_all(crashing)
    first = await harness.library.get_media(caller=user(ALICE), media_id=view.record.media_id)
    assert first.status == "ready" and first.hls_status == "processing"
    assert [r["label"] for r in first.hls_rungs] == ["720p"]
    assert first.rendition("video_720p") and first.rendition("video_480p") is None
    master = first.rendition("master")
    assert master is not None
    assert await harness.blobs.stat(first.incoming_key) is not None  # kept for the ladder

    harness.clock.advance(harness.settings.media_lease_seconds + 1)
    await harness.process_all()
    done = await harness.library.get_media(caller=user(ALICE), media_id=view.record.media_id)
    assert done.hls_status == "ready" and [r["label"] for r in done.hls_rungs] == ["720p", "480p"]
    assert done.attempts == 2 and done.rendition("video_480p") is not None
    rewritten = done.rendition("master")
    assert rewritten is not None and rewritten.key == master.key  # the URL clients already have
    text = b"".join([c async for c in harness.blobs.read(master.key)]).decode()
    assert "hls_720p.m3u8" in text and "hls_480p.m3u8" in text
    folder = master.key.rsplit("/", 1)[0]
    assert {r.key.rsplit("/", 1)[0] for r in done.renditions} == {folder}
    for rendition in done.renditions:
        assert await harness.blobs.stat(rendition.key) is not None, rendition.name
    assert await harness.blobs.stat(done.incoming_key) is None


async def test_a_video_deleted_during_its_ladder_leaves_no_files(
    harness: Harness, tmp_path: Any
) -> None:
    import imageio_ffmpeg

    clip = corpus.video(
        imageio_ffmpeg.get_ffmpeg_exe(), tmp_path / "clip.mp4", seconds=1.0, size="720x1280"
    )
    view = await uploaded(harness, clip, "video/mp4")

    async def deleted_meanwhile(job: dict[str, Any], timeout: float) -> worker.JobOutcome:
        if job["phase"] == "ladder":
            await harness.library.delete(caller=user(ALICE), media_id=view.record.media_id)
            assert await harness.worker.sweep() == (0, 1)  # the folder is purged at once
        return await worker.run_job_process(job, timeout)

    await harness.library.complete(
        caller=user(ALICE), upload_id=view.record.upload_id, filter_name=""
    )
    await harness.process_all(harness.new_worker(run_job=deleted_meanwhile))
    assert files_under(harness, f"m/{view.record.media_id}") == []


# --- Reading, deleting, sweeping ---------------------------------------------------------


async def ready_media(harness: Harness, owner: int = ALICE) -> domain.UploadView:
    view = await uploaded(harness, corpus.jpeg((400, 300)), owner=owner)
    await harness.library.complete(
        caller=user(owner), upload_id=view.record.upload_id, filter_name=""
    )
    await harness.process_all()
    return await harness.library.get_upload(caller=user(owner), upload_id=view.record.upload_id)


async def test_media_is_visible_to_its_owner_and_services_only(harness: Harness) -> None:
    mine = (await ready_media(harness, ALICE)).record
    theirs = (await ready_media(harness, BOB)).record
    assert (await harness.library.get_media(caller=user(ALICE), media_id=mine.media_id)) == mine
    assert (await harness.library.get_media(caller=SERVICE, media_id=theirs.media_id)) == theirs
    with pytest.raises(errors.MediaNotFound):
        await harness.library.get_media(caller=user(ALICE), media_id=theirs.media_id)
    ids = [theirs.media_id, 999, mine.media_id, theirs.media_id, -1]
    assert [r.media_id for r in await harness.library.batch_get(caller=SERVICE, media_ids=ids)] == [
        theirs.media_id,
        mine.media_id,
    ]
    alice_sees = await harness.library.batch_get(caller=user(ALICE), media_ids=ids)
    assert [r.media_id for r in alice_sees] == [mine.media_id]
    assert await harness.library.batch_get(caller=SERVICE, media_ids=[1] * 100) == []
    with pytest.raises(InvalidArgument):
        await harness.library.batch_get(caller=SERVICE, media_ids=list(range(1, 102)))


async def test_delete_by_owner_or_service_hides_at_once_and_purges_files(
    harness: Harness,
) -> None:
    record = (await ready_media(harness)).record
    with pytest.raises(errors.MediaNotFound):
        await harness.library.delete(caller=user(BOB), media_id=record.media_id)
    with pytest.raises(errors.MediaNotFound):
        await harness.library.delete(caller=user(ALICE), media_id=424242)
    await harness.library.delete(caller=user(ALICE), media_id=record.media_id)
    await harness.library.delete(caller=SERVICE, media_id=record.media_id)  # again: fine
    assert harness.woken[-1] == "sweeper"
    with pytest.raises(errors.MediaNotFound):
        await harness.library.get_media(caller=user(ALICE), media_id=record.media_id)
    assert await harness.library.batch_get(caller=SERVICE, media_ids=[record.media_id]) == []
    assert files_under(harness, f"m/{record.media_id}") != []
    assert await harness.worker.sweep() == (0, 1)
    assert files_under(harness, f"m/{record.media_id}") == []
    with pytest.raises(errors.BlobNotFound):
        await harness.library.open_blob(key=record.renditions[0].key)
    assert await harness.worker.sweep() == (0, 0)


async def test_the_sweeper_fails_expired_uploads_and_deletes_their_bytes(
    harness: Harness,
) -> None:
    stale = await uploaded(harness, corpus.jpeg())
    harness.clock.advance(3600 + 30)
    assert await harness.worker.sweep() == (0, 0)  # within the grace for in-flight PUTs
    fresh = await uploaded(harness, corpus.jpeg())
    harness.clock.advance(60)
    assert await harness.worker.sweep() == (1, 0)
    expired = (
        await harness.library.get_upload(caller=user(ALICE), upload_id=stale.record.upload_id)
    ).record
    assert (expired.status, expired.failure_code) == ("failed", "UPLOAD_EXPIRED")
    assert await harness.blobs.stat(stale.record.incoming_key) is None
    assert await harness.blobs.stat(fresh.record.incoming_key) is not None
    with pytest.raises(errors.UploadAlreadyCompleted):
        await harness.library.complete(
            caller=user(ALICE), upload_id=stale.record.upload_id, filter_name=""
        )


async def test_open_blob_serves_published_files_by_range(harness: Harness) -> None:
    record = (await ready_media(harness)).record
    full = record.rendition("full")
    assert full is not None
    whole = await harness.library.open_blob(key=full.key)
    data = b"".join([c async for c in whole.chunks])
    assert len(data) == full.size == whole.info.size == whole.length and whole.offset == 0
    assert whole.info.content_type == "image/jpeg"
    part = await harness.library.open_blob(key=full.key, offset=10, length=20)
    assert (part.offset, part.length) == (10, 20)
    assert b"".join([c async for c in part.chunks]) == data[10:30]
    tail = await harness.library.open_blob(key=full.key, suffix_length=5)
    assert tail.offset == full.size - 5 and b"".join([c async for c in tail.chunks]) == data[-5:]
    past = await harness.library.open_blob(key=full.key, offset=full.size)
    assert past.length == 0 and [c async for c in past.chunks] == []
    head = await harness.library.open_blob(key=full.key, metadata_only=True)
    assert head.length == 0 and head.info.etag == whole.info.etag
    assert [c async for c in head.chunks] == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"key": "../etc/passwd"}, "key"),
        ({"key": "/etc/passwd"}, "key"),
        ({"key": "m/1/../../x"}, "key"),
        ({"key": "m/1/x y.jpg"}, "key"),
        ({"key": "in/1/tok"}, "key"),  # uploads are never served
        ({"key": "m/1/t/full.jpg", "offset": -1}, "offset"),
        ({"key": "m/1/t/full.jpg", "suffix_length": 5, "offset": 1}, "suffix_length"),
    ],
)
async def test_open_blob_refuses_unsafe_keys_and_ranges(
    harness: Harness, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await harness.library.open_blob(**kwargs)
    assert caught.value.violations[0].field == field
    with pytest.raises(NotFound):
        await harness.library.open_blob(key="m/1/t/missing.jpg")


async def test_outcomes_are_published_through_the_outbox(harness: Harness) -> None:
    ready = (await ready_media(harness)).record
    bad = await uploaded(harness, corpus.truncated_jpeg())
    await harness.library.complete(
        caller=user(ALICE), upload_id=bad.record.upload_id, filter_name=""
    )
    await harness.process_all()
    await harness.library.delete(caller=user(ALICE), media_id=ready.media_id)
    async with harness.engine.connect() as conn:
        rows = (await conn.execute(select(store.outbox).order_by(store.outbox.c.event_id))).all()
    envelopes = [envelope_pb2.EventEnvelope.FromString(row.envelope) for row in rows]
    assert [row.event_type for row in rows] == [
        "shutter.events.v1.MediaReady",
        "shutter.events.v1.MediaFailed",
        "shutter.events.v1.MediaDeleted",
    ]
    assert unpack(envelopes[0], media_events_pb2.MediaReady).media_id == ready.media_id
    failed = unpack(envelopes[1], media_events_pb2.MediaFailed)
    assert (failed.media_id, failed.failure_code) == (bad.record.media_id, "MEDIA_CORRUPT")
    assert unpack(envelopes[2], media_events_pb2.MediaDeleted).owner_user_id == ALICE
