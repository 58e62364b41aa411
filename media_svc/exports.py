"""Data exports ("download your data"): a ZIP of everything an account holds, built by media_svc.

Why here: the largest part of an export is the account's media at full size, and media_svc owns
the blob store they are in; building the ZIP next to them copies no media across the mesh, and
the ZIP is one more blob, served the way media already is (a presigned URL on S3, a URL the edge
serves on the local store, signed here). The JSON parts come from their owners through one
internal RPC each (`ExportAccountData` of user_svc, graph_svc, post_svc and message_svc), as
this service: no owner's tables are read from here.

One export at a time per account: asking while one is being built returns that one. A build runs
in the background; a service that died mid-build starts it again when it comes back (the export
is still "building"). A ready ZIP is deleted `export_ttl_seconds` after it was ready; its URL
works for `export_url_ttl_seconds`, and asking again gives a fresh URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from media_svc.blobs import BlobStore
from media_svc.errors import BlobNotFound, ExportNotFound, NotExportOwner
from media_svc.settings import MediaSettings
from media_svc.store import ExportRecord, MediaRecord, MediaStore
from mesh.errors import InvalidArgument
from mesh.ids import IdGenerator

log = logging.getLogger("shutter.media_svc.exports")

EXPORT_PREFIX = "x/"
BUILDING, READY, FAILED = "building", "ready", "failed"
# Media read per query while adding an account's media to its ZIP.
MEDIA_PAGE = 100


class AccountData(Protocol):
    """The JSON files every owner service contributes to an account's export."""

    async def files(self, user_id: int) -> dict[str, bytes]:
        """Return file name -> content, from every owner; raise when one cannot answer."""
        ...


@dataclass(frozen=True)
class ExportView:
    """An export as its owner sees it: with a fresh download URL once ready."""

    record: ExportRecord
    url: str = ""
    url_expires_at: datetime | None = None


def signature(secret: bytes, key: str, expires: int) -> str:
    """Return the signature of a local export URL: HMAC-SHA256 of the key and its expiry."""
    return hmac.new(secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()


def full_size(record: MediaRecord) -> tuple[str, str] | None:
    """Return (key, file name) of a media's fullest file: the kept original, else the largest
    rendition (None when it has no file)."""
    files = [r for r in record.renditions if not r.key.endswith(".m3u8")]
    if not files:
        return None
    best = record.rendition("original") or max(files, key=lambda r: (r.width * r.height, r.size))
    extension = best.key.rsplit(".", 1)[-1] if "." in best.key else "bin"
    return best.key, f"media/{record.media_id}.{extension}"


class Exports:
    """The rules of data exports."""

    def __init__(
        self,
        store: MediaStore,
        blobs: BlobStore,
        *,
        sources: AccountData,
        secret: bytes,
        ids: IdGenerator,
        settings: MediaSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._sources = sources
        self._secret = secret
        self._ids = ids
        self._settings = settings
        self._clock = clock
        self._building: dict[int, asyncio.Task[None]] = {}

    async def start(self, *, caller: int, user_id: int) -> ExportView:
        """Start an export of the caller's data, or return the one being built."""
        if user_id != caller:
            raise NotExportOwner("you can only export your own data")
        async with self._store.transaction() as tx:
            latest = await self._store.latest_export(tx, user_id=user_id, for_update=True)
            if latest is not None and latest.state == BUILDING:
                return ExportView(latest)
            record = ExportRecord(
                export_id=self._ids.next_id(),
                user_id=user_id,
                state=BUILDING,
                blob_key="",
                size_bytes=0,
                created_at=self._clock(),
                ready_at=None,
                expires_at=None,
            )
            await self._store.insert_export(tx, record=record)
        self._spawn(record.export_id)
        return ExportView(record)

    async def latest(self, *, caller: int, user_id: int) -> ExportView:
        """Return the caller's newest export, with a fresh URL when it is ready."""
        if user_id != caller:
            raise NotExportOwner("you can only see your own exports")
        async with self._store.transaction() as tx:
            record = await self._store.latest_export(tx, user_id=user_id)
        if record is None or (
            record.state == READY and record.expires_at and record.expires_at <= self._clock()
        ):
            raise ExportNotFound("there is no export of this account; start one")
        if record.state != READY:
            return ExportView(record)
        assert record.expires_at is not None
        lifetime = min(
            self._settings.export_url_ttl_seconds,
            max(1, int((record.expires_at - self._clock()).total_seconds())),
        )
        url_expires = self._clock() + timedelta(seconds=lifetime)
        url = self._blobs.presign_get(record.blob_key, expires_in=lifetime)
        if url is None:
            expires = int(url_expires.timestamp())
            sig = signature(self._secret, record.blob_key, expires)
            url = f"{self._settings.media_url(record.blob_key)}?expires={expires}&signature={sig}"
        return ExportView(record, url, url_expires)

    def check_signed(self, *, key: str, expires: int, signed: str) -> None:
        """Raise BlobNotFound unless a local export URL is signed and still valid (the same
        answer as for a key that does not exist: nothing to learn from guessing)."""
        if not key.startswith(EXPORT_PREFIX):
            raise InvalidArgument.field("key", "is not the key of an export")
        good = signature(self._secret, key, expires)
        if not signed or not hmac.compare_digest(good, signed) or expires < time.time():
            raise BlobNotFound("no file has that key")

    def _spawn(self, export_id: int) -> None:
        if export_id in self._building:
            return
        task = asyncio.create_task(self._build_logged(export_id), name=f"export:{export_id}")
        self._building[export_id] = task
        task.add_done_callback(lambda _: self._building.pop(export_id, None))

    async def _build_logged(self, export_id: int) -> None:
        try:
            await self.build(export_id)
        except Exception:
            log.exception("export %s failed", export_id)
            async with self._store.transaction() as tx:
                await self._store.finish_export(tx, export_id=export_id, state=FAILED)

    async def build(self, export_id: int) -> None:
        """Gather the account's files from every owner and its media from the blob store into
        one ZIP, store it and mark the export ready."""
        async with self._store.transaction() as tx:
            record = await self._store.get_export(tx, export_id=export_id)
        if record is None or record.state != BUILDING:
            return
        files = await self._sources.files(record.user_id)
        key = f"{EXPORT_PREFIX}{record.user_id}/{export_id}-{secrets.token_urlsafe(16)}.zip"
        with tempfile.TemporaryDirectory(prefix="export-") as work:
            path = Path(work) / "export.zip"
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, content in sorted(files.items()):
                    await asyncio.to_thread(archive.writestr, name, content)
                await self._add_media(archive, record.user_id, Path(work))
            size = path.stat().st_size
            await self._blobs.put_file(key, path)
        now = self._clock()
        async with self._store.transaction() as tx:
            await self._store.finish_export(
                tx,
                export_id=export_id,
                state=READY,
                blob_key=key,
                size_bytes=size,
                ready_at=now,
                expires_at=now + timedelta(seconds=self._settings.export_ttl_seconds),
            )

    async def _add_media(self, archive: zipfile.ZipFile, user_id: int, work: Path) -> None:
        async with self._store.transaction() as tx:
            media_ids = await self._store.owned_media_ids(
                tx, owner_user_id=user_id, limit=1_000_000
            )
        for start in range(0, len(media_ids), MEDIA_PAGE):
            async with self._store.transaction() as tx:
                records = await self._store.get_many(
                    tx, media_ids=media_ids[start : start + MEDIA_PAGE]
                )
            for record in records:
                found = full_size(record) if record.status == "ready" else None
                if found is None:
                    continue
                blob_key, name = found
                local = work / "media.tmp"
                await self._blobs.download(blob_key, local)
                await asyncio.to_thread(archive.write, local, name)
                local.unlink()

    async def resume(self) -> None:
        """Start again the builds a stopped service left unfinished."""
        async with self._store.transaction() as tx:
            left = await self._store.exports_in(tx, state=BUILDING, expired_by=None, limit=1000)
        for record in left:
            self._spawn(record.export_id)

    async def sweep(self) -> int:
        """Delete expired ZIPs and their exports; return how many went."""
        async with self._store.transaction() as tx:
            expired = await self._store.exports_in(
                tx, state=READY, expired_by=self._clock(), limit=100
            )
        for record in expired:
            await self._forget(record)
        return len(expired)

    async def _forget(self, record: ExportRecord) -> None:
        if record.blob_key:
            await self._blobs.delete(record.blob_key)
        async with self._store.transaction() as tx:
            await self._store.delete_export(tx, export_id=record.export_id)

    async def forget_account(self, user_id: int) -> None:
        """Delete every export of a deleted account, ZIPs included (a deletion step)."""
        async with self._store.transaction() as tx:
            found = await self._store.exports_of(tx, user_id=user_id)
        for record in found:
            task = self._building.get(record.export_id)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._forget(record)

    async def run_forever(self, interval_seconds: float) -> None:
        """Resume unfinished builds, then sweep expired exports every interval."""
        await self.resume()
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("sweeping expired exports failed; trying again later")
            await asyncio.sleep(interval_seconds)

    async def stop(self) -> None:
        """Cancel builds in flight (they start again when the service does)."""
        for task in list(self._building.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
