"""Upload and media rules: what may be uploaded, by whom, how bytes arrive, who sees what.

Uploads and media belong to their owner: other users get NOT_FOUND (the ids are time-ordered and
guessable, so a different answer would confirm that an id exists); services see everything.
Processing itself happens in media_svc.worker; this module queues it and wakes the worker.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from media_svc import events, filters, sniff
from media_svc.blobs import BlobInfo, BlobMissing, BlobStore, InvalidKey, check_key
from media_svc.errors import (
    BlobNotFound,
    MediaNotFound,
    MediaTooLarge,
    StreamSizeMismatch,
    UnsupportedMediaType,
    UploadAlreadyCompleted,
    UploadExpired,
    UploadIncomplete,
    UploadNotFound,
    UploadNotPending,
    UploadSizeMismatch,
)
from media_svc.settings import MediaSettings
from media_svc.store import Kind, MediaRecord, MediaStore
from mesh.context import Principal
from mesh.errors import InvalidArgument
from mesh.ids import IdGenerator

PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")
VIDEO_TYPES = ("video/mp4", "video/quicktime")
CONTENT_TYPE_MAX = 64
MAX_CHUNK_BYTES = 1024 * 1024
BATCH_MAX = 100
# Media of a deleted account read per query while deleting them one by one.
DELETION_BATCH = 200
FILTER_MAX = 32
# Only processed renditions are public; uploads wait under "in/", which ReadBlob never serves.
PUBLIC_PREFIX = "m/"
# The rendition kept only to re-process from: stored next to the others, never served nor listed.
ARCHIVED_NAME = "original"
INCOMING_PREFIX = "in/"
UPLOAD_METHOD = "PUT"


def rendition_prefix(media_id: int, token: str) -> str:
    """Return the folder of one processing attempt's files: unguessable, never reused."""
    return f"{PUBLIC_PREFIX}{media_id}/{token}/"


def media_prefix(media_id: int) -> str:
    """Return the folder of every file of a media."""
    return f"{PUBLIC_PREFIX}{media_id}/"


def new_token() -> str:
    """Return 96 random bits as URL-safe text (letters, digits, '-' and '_')."""
    token = secrets.token_urlsafe(12)
    # A key segment must start with a letter or digit.
    return ("k" + token[1:]) if not token[0].isalnum() else token


def kind_of_content_type(content_type: str) -> Kind:
    """Return photo or video for an accepted MIME type, or raise InvalidArgument."""
    if not content_type:
        raise InvalidArgument.field("content_type", "is required")
    normalised = content_type.strip().lower()
    if normalised in PHOTO_TYPES:
        return "photo"
    if normalised in VIDEO_TYPES:
        return "video"
    raise UnsupportedMediaType.field(
        "content_type", f"must be one of {', '.join(PHOTO_TYPES + VIDEO_TYPES)}"
    )


def check_filter(name: str) -> str:
    """Return the filter's canonical name ("" means normal) or raise InvalidArgument."""
    name = name.strip().lower() or filters.NORMAL
    if len(name) > FILTER_MAX or name not in filters.FILTERS:
        raise InvalidArgument.field(
            "filter", f"must be one of {', '.join(filters.FILTERS)}", reason="UNKNOWN_FILTER"
        )
    return name


# Statuses media leaves for none but "deleted": a replica's answer in one of them may be old,
# never wrong. Media the replica has in another status (pending, processing) or not at all is
# asked of the primary, so a new upload is never missing and its progress never behind.
SETTLED: frozenset[str] = frozenset({"ready", "failed", "deleted"})


def visible_to(record: MediaRecord, principal: Principal) -> bool:
    """Tell whether a caller may see an upload or media: its owner or a service, until deleted."""
    if record.status == "deleted":
        return False
    return principal.is_service or principal.user_id == record.owner_user_id


@dataclass(frozen=True)
class UploadView:
    """An upload as its owner sees it, with where to send the bytes while it is pending."""

    record: MediaRecord
    upload_url: str
    upload_headers: dict[str, str]


@dataclass(frozen=True)
class BlobRead:
    """A stored file about to be streamed: its metadata, the range, and the bytes."""

    info: BlobInfo
    offset: int
    length: int
    chunks: AsyncIterator[bytes]


async def _nothing() -> AsyncIterator[bytes]:
    empty: tuple[bytes, ...] = ()
    for chunk in empty:
        yield chunk


class MediaLibrary:
    """The rules of uploads and media."""

    def __init__(
        self,
        store: MediaStore,
        blobs: BlobStore,
        *,
        ids: IdGenerator,
        settings: MediaSettings,
        wake_worker: Callable[[], None] = lambda: None,
        wake_sweeper: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._ids = ids
        self._settings = settings
        self._wake_worker = wake_worker
        self._wake_sweeper = wake_sweeper
        self._clock = clock

    def url(self, key: str) -> str:
        """Return the absolute URL of a stored file (only keys are stored)."""
        return self._settings.media_url(key)

    def max_bytes(self, kind: Kind) -> int:
        """Return the size limit of a kind of media."""
        return self._settings.photo_max_bytes if kind == "photo" else self._settings.video_max_bytes

    def _view(self, record: MediaRecord) -> UploadView:
        if record.status != "pending":
            return UploadView(record, "", {})
        headers = {"Content-Type": record.content_type}
        left = int((record.expires_at - self._clock()).total_seconds())
        presigned = self._blobs.presign_put(
            record.incoming_key, content_type=record.content_type, expires_in=max(1, left)
        )
        url = presigned or (
            f"{self._settings.public_url.rstrip('/')}/api/v1/uploads/{record.upload_id}"
        )
        return UploadView(record, url, headers)

    async def create_upload(self, *, caller: int, content_type: str, size_bytes: int) -> UploadView:
        """Start an upload of a declared type and exact size."""
        kind = kind_of_content_type(content_type)
        if size_bytes <= 0:
            raise InvalidArgument.field("size_bytes", "must be at least 1 byte")
        limit = self.max_bytes(kind)
        if size_bytes > limit:
            raise MediaTooLarge.field("size_bytes", f"a {kind} may be at most {limit} bytes")
        now = self._clock()
        media_id, upload_id = self._ids.next_id(), self._ids.next_id()
        record = MediaRecord(
            media_id=media_id,
            upload_id=upload_id,
            owner_user_id=caller,
            kind=kind,
            status="pending",
            content_type=content_type.strip().lower(),
            size_bytes=size_bytes,
            incoming_key=f"{INCOMING_PREFIX}{media_id}/{new_token()}",
            expires_at=now + timedelta(seconds=self._settings.upload_ttl_seconds),
            created_at=now,
            updated_at=now,
        )
        async with self._store.transaction() as tx:
            await self._store.insert_media(tx, record=record)
        return self._view(record)

    async def _owned_upload(
        self, caller: Principal, upload_id: int, *, replica: bool = False
    ) -> MediaRecord:
        """Return an upload of the caller's: from the primary, or with `replica` from the
        replica unless it is not settled there."""
        if upload_id <= 0:
            raise InvalidArgument.field("upload_id", "must be a positive id")
        record = None
        if replica:
            async with self._store.read_transaction() as tx:
                record = await self._store.get_by_upload(tx, upload_id=upload_id)
        if not replica or (
            self._store.has_replica and (record is None or record.status not in SETTLED)
        ):
            async with self._store.transaction() as tx:
                record = await self._store.get_by_upload(tx, upload_id=upload_id)
        if record is None or not visible_to(record, caller):
            raise UploadNotFound("no upload has that id")
        return record

    async def receive(
        self, *, caller: Principal, upload_id: int, chunks: AsyncIterator[bytes]
    ) -> tuple[UploadView, int]:
        """Store the bytes of a pending upload as they stream in; keep nothing unless all of
        them arrive, exactly as many as declared, and they start like the declared kind."""
        record = await self._owned_upload(caller, upload_id)
        self._check_pending(record)
        writer = self._blobs.writer(record.incoming_key)
        received = 0
        head = b""
        try:
            async for chunk in chunks:
                if len(chunk) > MAX_CHUNK_BYTES:
                    raise InvalidArgument.field(
                        "chunk", f"must be at most {MAX_CHUNK_BYTES} bytes per message"
                    )
                received += len(chunk)
                if received > record.size_bytes:
                    raise StreamSizeMismatch.field(
                        "chunk", f"more bytes than the {record.size_bytes} declared"
                    )
                if len(head) < sniff.HEAD_BYTES:
                    head += chunk[: sniff.HEAD_BYTES - len(head)]
                    if len(head) == sniff.HEAD_BYTES:
                        self._check_kind(record, head)
                await writer.write(chunk)
            if received < record.size_bytes:
                raise StreamSizeMismatch.field(
                    "chunk", f"{received} bytes arrived, {record.size_bytes} were declared"
                )
            if len(head) < sniff.HEAD_BYTES:
                self._check_kind(record, head)
            if self._clock() > record.expires_at:
                raise UploadExpired("the upload expired; create a new one")
            await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        return self._view(record), received

    def _check_pending(self, record: MediaRecord) -> None:
        if record.status != "pending":
            raise UploadNotPending("the upload was already completed")
        if self._clock() > record.expires_at:
            raise UploadExpired("the upload expired; create a new one")

    @staticmethod
    def _check_kind(record: MediaRecord, head: bytes) -> None:
        if sniff.kind_of(head) != record.kind:
            raise UnsupportedMediaType.field(
                "chunk", f"the bytes are not a {record.kind} of an accepted format"
            )

    async def complete(self, *, caller: Principal, upload_id: int, filter_name: str) -> UploadView:
        """Queue an uploaded file for processing with a filter (idempotent for the same filter)."""
        name = check_filter(filter_name)
        record = await self._owned_upload(caller, upload_id)
        if record.status != "pending":
            if record.status in ("processing", "ready") and record.filter == name:
                return self._view(record)  # a retried call: answer as the first time
            raise UploadAlreadyCompleted(
                "the upload failed; create a new one"
                if record.status == "failed"
                else "the upload was already completed with another filter"
            )
        if self._clock() > record.expires_at:
            raise UploadExpired("the upload expired; create a new one")
        info = await self._blobs.stat(record.incoming_key)
        if info is None:
            raise UploadIncomplete("no bytes were uploaded yet; PUT them to the upload URL first")
        if info.size != record.size_bytes:
            raise UploadSizeMismatch(
                f"{info.size} bytes were uploaded, {record.size_bytes} were declared"
            )
        now = self._clock()
        async with self._store.transaction() as tx:
            started = await self._store.start_processing(
                tx, media_id=record.media_id, filter_name=name, now=now
            )
            current = await self._store.get_media(tx, media_id=record.media_id)
        assert current is not None
        if not started and current.filter != name:
            raise UploadAlreadyCompleted("the upload was already completed with another filter")
        self._wake_worker()
        return self._view(current)

    async def get_upload(self, *, caller: Principal, upload_id: int) -> UploadView:
        """Return an upload to its owner (or a service), from the replica once it is settled."""
        return self._view(await self._owned_upload(caller, upload_id, replica=True))

    async def get_media(self, *, caller: Principal, media_id: int) -> MediaRecord:
        """Return media to its owner (or a service), from the replica once it is settled."""
        if media_id <= 0:
            raise InvalidArgument.field("media_id", "must be a positive id")
        record = (await self._settled([media_id])).get(media_id)
        if record is None or not visible_to(record, caller):
            raise MediaNotFound("no media has that id")
        return record

    async def batch_get(self, *, caller: Principal, media_ids: Sequence[int]) -> list[MediaRecord]:
        """Return the media with these ids that the caller may see, in request order, from
        the replica where it is settled there."""
        if len(media_ids) > BATCH_MAX:
            raise InvalidArgument.field("media_ids", f"at most {BATCH_MAX} ids per call")
        wanted = list(dict.fromkeys(i for i in media_ids if i > 0))
        found = await self._settled(wanted)
        return [found[i] for i in wanted if i in found and visible_to(found[i], caller)]

    async def _settled(self, media_ids: list[int]) -> dict[int, MediaRecord]:
        """Return media by id from the replica, and from the primary what is not SETTLED
        there."""
        found = {r.media_id: r for r in await self._store.current_many(media_ids=media_ids)}
        unsettled = [i for i in media_ids if i not in found or found[i].status not in SETTLED]
        if unsettled and self._store.has_replica:
            fresh = await self._store.current_many(media_ids=unsettled, primary=True)
            found.update((r.media_id, r) for r in fresh)
        return found

    async def delete(self, *, caller: Principal, media_id: int) -> None:
        """Delete media now; its files go in the background. Deleting it again succeeds."""
        if media_id <= 0:
            raise InvalidArgument.field("media_id", "must be a positive id")
        async with self._store.transaction() as tx:
            record = await self._store.get_media(tx, media_id=media_id)
            allowed = record is not None and (
                caller.is_service or caller.user_id == record.owner_user_id
            )
            if record is None or not allowed:
                raise MediaNotFound("no media has that id")
            if await self._store.mark_deleted(tx, media_id=media_id, now=self._clock()):
                await self._store.outbox.add(
                    tx,
                    aggregate_id=media_id,
                    event=events.media_deleted(
                        media_id=media_id, owner_user_id=record.owner_user_id
                    ),
                )
        self._wake_sweeper()

    def deletion_steps(self) -> list[tuple[str, Callable[[int], Awaitable[object]]]]:
        """Return the steps that remove a deleted account's media (see mesh.deletion): each goes
        as an ordinary delete does, with MediaDeleted, its files removed by the sweeper."""
        return [("media", self._delete_media_of)]

    async def _delete_media_of(self, user_id: int) -> None:
        while True:
            async with self._store.transaction() as tx:
                found = await self._store.owned_media_ids(
                    tx, owner_user_id=user_id, limit=DELETION_BATCH
                )
            for media_id in found:
                async with self._store.transaction() as tx:
                    if await self._store.mark_deleted(tx, media_id=media_id, now=self._clock()):
                        await self._store.outbox.add(
                            tx,
                            aggregate_id=media_id,
                            event=events.media_deleted(media_id=media_id, owner_user_id=user_id),
                        )
            self._wake_sweeper()
            if len(found) < DELETION_BATCH:
                return

    async def open_blob(
        self,
        *,
        key: str,
        offset: int = 0,
        length: int = 0,
        suffix_length: int = 0,
        metadata_only: bool = False,
        signed_export: bool = False,
    ) -> BlobRead:
        """Return a published file's metadata and a stream of the asked range; with
        `signed_export`, an export's ZIP whose URL signature the caller has checked."""
        try:
            check_key(key)
        except InvalidKey:
            raise InvalidArgument.field(
                "key", "must be segments of [A-Za-z0-9._-] without '..', at most 512 characters"
            ) from None
        if not key.startswith("x/" if signed_export else PUBLIC_PREFIX):
            raise InvalidArgument.field("key", "is not the key of a published file")
        if key.rsplit("/", 1)[-1].startswith(ARCHIVED_NAME + "."):
            # The kept full-size original is an archive to re-process from, never published.
            raise BlobNotFound("no file has that key")
        if offset < 0 or length < 0 or suffix_length < 0:
            raise InvalidArgument.field("offset", "offset, length and suffix_length must be >= 0")
        if suffix_length and (offset or length):
            raise InvalidArgument.field("suffix_length", "cannot be combined with offset or length")
        info = await self._blobs.stat(key)
        if info is None:
            raise BlobNotFound("no file has that key")
        if suffix_length:
            start = max(0, info.size - suffix_length)
            count = info.size - start
        elif offset >= info.size:
            start, count = offset, 0
        else:
            start = offset
            count = info.size - offset if length == 0 else min(length, info.size - offset)
        if metadata_only or count == 0:
            return BlobRead(info, start, 0, _nothing())
        return BlobRead(info, start, count, self._chunks(key, start, count))

    async def _chunks(self, key: str, offset: int, length: int) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._blobs.read(key, offset=offset, length=length):
                yield chunk
        except BlobMissing:
            raise BlobNotFound("no file has that key") from None
