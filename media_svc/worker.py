"""The processing worker and the sweeper that run inside media_svc.

The worker claims queued uploads (rows in status `processing`) up to `media_workers` at a time,
runs each as a separate `python -m media_svc.job` process (CPU work off the event loop, hostile
decoders apart from the service, a hard deadline and memory cap per job), stores the renditions
under a fresh unguessable prefix, and records the outcome. A job that fails leaves nothing behind:
its renditions and the uploaded bytes are deleted. A service that dies mid-job leaves a lease that
runs out, and whichever worker looks next (this one after a restart, or another replica) takes the
job again, at most `media_max_attempts` times.

A video takes two jobs in one attempt: the first makes the poster, the first rendition and its
HLS rung, and the media becomes ready (publishable) with hls_status `processing` while the same
attempt keeps the lease; the second (phase "ladder") makes the other rungs into the same folder
and rewrites the master playlist. A crash between the two leaves a ready video holding an
expired lease: the next worker claims it like any job and makes only the ladder. The uploaded
bytes are kept until the ladder is done or has failed.

The sweeper fails uploads that expired while pending and deletes their bytes, and removes the
files of deleted media.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import media_svc
from media_svc import domain, events
from media_svc.blobs import BlobMissing, BlobStore
from media_svc.settings import MediaSettings
from media_svc.store import HlsStatus, MediaRecord, MediaStore, Processed, StoredRendition

log = logging.getLogger("shutter.media.worker")

SWEEP_BATCH = 100
# A presigned PUT that started just before its URL expired may still be landing.
EXPIRY_GRACE = timedelta(seconds=60)
STDERR_TAIL = 2000
WORK_DIR_PREFIX = "worker-"


@dataclass(frozen=True)
class JobOutcome:
    """What a processing job answered."""

    ok: bool
    code: str = ""
    message: str = ""
    result: dict[str, Any] | None = None


JobRunner = Callable[[dict[str, Any], float], Coroutine[Any, Any, JobOutcome]]


def _job_environment() -> dict[str, str]:
    """Return the job's environment: ours, with this checkout importable."""
    root = str(Path(media_svc.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


JOB_COMMAND = (sys.executable, "-m", "media_svc.job")


async def run_job_process(
    job: dict[str, Any], timeout: float, *, command: Sequence[str] = JOB_COMMAND
) -> JobOutcome:
    """Run one job in its own process group; kill the whole group at the deadline."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own group: ffmpeg children die with it
        env=_job_environment(),
    )
    try:
        stdout, stderr = await asyncio.wait_for(
            process.communicate(json.dumps(job).encode()), timeout
        )
    except TimeoutError:
        _kill_group(process.pid)
        await process.wait()
        return JobOutcome(
            False, "PROCESSING_TIMEOUT", f"processing took longer than {timeout:g} seconds"
        )
    except BaseException:
        _kill_group(process.pid)
        await process.wait()
        raise
    finally:
        _kill_group(process.pid)  # anything the job left running
    try:
        answer = json.loads(stdout) if process.returncode == 0 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        log.warning(
            "processing job crashed (exit %s): %s",
            process.returncode,
            stderr.decode(errors="replace")[-STDERR_TAIL:],
        )
        return JobOutcome(False, "PROCESSING_FAILED", "processing crashed on this file")
    if not answer.get("ok"):
        return JobOutcome(False, str(answer.get("code")), str(answer.get("message")))
    return JobOutcome(True, result=answer)


class Worker:
    """Claims queued uploads, processes them, records outcomes; sweeps expired and deleted media."""

    def __init__(
        self,
        store: MediaStore,
        blobs: BlobStore,
        *,
        settings: MediaSettings,
        ffmpeg: str | None = None,
        run_job: JobRunner = run_job_process,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._settings = settings
        self._ffmpeg = ffmpeg
        self._run_job = run_job
        self._clock = clock
        self._lease = timedelta(seconds=settings.media_lease_seconds)
        self._wake = asyncio.Event()
        self._wake_sweep = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        # Per process, so replicas sharing a disk never touch each other's scratch.
        scratch = f"{WORK_DIR_PREFIX}{os.getpid()}-{domain.new_token()}"
        self._work_dir = settings.work_dir() / scratch

    def wake(self) -> None:
        """Look for queued jobs now rather than at the next poll."""
        self._wake.set()

    def wake_sweeper(self) -> None:
        """Sweep now rather than at the next interval."""
        self._wake_sweep.set()

    async def start(self) -> None:
        """Start claiming jobs (those left by a crash included) and sweeping, in the background."""
        await asyncio.to_thread(self._clear_stale_scratch)
        self._work_dir.mkdir(parents=True, exist_ok=True)
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="media-worker"),
            asyncio.create_task(self._sweep_loop(), name="media-sweeper"),
        ]

    def _clear_stale_scratch(self) -> None:
        """Remove scratch folders of jobs whose process died long enough ago to be certain."""
        root = self._work_dir.parent
        if not root.is_dir():
            return
        horizon = time.time() - 2 * self._settings.media_job_timeout_seconds
        for folder in root.iterdir():
            if folder.name.startswith(WORK_DIR_PREFIX) and folder.stat().st_mtime < horizon:
                shutil.rmtree(folder, ignore_errors=True)

    async def stop(self) -> None:
        """Stop claiming, cancel running jobs (their leases run out and they are retried later)."""
        tasks = [*self._loops, *self._running]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loops.clear()
        self._running.clear()
        await asyncio.to_thread(shutil.rmtree, self._work_dir, True)

    async def idle(self) -> None:
        """Wait until no job is running (for tests and benchmarks)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def _claim_loop(self) -> None:
        while True:
            try:
                await self.claim_jobs()
            except Exception:
                log.exception("claiming media jobs failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), self._settings.media_poll_interval_seconds
                )
            self._wake.clear()

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("sweeping media failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake_sweep.wait(), self._settings.media_sweep_interval_seconds
                )
            self._wake_sweep.clear()

    async def claim_jobs(self) -> int:
        """Claim as many queued jobs as there are free slots and start them; return how many."""
        free = self._settings.media_workers - len(self._running)
        if free <= 0:
            return 0
        now = self._clock()
        started = 0
        async with self._store.transaction() as tx:
            candidates = await self._store.claimable(tx, now=now, limit=free)
        for media_id in candidates:
            async with self._store.transaction() as tx:
                record = await self._store.claim(
                    tx, media_id=media_id, now=now, lease_until=now + self._lease
                )
            if record is None:
                continue  # another worker was faster
            task = asyncio.create_task(self._process(record), name=f"media-job-{media_id}")
            self._running.add(task)
            task.add_done_callback(self._job_done)
            started += 1
        return started

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()  # a slot is free: look for the next job

    def _job(
        self,
        record: MediaRecord,
        source: Path,
        out_dir: Path,
        *,
        phase: str = "main",
        rungs: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        settings = self._settings
        return {
            "phase": phase,
            "rungs": rungs or [],
            "source": str(source),
            "out_dir": str(out_dir),
            "kind": record.kind,
            "filter": record.filter or "normal",
            "keep_original": settings.keep_original,
            "transcode": settings.transcode_video,
            "memory_mb": settings.media_job_memory_mb,
            "ffmpeg": self._ffmpeg_path() if record.kind == "video" else "",
            "quality": {
                "jpeg": settings.jpeg_quality,
                "original_jpeg": settings.original_jpeg_quality,
                "webp": settings.webp_quality,
            },
            "photo_limits": {
                "max_pixels": settings.photo_max_pixels,
                "max_side": settings.photo_max_side,
                "max_decode_bytes": settings.photo_max_decode_mb * 1024 * 1024,
            },
            "video_limits": {
                "max_seconds": settings.video_max_seconds,
                "max_side": settings.video_max_side,
            },
        }

    def _ffmpeg_path(self) -> str:
        if self._ffmpeg is None:
            import imageio_ffmpeg

            self._ffmpeg = str(imageio_ffmpeg.get_ffmpeg_exe())
        return self._ffmpeg

    async def _process(self, record: MediaRecord) -> None:
        attempt = record.attempts
        # A ready video still holding a job: its ladder was interrupted (a crash); redo that.
        ladder_only = record.status == "ready"
        if attempt > self._settings.media_max_attempts:
            message = f"processing was interrupted {attempt - 1} times; giving up"
            if ladder_only:
                await self._end_ladder(record, attempt, record.renditions, record.hls_rungs)
            else:
                await self._fail(record, attempt, "PROCESSING_FAILED", message)
            return
        work = self._work_dir / f"{record.media_id}-{attempt}-{domain.new_token()}"
        out_dir = work / "out"
        out_dir.mkdir(parents=True)
        heartbeat = asyncio.create_task(self._heartbeat(record.media_id, attempt))
        jobs: list[asyncio.Task[JobOutcome]] = []
        prefix = ""
        try:
            source = work / "source"
            try:
                await self._blobs.download(record.incoming_key, source)
            except BlobMissing:
                if ladder_only:
                    await self._end_ladder(record, attempt, record.renditions, record.hls_rungs)
                else:
                    await self._fail(
                        record, attempt, "UPLOAD_INCOMPLETE", "the uploaded bytes are missing"
                    )
                return
            audio_from: Path | None = None  # an MP4 of the first job, to copy its audio
            if ladder_only:
                current, rungs = record.renditions, record.hls_rungs
                master = record.rendition("master")
                folder = master.key.rsplit("/", 1)[0] + "/" if master else ""
            else:
                outcome = await self._run(self._job(record, source, out_dir), heartbeat, jobs)
                if outcome is None:
                    return
                if not outcome.ok or outcome.result is None:
                    await self._fail(record, attempt, outcome.code, outcome.message)
                    return
                prefix = domain.rendition_prefix(record.media_id, domain.new_token())
                processed = await self._store_renditions(outcome.result, out_dir, prefix)
                ladder_next = processed.hls_status == "processing"
                async with self._store.transaction() as tx:
                    finished = await self._store.finish_ready(
                        tx,
                        media_id=record.media_id,
                        attempt=attempt,
                        result=processed,
                        now=self._clock(),
                        # The ladder comes next in this attempt, which keeps the job.
                        lease_until=self._clock() + self._lease if ladder_next else None,
                    )
                    if finished:
                        await self._store.outbox.add(
                            tx,
                            aggregate_id=record.media_id,
                            event=events.media_ready(
                                media_id=record.media_id,
                                owner_user_id=record.owner_user_id,
                                is_video=processed.kind == "video",
                            ),
                        )
                if not finished:
                    return
                folder, prefix = prefix, ""  # keep the renditions
                log.info("media %d ready (attempt %d)", record.media_id, attempt)
                if not ladder_next:
                    await self._delete_key_quietly(record.incoming_key)
                    return
                current, rungs = processed.renditions, processed.hls_rungs
                audio_from = next(
                    (
                        out_dir / Path(str(item["file"])).name
                        for item in outcome.result["renditions"]
                        if item["content_type"] == "video/mp4"
                    ),
                    None,
                )
            await self._make_ladder(
                record, attempt, source, work, heartbeat, jobs, folder, current, rungs, audio_from
            )
        except asyncio.CancelledError:
            # Stopping: give the job back so the next worker (this service restarted, or
            # another replica) takes it at once instead of after the lease.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5), self._store.transaction() as tx:
                    await self._store.release(tx, media_id=record.media_id, attempt=attempt)
            raise
        except Exception:
            # Storage trouble, not the file's fault: leave the job queued for another attempt.
            log.exception("processing media %d failed; it will be retried", record.media_id)
        finally:
            for task in (heartbeat, *jobs):
                if not task.done():
                    task.cancel()  # a cancelled job kills its process group
            await asyncio.gather(heartbeat, *jobs, return_exceptions=True)
            if prefix:
                await self._delete_quietly(prefix)
            await asyncio.to_thread(shutil.rmtree, work, True)

    async def _run(
        self,
        job: dict[str, Any],
        heartbeat: asyncio.Task[None],
        jobs: list[asyncio.Task[JobOutcome]],
    ) -> JobOutcome | None:
        """Run a job while the heartbeat holds the lease; None when the lease was lost first
        (the media was deleted, or another worker took over: whoever holds it now decides)."""
        task = asyncio.create_task(self._run_job(job, self._settings.media_job_timeout_seconds))
        jobs.append(task)
        done, _ = await asyncio.wait({task, heartbeat}, return_when=asyncio.FIRST_COMPLETED)
        return task.result() if task in done else None

    async def _make_ladder(
        self,
        record: MediaRecord,
        attempt: int,
        source: Path,
        work: Path,
        heartbeat: asyncio.Task[None],
        jobs: list[asyncio.Task[JobOutcome]],
        folder: str,
        current: list[StoredRendition],
        rungs: list[dict[str, Any]],
        audio_from: Path | None = None,
    ) -> None:
        """Make the rest of a ready video's HLS ladder into its folder, then record it (or,
        when the job fails, keep the first rung alone) and drop the uploaded bytes."""
        out_dir = work / "ladder"
        out_dir.mkdir()
        job = self._job(record, source, out_dir, phase="ladder", rungs=rungs)
        if audio_from is not None:
            job["audio_from"] = str(audio_from)
        outcome = await self._run(job, heartbeat, jobs)
        if outcome is None:
            return
        if outcome.ok and outcome.result is not None and folder:
            made = await self._store_renditions(outcome.result, out_dir, folder)
            replaced = {r.name for r in made.renditions}  # the master playlist, rewritten
            merged = [r for r in current if r.name not in replaced] + made.renditions
            if await self._end_ladder(record, attempt, merged, made.hls_rungs, status="ready"):
                log.info("media %d: HLS ladder ready", record.media_id)
                return
            async with self._store.transaction() as tx:
                now = await self._store.get_media(tx, media_id=record.media_id)
            if now is None or now.status == "deleted":
                # Deleted while the ladder was stored: the sweeper may have purged the folder
                # already, so the files just written would outlive it.
                await self._delete_quietly(folder)
        else:
            log.warning("media %d: HLS ladder failed: %s", record.media_id, outcome.message)
            await self._end_ladder(record, attempt, current, rungs)

    async def _end_ladder(
        self,
        record: MediaRecord,
        attempt: int,
        renditions: list[StoredRendition],
        rungs: list[dict[str, Any]],
        *,
        status: HlsStatus = "failed",
    ) -> bool:
        """Record the end of a ladder if this attempt still holds it; tell whether it did."""
        async with self._store.transaction() as tx:
            ended = await self._store.finish_ladder(
                tx,
                media_id=record.media_id,
                attempt=attempt,
                status=status,
                renditions=renditions,
                rungs=rungs,
                now=self._clock(),
            )
            if ended:
                await self._store.outbox.add(
                    tx,
                    aggregate_id=record.media_id,
                    event=events.media_ladder_finished(
                        media_id=record.media_id,
                        owner_user_id=record.owner_user_id,
                        ready=status == "ready",
                    ),
                )
        if ended:
            await self._delete_key_quietly(record.incoming_key)
        return ended

    async def _store_renditions(
        self, result: dict[str, Any], out_dir: Path, prefix: str
    ) -> Processed:
        stored = []
        sent: set[str] = set()
        for item in result["renditions"]:
            file = out_dir / Path(str(item["file"])).name  # the job names files in out_dir only
            key = prefix + file.name
            if key not in sent:  # two names may share a file (story_full and full)
                await self._blobs.put_file(key, file)
                sent.add(key)
            stored.append(
                StoredRendition(
                    name=str(item["name"]),
                    key=key,
                    content_type=str(item["content_type"]),
                    width=int(item["width"]),
                    height=int(item["height"]),
                    size=int(item["size"]),
                )
            )
        return Processed(
            kind="video" if result["type"] == "video" else "photo",
            width=int(result["width"]),
            height=int(result["height"]),
            duration_ms=int(result["duration_ms"]),
            renditions=stored,
            hls_status=result.get("hls_status") or "",
            hls_rungs=list(result.get("hls_rungs") or []),
        )

    async def _heartbeat(self, media_id: int, attempt: int) -> None:
        """Renew the lease until cancelled; return when it is lost."""
        interval = self._lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._store.transaction() as tx:
                    held = await self._store.renew_lease(
                        tx,
                        media_id=media_id,
                        attempt=attempt,
                        lease_until=self._clock() + self._lease,
                    )
            except Exception:
                log.exception("renewing the lease of media %d failed", media_id)
                continue
            if not held:
                return

    async def _fail(self, record: MediaRecord, attempt: int, code: str, message: str) -> None:
        async with self._store.transaction() as tx:
            failed = await self._store.finish_failed(
                tx,
                media_id=record.media_id,
                attempt=attempt,
                from_status="processing",
                code=code,
                reason=message,
                now=self._clock(),
            )
            if failed:
                await self._store.outbox.add(
                    tx,
                    aggregate_id=record.media_id,
                    event=events.media_failed(
                        media_id=record.media_id,
                        owner_user_id=record.owner_user_id,
                        failure_code=code,
                    ),
                )
        if failed:
            log.info("media %d failed: %s (%s)", record.media_id, code, message)
            await self._delete_key_quietly(record.incoming_key)

    async def _delete_key_quietly(self, key: str) -> None:
        try:
            await self._blobs.delete(key)
        except Exception:
            log.exception("could not delete %s", key)

    async def _delete_quietly(self, prefix: str) -> None:
        try:
            await self._blobs.delete_prefix(prefix)
        except Exception:
            log.exception("could not delete the files under %s", prefix)

    async def sweep(self) -> tuple[int, int]:
        """Fail expired pending uploads and purge deleted media; return how many of each."""
        expired = purged = 0
        while True:
            async with self._store.transaction() as tx:
                batch = await self._store.expired_pending(
                    tx, now=self._clock() - EXPIRY_GRACE, limit=SWEEP_BATCH
                )
            for record in batch:
                async with self._store.transaction() as tx:
                    failed = await self._store.finish_failed(
                        tx,
                        media_id=record.media_id,
                        attempt=None,
                        from_status="pending",
                        code="UPLOAD_EXPIRED",
                        reason="the upload was not completed in time",
                        now=self._clock(),
                    )
                    if failed:
                        await self._store.outbox.add(
                            tx,
                            aggregate_id=record.media_id,
                            event=events.media_failed(
                                media_id=record.media_id,
                                owner_user_id=record.owner_user_id,
                                failure_code="UPLOAD_EXPIRED",
                            ),
                        )
                if failed:
                    await self._blobs.delete(record.incoming_key)
                    expired += 1
            if len(batch) < SWEEP_BATCH:
                break
        while True:
            async with self._store.transaction() as tx:
                deleted = await self._store.unpurged_deleted(tx, limit=SWEEP_BATCH)
            for record in deleted:
                await self._blobs.delete_prefix(domain.media_prefix(record.media_id))
                await self._blobs.delete(record.incoming_key)
                async with self._store.transaction() as tx:
                    await self._store.mark_purged(tx, media_id=record.media_id, now=self._clock())
                purged += 1
            if len(deleted) < SWEEP_BATCH:
                break
        return expired, purged
