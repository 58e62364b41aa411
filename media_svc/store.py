"""media_svc persistence: uploads and their media, SQLite or PostgreSQL via SQLAlchemy Core.

One row per upload holds the media it becomes. The row is also the processing queue: a job is a
row in status `processing`; a worker claims it by setting `lease_until` (and counting the
attempt), renews the lease while it works, and must still hold that attempt to record the outcome,
so a worker that lost its lease (it was presumed dead) can never overwrite a newer attempt's result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mesh import db
from mesh.deletion import ledger_table
from mesh.outbox import Outbox, outbox_table

Status = Literal["pending", "processing", "ready", "failed", "deleted"]
HlsStatus = Literal["", "processing", "ready", "failed"]
Kind = Literal["photo", "video"]

metadata = MetaData()
# The steps of removing deleted accounts that are done (mesh.deletion).
deletion_ledger = ledger_table(metadata)

media = Table(
    "media",
    metadata,
    Column("media_id", BigInteger, primary_key=True, autoincrement=False),
    Column("upload_id", BigInteger, nullable=False, unique=True),
    Column("owner_user_id", BigInteger, nullable=False, index=True),
    Column("kind", String(8), nullable=False),
    Column("status", String(12), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    # Where the uploaded bytes wait for processing (deleted once processed or expired).
    Column("incoming_key", String(200), nullable=False),
    Column("filter", String(32), nullable=False, default=""),
    # The renditions: [{"name", "key", "content_type", "width", "height", "size"}, ...].
    Column("renditions", JSON, nullable=False, default=list),
    Column("width", Integer, nullable=False, default=0),
    Column("height", Integer, nullable=False, default=0),
    Column("duration_ms", BigInteger, nullable=False, default=0),
    Column("failure_code", String(40), nullable=False, default=""),
    Column("failure_reason", String(300), nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    # When a deleted media's files were removed; NULL while the sweeper still has work.
    Column("purged_at", DateTime(timezone=True), nullable=True),
    # The HLS ladder of a video: "" (none: a photo, or transcoding is off), "processing" (the
    # media is ready with its first rung; the worker holding the lease makes the others),
    # "ready" or "failed" (the master playlist lists the rungs that exist).
    Column("hls_status", String(12), nullable=False, default=""),
    # What the master playlist says of each rung made so far: [{"label", "width", "height",
    # "has_audio", "playlist", "peak_bps", "average_bps"}, ...].
    Column("hls_rungs", JSON, nullable=True),
    Index("ix_media_status_lease", "status", "lease_until"),
    Index("ix_media_status_expires", "status", "expires_at"),
)

outbox = outbox_table(metadata)

# Data exports: one ZIP of an account's data at a time (see media_svc/exports.py).
data_exports = Table(
    "data_exports",
    metadata,
    Column("export_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False),
    # "building", "ready" or "failed"; an expired export's row is deleted with its ZIP.
    Column("state", String(12), nullable=False),
    Column("blob_key", String(200), nullable=False, default=""),
    Column("size_bytes", BigInteger, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ready_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Index("ix_data_exports_user", "user_id", "export_id"),
    Index("ix_data_exports_state", "state", "expires_at"),
)


@dataclass(frozen=True)
class StoredRendition:
    """One stored file of a media."""

    name: str
    key: str
    content_type: str
    width: int
    height: int
    size: int


@dataclass(frozen=True)
class MediaRecord:
    """One upload and the media it becomes, as stored."""

    media_id: int
    upload_id: int
    owner_user_id: int
    kind: Kind
    status: Status
    content_type: str
    size_bytes: int
    incoming_key: str
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    filter: str = ""
    renditions: list[StoredRendition] = field(default_factory=list)
    width: int = 0
    height: int = 0
    duration_ms: int = 0
    failure_code: str = ""
    failure_reason: str = ""
    attempts: int = 0
    lease_until: datetime | None = None
    deleted_at: datetime | None = None
    purged_at: datetime | None = None
    hls_status: HlsStatus = ""
    hls_rungs: list[dict[str, Any]] = field(default_factory=list)

    def rendition(self, name: str) -> StoredRendition | None:
        """Return the rendition with a name, if there is one."""
        return next((r for r in self.renditions if r.name == name), None)


@dataclass(frozen=True)
class ExportRecord:
    """One data export as stored."""

    export_id: int
    user_id: int
    state: str
    blob_key: str
    size_bytes: int
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True)
class Processed:
    """The outcome of a successful job."""

    kind: Kind
    width: int
    height: int
    duration_ms: int
    renditions: list[StoredRendition]
    hls_status: HlsStatus = ""
    hls_rungs: list[dict[str, Any]] = field(default_factory=list)


class MediaStore(Protocol):
    """What the media rules and the worker need from storage."""

    outbox: Outbox
    # True when read_transaction() reads a replica, which may lag behind transaction().
    has_replica: bool

    def transaction(self) -> Any: ...
    def read_transaction(self) -> Any: ...
    async def insert_media(self, session: AsyncSession, *, record: MediaRecord) -> None: ...
    async def get_media(self, session: AsyncSession, *, media_id: int) -> MediaRecord | None: ...
    async def get_by_upload(
        self, session: AsyncSession, *, upload_id: int
    ) -> MediaRecord | None: ...
    async def get_many(
        self, session: AsyncSession, *, media_ids: Sequence[int]
    ) -> list[MediaRecord]: ...
    async def current_many(
        self, *, media_ids: Sequence[int], primary: bool = False
    ) -> list[MediaRecord]: ...
    async def start_processing(
        self, session: AsyncSession, *, media_id: int, filter_name: str, now: datetime
    ) -> bool: ...
    async def claim(
        self, session: AsyncSession, *, media_id: int, now: datetime, lease_until: datetime
    ) -> MediaRecord | None: ...
    async def claimable(self, session: AsyncSession, *, now: datetime, limit: int) -> list[int]: ...
    async def renew_lease(
        self, session: AsyncSession, *, media_id: int, attempt: int, lease_until: datetime
    ) -> bool: ...
    async def release(self, session: AsyncSession, *, media_id: int, attempt: int) -> bool: ...
    async def finish_ready(
        self,
        session: AsyncSession,
        *,
        media_id: int,
        attempt: int,
        result: Processed,
        now: datetime,
        lease_until: datetime | None = None,
    ) -> bool: ...
    async def finish_ladder(
        self,
        session: AsyncSession,
        *,
        media_id: int,
        attempt: int,
        status: HlsStatus,
        renditions: list[StoredRendition],
        rungs: list[dict[str, Any]],
        now: datetime,
    ) -> bool: ...
    async def finish_failed(
        self,
        session: AsyncSession,
        *,
        media_id: int,
        attempt: int | None,
        from_status: Status,
        code: str,
        reason: str,
        now: datetime,
    ) -> bool: ...
    async def expired_pending(
        self, session: AsyncSession, *, now: datetime, limit: int
    ) -> list[MediaRecord]: ...
    async def mark_deleted(
        self, session: AsyncSession, *, media_id: int, now: datetime
    ) -> bool: ...
    async def unpurged_deleted(self, session: AsyncSession, *, limit: int) -> list[MediaRecord]: ...
    async def owned_media_ids(
        self, session: AsyncSession, *, owner_user_id: int, limit: int
    ) -> list[int]: ...
    async def insert_export(self, session: AsyncSession, *, record: ExportRecord) -> None: ...
    async def latest_export(
        self, session: AsyncSession, *, user_id: int, for_update: bool = False
    ) -> ExportRecord | None: ...
    async def get_export(self, session: AsyncSession, *, export_id: int) -> ExportRecord | None: ...
    async def finish_export(
        self,
        session: AsyncSession,
        *,
        export_id: int,
        state: str,
        blob_key: str = "",
        size_bytes: int = 0,
        ready_at: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> None: ...
    async def exports_in(
        self, session: AsyncSession, *, state: str, expired_by: datetime | None, limit: int
    ) -> list[ExportRecord]: ...
    async def exports_of(self, session: AsyncSession, *, user_id: int) -> list[ExportRecord]: ...
    async def delete_export(self, session: AsyncSession, *, export_id: int) -> None: ...
    async def mark_purged(self, session: AsyncSession, *, media_id: int, now: datetime) -> None: ...


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _record(row: Any) -> MediaRecord:
    created, updated = _aware(row.created_at), _aware(row.updated_at)
    expires = _aware(row.expires_at)
    assert created and updated and expires
    return MediaRecord(
        media_id=row.media_id,
        upload_id=row.upload_id,
        owner_user_id=row.owner_user_id,
        kind=row.kind,
        status=row.status,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        incoming_key=row.incoming_key,
        expires_at=expires,
        created_at=created,
        updated_at=updated,
        filter=row.filter,
        renditions=[StoredRendition(**item) for item in row.renditions or []],
        width=row.width,
        height=row.height,
        duration_ms=row.duration_ms,
        failure_code=row.failure_code,
        failure_reason=row.failure_reason,
        attempts=row.attempts,
        lease_until=_aware(row.lease_until),
        deleted_at=_aware(row.deleted_at),
        purged_at=_aware(row.purged_at),
        hls_status=row.hls_status,
        hls_rungs=list(row.hls_rungs or []),
    )


# A job is held while processing, or while a ready video's ladder is still being made.
_QUEUED = or_(
    media.c.status == "processing",
    and_(media.c.status == "ready", media.c.hls_status == "processing"),
)


def _changed(result: Any) -> bool:
    return bool(getattr(result, "rowcount", 0) == 1)


# The media of a batch (what a new post and every hydration ask) in one statement with an array
# parameter (PostgreSQL): the same SQL text whatever the number of ids, so psycopg prepares it
# once per connection, and no statement is built per call.
_CURRENT_MEDIA = select(media).where(
    media.c.media_id == any_(bindparam("ids", type_=postgresql.ARRAY(BigInteger)))
)


class SqlMediaStore:
    """The relational implementation of MediaStore (SQLite embedded, PostgreSQL in production)."""

    def __init__(
        self, engine: AsyncEngine, *, outbox: Outbox, replica: AsyncEngine | None = None
    ) -> None:
        self._sessions = db.session_factory(engine)
        self._read_sessions = db.read_session_factory(engine, replica)
        self.has_replica = replica is not None
        self.outbox = outbox
        self._postgres = engine.dialect.name == "postgresql"
        # A read of one statement needs no transaction: on PostgreSQL it runs on an autocommit
        # connection (no BEGIN and COMMIT round trips), of the replica or of the primary.
        self._autocommit = db.autocommit(engine)
        self._read_autocommit = db.autocommit(replica) if replica is not None else self._autocommit

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a transaction: committed when the block ends, rolled back on any error."""
        async with db.transaction(self._sessions) as session:
            yield session

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a read-only transaction on the replica (else the primary); a write fails."""
        async with db.transaction(self._read_sessions) as session:
            yield session

    async def insert_media(self, session: AsyncSession, *, record: MediaRecord) -> None:
        """Add a new upload."""
        values = {k: v for k, v in record.__dict__.items() if k != "renditions"}
        values["renditions"] = [r.__dict__ for r in record.renditions]
        await session.execute(media.insert().values(**values))

    async def get_media(self, session: AsyncSession, *, media_id: int) -> MediaRecord | None:
        """Return the media with this id."""
        row = (await session.execute(select(media).where(media.c.media_id == media_id))).first()
        return _record(row) if row else None

    async def get_by_upload(self, session: AsyncSession, *, upload_id: int) -> MediaRecord | None:
        """Return the media of an upload id."""
        row = (await session.execute(select(media).where(media.c.upload_id == upload_id))).first()
        return _record(row) if row else None

    async def get_many(
        self, session: AsyncSession, *, media_ids: Sequence[int]
    ) -> list[MediaRecord]:
        """Return the media with these ids, in no particular order, in one query."""
        if not media_ids:
            return []
        query = select(media).where(media.c.media_id.in_(list(media_ids)))
        return [_record(row) for row in await session.execute(query)]

    async def current_many(
        self, *, media_ids: Sequence[int], primary: bool = False
    ) -> list[MediaRecord]:
        """Return the media with these ids as committed now, in no particular order, outside any
        transaction: from the replica (else the primary), or from the primary when asked. On
        PostgreSQL one prebuilt statement on an autocommit connection."""
        ids = list(dict.fromkeys(media_ids))
        if not ids:
            return []
        if not self._postgres:
            async with self.transaction() if primary else self.read_transaction() as session:
                return await self.get_many(session, media_ids=ids)
        engine = self._autocommit if primary else self._read_autocommit
        async with engine.connect() as connection:
            return [_record(row) for row in await connection.execute(_CURRENT_MEDIA, {"ids": ids})]

    async def start_processing(
        self, session: AsyncSession, *, media_id: int, filter_name: str, now: datetime
    ) -> bool:
        """Queue a pending upload for processing; False when it was not pending any more."""
        result = await session.execute(
            update(media)
            .where(media.c.media_id == media_id, media.c.status == "pending")
            .values(
                status="processing",
                filter=filter_name,
                attempts=0,
                lease_until=None,
                updated_at=now,
            )
        )
        return _changed(result)

    async def claimable(self, session: AsyncSession, *, now: datetime, limit: int) -> list[int]:
        """Return ids of queued jobs nobody holds (never claimed, or the lease ran out), oldest
        first."""
        query = (
            select(media.c.media_id)
            .where(_QUEUED, or_(media.c.lease_until.is_(None), media.c.lease_until < now))
            .order_by(media.c.media_id)
            .limit(limit)
        )
        return [row.media_id for row in await session.execute(query)]

    async def claim(
        self, session: AsyncSession, *, media_id: int, now: datetime, lease_until: datetime
    ) -> MediaRecord | None:
        """Take a queued job for one attempt; None when another worker holds it or it is done."""
        result = await session.execute(
            update(media)
            .where(
                media.c.media_id == media_id,
                _QUEUED,
                or_(media.c.lease_until.is_(None), media.c.lease_until < now),
            )
            .values(attempts=media.c.attempts + 1, lease_until=lease_until, updated_at=now)
        )
        if not _changed(result):
            return None
        return await self.get_media(session, media_id=media_id)

    async def renew_lease(
        self, session: AsyncSession, *, media_id: int, attempt: int, lease_until: datetime
    ) -> bool:
        """Extend the lease of a job this attempt holds; False when it lost it."""
        result = await session.execute(
            update(media)
            .where(media.c.media_id == media_id, _QUEUED, media.c.attempts == attempt)
            .values(lease_until=lease_until)
        )
        return _changed(result)

    async def release(self, session: AsyncSession, *, media_id: int, attempt: int) -> bool:
        """Give a job back unfinished (the worker is stopping): it is queued again at once and
        the attempt does not count."""
        result = await session.execute(
            update(media)
            .where(media.c.media_id == media_id, _QUEUED, media.c.attempts == attempt)
            .values(lease_until=None, attempts=media.c.attempts - 1)
        )
        return _changed(result)

    async def finish_ready(
        self,
        session: AsyncSession,
        *,
        media_id: int,
        attempt: int,
        result: Processed,
        now: datetime,
        lease_until: datetime | None = None,
    ) -> bool:
        """Record a finished job, if this attempt still holds it; with lease_until (a video
        whose ladder is still to be made) the attempt keeps holding it until then."""
        changed = await session.execute(
            update(media)
            .where(
                media.c.media_id == media_id,
                media.c.status == "processing",
                media.c.attempts == attempt,
            )
            .values(
                status="ready",
                kind=result.kind,
                width=result.width,
                height=result.height,
                duration_ms=result.duration_ms,
                renditions=[r.__dict__ for r in result.renditions],
                hls_status=result.hls_status,
                hls_rungs=result.hls_rungs,
                lease_until=lease_until,
                updated_at=now,
            )
        )
        return _changed(changed)

    async def finish_ladder(
        self,
        session: AsyncSession,
        *,
        media_id: int,
        attempt: int,
        status: HlsStatus,
        renditions: list[StoredRendition],
        rungs: list[dict[str, Any]],
        now: datetime,
    ) -> bool:
        """Record the end of a ready video's ladder (made or failed), if this attempt still
        holds it; renditions are the media's whole list from now on."""
        changed = await session.execute(
            update(media)
            .where(
                media.c.media_id == media_id,
                media.c.status == "ready",
                media.c.hls_status == "processing",
                media.c.attempts == attempt,
            )
            .values(
                hls_status=status,
                hls_rungs=rungs,
                renditions=[r.__dict__ for r in renditions],
                lease_until=None,
                updated_at=now,
            )
        )
        return _changed(changed)

    async def finish_failed(
        self,
        session: AsyncSession,
        *,
        media_id: int,
        attempt: int | None,
        from_status: Status,
        code: str,
        reason: str,
        now: datetime,
    ) -> bool:
        """Record a failure, if the media is still in from_status (and, for a job, this attempt
        still holds it)."""
        conditions = [media.c.media_id == media_id, media.c.status == from_status]
        if attempt is not None:
            conditions.append(media.c.attempts == attempt)
        changed = await session.execute(
            update(media)
            .where(and_(*conditions))
            .values(
                status="failed",
                failure_code=code[:40],
                failure_reason=reason[:300],
                lease_until=None,
                updated_at=now,
            )
        )
        return _changed(changed)

    async def expired_pending(
        self, session: AsyncSession, *, now: datetime, limit: int
    ) -> list[MediaRecord]:
        """Return uploads still pending after they expired."""
        query = (
            select(media)
            .where(media.c.status == "pending", media.c.expires_at < now)
            .order_by(media.c.expires_at)
            .limit(limit)
        )
        return [_record(row) for row in await session.execute(query)]

    async def mark_deleted(self, session: AsyncSession, *, media_id: int, now: datetime) -> bool:
        """Mark media deleted (its files are purged later); False when it already was."""
        result = await session.execute(
            update(media)
            .where(media.c.media_id == media_id, media.c.status != "deleted")
            .values(status="deleted", deleted_at=now, lease_until=None, updated_at=now)
        )
        return _changed(result)

    async def owned_media_ids(
        self, session: AsyncSession, *, owner_user_id: int, limit: int
    ) -> list[int]:
        """Return up to `limit` ids of an account's media not deleted yet, in any state."""
        query = (
            select(media.c.media_id)
            .where(media.c.owner_user_id == owner_user_id, media.c.status != "deleted")
            .limit(limit)
        )
        return [int(m) for m in await session.scalars(query)]

    async def unpurged_deleted(self, session: AsyncSession, *, limit: int) -> list[MediaRecord]:
        """Return deleted media whose files may still exist."""
        query = (
            select(media)
            .where(media.c.status == "deleted", media.c.purged_at.is_(None))
            .order_by(media.c.deleted_at)
            .limit(limit)
        )
        return [_record(row) for row in await session.execute(query)]

    async def mark_purged(self, session: AsyncSession, *, media_id: int, now: datetime) -> None:
        """Record that a deleted media's files are gone."""
        await session.execute(
            update(media).where(media.c.media_id == media_id).values(purged_at=now)
        )

    async def insert_export(self, session: AsyncSession, *, record: ExportRecord) -> None:
        """Add an export."""
        await session.execute(data_exports.insert().values(**record.__dict__))

    async def latest_export(
        self, session: AsyncSession, *, user_id: int, for_update: bool = False
    ) -> ExportRecord | None:
        """Return an account's newest export; `for_update` holds it until the transaction ends."""
        query = (
            select(data_exports)
            .where(data_exports.c.user_id == user_id)
            .order_by(data_exports.c.export_id.desc())
            .limit(1)
        )
        if for_update:
            query = query.with_for_update()
        row = (await session.execute(query)).first()
        return _export(row) if row else None

    async def get_export(self, session: AsyncSession, *, export_id: int) -> ExportRecord | None:
        """Return one export."""
        query = select(data_exports).where(data_exports.c.export_id == export_id)
        row = (await session.execute(query)).first()
        return _export(row) if row else None

    async def finish_export(
        self,
        session: AsyncSession,
        *,
        export_id: int,
        state: str,
        blob_key: str = "",
        size_bytes: int = 0,
        ready_at: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Record how a build ended: ready (with its ZIP) or failed."""
        await session.execute(
            update(data_exports)
            .where(data_exports.c.export_id == export_id)
            .values(
                state=state,
                blob_key=blob_key,
                size_bytes=size_bytes,
                ready_at=ready_at,
                expires_at=expires_at,
            )
        )

    async def exports_in(
        self, session: AsyncSession, *, state: str, expired_by: datetime | None, limit: int
    ) -> list[ExportRecord]:
        """Return up to `limit` exports in a state (and, with `expired_by`, expired by then)."""
        query = select(data_exports).where(data_exports.c.state == state)
        if expired_by is not None:
            query = query.where(data_exports.c.expires_at <= expired_by)
        query = query.order_by(data_exports.c.export_id).limit(limit)
        return [_export(row) for row in await session.execute(query)]

    async def exports_of(self, session: AsyncSession, *, user_id: int) -> list[ExportRecord]:
        """Return every export of an account."""
        query = select(data_exports).where(data_exports.c.user_id == user_id)
        return [_export(row) for row in await session.execute(query)]

    async def delete_export(self, session: AsyncSession, *, export_id: int) -> None:
        """Forget an export (its ZIP is deleted first)."""
        await session.execute(delete(data_exports).where(data_exports.c.export_id == export_id))


def _export(row: Any) -> ExportRecord:
    return ExportRecord(
        export_id=int(row.export_id),
        user_id=int(row.user_id),
        state=row.state,
        blob_key=row.blob_key,
        size_bytes=int(row.size_bytes),
        created_at=_aware(row.created_at) or row.created_at,
        ready_at=_aware(row.ready_at),
        expires_at=_aware(row.expires_at),
    )
