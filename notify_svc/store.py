"""notify_svc persistence: notifications, who acted on each, and the events already handled.

A notification's `sequence` orders the recipient's list and stream; it is a fresh time-ordered id
whenever the notification is made or moves to the top. `seen_through` is the sequence the
recipient last read it at, so it is unread exactly when `seen_through < sequence`, and an actor
added after the last read (actor `sequence > seen_through`) is one the recipient has not seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mesh import db
from mesh.deadletters import dead_letters_table
from mesh.deletion import ledger_table

metadata = MetaData()
# The steps of removing deleted accounts that are done (mesh.deletion).
deletion_ledger = ledger_table(metadata)
# Dead letters of this service's consumer groups, kept here so they outlive Redis.
dead_letters = dead_letters_table(metadata)

notifications = Table(
    "notifications",
    metadata,
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("recipient_id", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("post_id", BigInteger, nullable=False),  # 0: not about a post
    Column("comment_id", BigInteger, nullable=False),  # 0: not about a comment
    Column("text", Text, nullable=False),
    Column("actor_count", Integer, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("seen_through", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ux_notifications_recipient_sequence", "recipient_id", "sequence", unique=True),
    Index("ix_notifications_aggregate", "recipient_id", "kind", "post_id", "notification_id"),
    Index("ix_notifications_post", "post_id"),
    Index("ix_notifications_sequence", "sequence"),
)

notification_actors = Table(
    "notification_actors",
    metadata,
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("actor_id", BigInteger, primary_key=True, autoincrement=False),
    # The recipient's sequence when this actor acted: unseen while above seen_through.
    Column("sequence", BigInteger, nullable=False),
    Index("ix_notification_actors_recent", "notification_id", "sequence"),
    # The notifications an account caused, found when the account is deleted.
    Index("ix_notification_actors_actor", "actor_id"),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("producer", String(64), primary_key=True),
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
    Index("ix_processed_events_at", "processed_at"),
)


@dataclass(frozen=True)
class NotificationRecord:
    """One stored notification."""

    notification_id: int
    recipient_id: int
    kind: str
    post_id: int
    comment_id: int
    text: str
    actor_count: int
    sequence: int
    seen_through: int
    created_at: datetime
    updated_at: datetime

    @property
    def read(self) -> bool:
        """Whether the recipient read it since it last moved to the top."""
        return self.seen_through >= self.sequence


@dataclass(frozen=True)
class NotificationWrite:
    """One actor's notification to write: a new one, or, when `aggregate_since` is given, the
    actor added to the recipient's newest notification of the kind about the post made since
    that id (moved to the top), if there is one. `notification_id` is a fresh id: the new
    notification's id, or the aggregate's new sequence. With `replaces`, the recipient's
    notifications of that kind from this actor go (a request settled by the follow)."""

    notification_id: int
    recipient_id: int
    actor_id: int
    kind: str
    post_id: int
    comment_id: int
    text: str
    at: datetime
    aggregate_since: int | None = None
    replaces: str | None = None


class NotifyStore(Protocol):
    """What the notification rules need from storage."""

    def transaction(self) -> Any: ...
    def read_transaction(self) -> Any: ...
    async def lock_recipient(self, session: AsyncSession, *, recipient_id: int) -> None: ...
    async def lock_recipients(
        self, session: AsyncSession, *, recipient_ids: Sequence[int]
    ) -> None: ...
    async def mark_processed_many(
        self, session: AsyncSession, *, events: Sequence[tuple[str, int]], at: datetime
    ) -> set[tuple[str, int]]: ...
    async def mark_processed(
        self, session: AsyncSession, *, producer: str, event_id: int, at: datetime
    ) -> bool: ...
    async def claim_events(
        self,
        session: AsyncSession,
        *,
        events: Sequence[tuple[str, int]],
        recipient_ids: Sequence[int],
        at: datetime,
    ) -> set[tuple[str, int]]: ...
    async def write_notification(
        self, session: AsyncSession, *, write: NotificationWrite
    ) -> bool: ...
    async def latest_aggregate(
        self, session: AsyncSession, *, recipient_id: int, kind: str, post_id: int, since_id: int
    ) -> NotificationRecord | None: ...
    async def insert_notification(
        self, session: AsyncSession, *, record: NotificationRecord
    ) -> None: ...
    async def add_actor(
        self, session: AsyncSession, *, notification_id: int, actor_id: int, sequence: int
    ) -> bool: ...
    async def remove_unseen_actor(
        self, session: AsyncSession, *, recipient_id: int, kind: str, post_id: int, actor_id: int
    ) -> list[int]: ...
    async def remove_actor_everywhere(
        self, session: AsyncSession, *, recipient_id: int, actor_id: int
    ) -> int: ...
    async def move_to_top(
        self, session: AsyncSession, *, notification_id: int, sequence: int, at: datetime
    ) -> None: ...
    async def delete_from_actor(
        self, session: AsyncSession, *, recipient_id: int, kind: str, actor_id: int
    ) -> int: ...
    async def delete_for_post(self, session: AsyncSession, *, post_id: int) -> int: ...
    async def recipients_of_actor(
        self, session: AsyncSession, *, actor_id: int, limit: int
    ) -> list[int]: ...
    async def delete_for_recipient(
        self, session: AsyncSession, *, recipient_id: int, limit: int
    ) -> int: ...
    async def get(
        self, session: AsyncSession, *, recipient_id: int, notification_id: int
    ) -> NotificationRecord | None: ...
    async def list_before(
        self, session: AsyncSession, *, recipient_id: int, before_sequence: int | None, limit: int
    ) -> list[NotificationRecord]: ...
    async def list_after(
        self, session: AsyncSession, *, recipient_id: int, after_sequence: int, limit: int
    ) -> list[NotificationRecord]: ...
    async def recent_actors(
        self, session: AsyncSession, *, notification_ids: Sequence[int], per_notification: int
    ) -> dict[int, list[int]]: ...
    async def unread_count(self, session: AsyncSession, *, recipient_id: int) -> int: ...
    async def mark_read(
        self, session: AsyncSession, *, recipient_id: int, notification_id: int
    ) -> bool: ...
    async def mark_all_read(
        self, session: AsyncSession, *, recipient_id: int, max_sequence: int | None
    ) -> int: ...
    async def prune(
        self,
        session: AsyncSession,
        *,
        before_sequence: int,
        processed_before: datetime,
        limit: int,
    ) -> tuple[int, int]: ...


def _changed(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _record(row: Any) -> NotificationRecord:
    return NotificationRecord(
        notification_id=int(row.notification_id),
        recipient_id=int(row.recipient_id),
        kind=str(row.kind),
        post_id=int(row.post_id),
        comment_id=int(row.comment_id),
        text=str(row.text),
        actor_count=int(row.actor_count),
        sequence=int(row.sequence),
        seen_through=int(row.seen_through),
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )


# Rows per multi-row INSERT (three columns: well under SQLite's oldest limit of 999 parameters).
_ROWS_CHUNK = 300


def recipient_lock_key(recipient_id: int) -> int:
    """Return the signed 64-bit advisory-lock key of one recipient's notifications."""
    digest = hashlib.blake2b(f"notify_svc:{recipient_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# PostgreSQL's claim of a batch of events, with its recipients' locks, in one statement: the
# events not handled before come back. The locks are taken before the writes that follow, so each
# write's snapshot sees what another transaction wrote to the same recipient first.
_CLAIM = text(
    """
    WITH claimed AS (
      INSERT INTO processed_events (producer, event_id, processed_at)
      SELECT p, e, :at FROM unnest(CAST(:producers AS varchar[]), CAST(:event_ids AS bigint[]))
        AS t(p, e)
      ON CONFLICT DO NOTHING
      RETURNING producer, event_id
    ), locked AS (
      SELECT count(*) AS n FROM (
        SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) WITH ORDINALITY
          AS l(k, i) ORDER BY i
      ) AS l
    )
    SELECT producer, event_id FROM claimed, locked
    """
)


def _write_statement(*, aggregate: bool, replaces: bool) -> Any:
    """Return PostgreSQL's statement of one NotificationWrite (one of four shapes, built once):
    find the aggregate, take the settled request off, add the actor, then make the notification
    or count the actor and move it to the top, in CTEs; it answers 1 when a notification moved
    to the top, else 0 (the actor was on it already)."""
    found = _WRITE_STATEMENTS.get((aggregate, replaces))
    if found is not None:
        return found
    ctes = []
    if aggregate:
        ctes.append(
            """existing AS (
              SELECT notification_id FROM notifications
              WHERE recipient_id = :recipient AND kind = :kind AND post_id = :post
                AND notification_id >= :since
              ORDER BY notification_id DESC LIMIT 1
            )"""
        )
    else:
        ctes.append("existing AS (SELECT CAST(NULL AS bigint) AS notification_id WHERE false)")
    if replaces:
        ctes.append(
            """settled AS (
              SELECT n.notification_id FROM notifications n
              JOIN notification_actors a ON a.notification_id = n.notification_id
              WHERE n.recipient_id = :recipient AND n.kind = :replaces AND a.actor_id = :actor
            ), settled_actors AS (
              DELETE FROM notification_actors
              WHERE notification_id IN (SELECT notification_id FROM settled)
            ), settled_notifications AS (
              DELETE FROM notifications
              WHERE notification_id IN (SELECT notification_id FROM settled)
            )"""
        )
    ctes.append(
        """added AS (
          INSERT INTO notification_actors (notification_id, actor_id, sequence)
          SELECT coalesce((SELECT notification_id FROM existing), :id), :actor, :id
          ON CONFLICT DO NOTHING
          RETURNING notification_id
        ), made AS (
          INSERT INTO notifications (notification_id, recipient_id, kind, post_id, comment_id,
            text, actor_count, sequence, seen_through, created_at, updated_at)
          SELECT :id, :recipient, :kind, :post, :comment, :text, 1, :id, 0, :at, :at
          WHERE NOT EXISTS (SELECT FROM existing)
          RETURNING notification_id
        ), moved AS (
          UPDATE notifications SET actor_count = actor_count + 1, sequence = :id, updated_at = :at
          WHERE notification_id = (SELECT notification_id FROM existing)
            AND EXISTS (SELECT FROM added)
          RETURNING notification_id
        )"""
    )
    statement = text(
        "WITH "
        + ", ".join(ctes)
        + " SELECT (SELECT count(*) FROM made) + (SELECT count(*) FROM moved)"
    ).bindparams(
        bindparam("id", type_=BigInteger),
        bindparam("recipient", type_=BigInteger),
        bindparam("actor", type_=BigInteger),
        bindparam("kind", type_=String),
        bindparam("post", type_=BigInteger),
        bindparam("comment", type_=BigInteger),
        bindparam("text", type_=Text),
        bindparam("at", type_=DateTime(timezone=True)),
    )
    _WRITE_STATEMENTS[(aggregate, replaces)] = statement
    return statement


_WRITE_STATEMENTS: dict[tuple[bool, bool], Any] = {}


class SqlNotifyStore:
    """The relational implementation of NotifyStore (SQLite embedded, PostgreSQL in production)."""

    def __init__(self, engine: AsyncEngine, *, replica: AsyncEngine | None = None) -> None:
        self._sessions = db.session_factory(engine)
        self._read_sessions = db.read_session_factory(engine, replica)
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._postgres else sqlite.insert

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

    async def lock_recipient(self, session: AsyncSession, *, recipient_id: int) -> None:
        """Hold one recipient's notifications until the transaction ends, so two consumers never
        aggregate into two notifications at once; call before reading them."""
        if self._postgres:
            key = recipient_lock_key(recipient_id)
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        # SQLite: every writable transaction begins IMMEDIATE, so holds the only write lock.

    async def lock_recipients(self, session: AsyncSession, *, recipient_ids: Sequence[int]) -> None:
        """lock_recipient for many recipients in one statement, in the order given (callers
        pass them in id order, so two transactions never wait for each other in a circle)."""
        if self._postgres and recipient_ids:
            keys = [recipient_lock_key(r) for r in recipient_ids]
            await session.execute(
                text(
                    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) "
                    "WITH ORDINALITY AS t(k, i) ORDER BY i"
                ),
                {"keys": keys},
            )

    async def mark_processed_many(
        self, session: AsyncSession, *, events: Sequence[tuple[str, int]], at: datetime
    ) -> set[tuple[str, int]]:
        """mark_processed for many (producer, event id), a statement per few hundred; return
        those not handled before."""
        unique = list(dict.fromkeys(events))
        fresh: set[tuple[str, int]] = set()
        for start in range(0, len(unique), _ROWS_CHUNK):
            rows = [
                {"producer": producer, "event_id": event_id, "processed_at": at}
                for producer, event_id in unique[start : start + _ROWS_CHUNK]
            ]
            result = await session.execute(
                self._insert(processed_events)
                .values(rows)
                .on_conflict_do_nothing()
                .returning(processed_events.c.producer, processed_events.c.event_id)
            )
            fresh.update((str(r.producer), int(r.event_id)) for r in result)
        return fresh

    async def mark_processed(
        self, session: AsyncSession, *, producer: str, event_id: int, at: datetime
    ) -> bool:
        """Record an event as handled; False when it already was (a redelivery)."""
        statement = (
            self._insert(processed_events)
            .values(producer=producer, event_id=event_id, processed_at=at)
            .on_conflict_do_nothing()
            .execution_options(preserve_rowcount=True)
        )
        return _changed(await session.execute(statement)) == 1

    async def claim_events(
        self,
        session: AsyncSession,
        *,
        events: Sequence[tuple[str, int]],
        recipient_ids: Sequence[int],
        at: datetime,
    ) -> set[tuple[str, int]]:
        """Record events as handled and lock their recipients (lock_recipients, in the order
        given), ahead of their writes; return the events not handled before (an event twice in
        the list counts once). PostgreSQL does both in one statement."""
        unique = list(dict.fromkeys(events))
        if not self._postgres or not unique:
            fresh = await self.mark_processed_many(session, events=unique, at=at)
            if fresh:
                await self.lock_recipients(session, recipient_ids=recipient_ids)
            return fresh
        rows = await session.execute(
            _CLAIM,
            {
                "at": at,
                "producers": [producer for producer, _ in unique],
                "event_ids": [event_id for _, event_id in unique],
                "keys": [recipient_lock_key(r) for r in recipient_ids],
            },
        )
        return {(str(r.producer), int(r.event_id)) for r in rows}

    async def write_notification(self, session: AsyncSession, *, write: NotificationWrite) -> bool:
        """Write one actor's notification (see NotificationWrite), its recipient locked; return
        whether a notification moved to the top (False: the actor was on the aggregate already).
        PostgreSQL does it in one statement, SQLite in two to four."""
        if self._postgres:
            params: dict[str, Any] = {
                "id": write.notification_id,
                "recipient": write.recipient_id,
                "actor": write.actor_id,
                "kind": write.kind,
                "post": write.post_id,
                "comment": write.comment_id,
                "text": write.text,
                "at": write.at,
            }
            if write.aggregate_since is not None:
                params["since"] = write.aggregate_since
            if write.replaces is not None:
                params["replaces"] = write.replaces
            statement = _write_statement(
                aggregate=write.aggregate_since is not None, replaces=write.replaces is not None
            )
            return bool((await session.execute(statement, params)).scalar())
        n = notifications.c
        if write.aggregate_since is not None:
            existing = await session.scalar(
                select(n.notification_id)
                .where(
                    n.recipient_id == write.recipient_id,
                    n.kind == write.kind,
                    n.post_id == write.post_id,
                    n.notification_id >= write.aggregate_since,
                )
                .order_by(n.notification_id.desc())
                .limit(1)
            )
            if existing is not None:
                if not await self._insert_actor(
                    session, int(existing), write.actor_id, write.notification_id
                ):
                    return False
                await session.execute(
                    update(notifications)
                    .where(n.notification_id == existing)
                    .values(
                        actor_count=n.actor_count + 1,
                        sequence=write.notification_id,
                        updated_at=write.at,
                    )
                )
                return True
        if write.replaces is not None:
            await self.delete_from_actor(
                session,
                recipient_id=write.recipient_id,
                kind=write.replaces,
                actor_id=write.actor_id,
            )
        await self.insert_notification(
            session,
            record=NotificationRecord(
                notification_id=write.notification_id,
                recipient_id=write.recipient_id,
                kind=write.kind,
                post_id=write.post_id,
                comment_id=write.comment_id,
                text=write.text,
                actor_count=1,
                sequence=write.notification_id,
                seen_through=0,
                created_at=write.at,
                updated_at=write.at,
            ),
        )
        await self._insert_actor(
            session, write.notification_id, write.actor_id, write.notification_id
        )
        return True

    async def _insert_actor(
        self, session: AsyncSession, notification_id: int, actor_id: int, sequence: int
    ) -> bool:
        statement = (
            self._insert(notification_actors)
            .values(notification_id=notification_id, actor_id=actor_id, sequence=sequence)
            .on_conflict_do_nothing()
            .execution_options(preserve_rowcount=True)
        )
        return _changed(await session.execute(statement)) == 1

    async def latest_aggregate(
        self, session: AsyncSession, *, recipient_id: int, kind: str, post_id: int, since_id: int
    ) -> NotificationRecord | None:
        """Return the newest notification of a kind about a post made at or after `since_id`."""
        n = notifications.c
        row = (
            await session.execute(
                select(notifications)
                .where(
                    n.recipient_id == recipient_id,
                    n.kind == kind,
                    n.post_id == post_id,
                    n.notification_id >= since_id,
                )
                .order_by(n.notification_id.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else _record(row)

    async def insert_notification(
        self, session: AsyncSession, *, record: NotificationRecord
    ) -> None:
        """Add a notification (its actors are added separately)."""
        await session.execute(
            notifications.insert().values(
                notification_id=record.notification_id,
                recipient_id=record.recipient_id,
                kind=record.kind,
                post_id=record.post_id,
                comment_id=record.comment_id,
                text=record.text,
                actor_count=record.actor_count,
                sequence=record.sequence,
                seen_through=record.seen_through,
                created_at=record.created_at,
                updated_at=record.updated_at,
            )
        )

    async def add_actor(
        self, session: AsyncSession, *, notification_id: int, actor_id: int, sequence: int
    ) -> bool:
        """Add an actor to a notification and count it; False when it was already there."""
        statement = (
            self._insert(notification_actors)
            .values(notification_id=notification_id, actor_id=actor_id, sequence=sequence)
            .on_conflict_do_nothing()
            .execution_options(preserve_rowcount=True)
        )
        if _changed(await session.execute(statement)) != 1:
            return False
        await session.execute(
            update(notifications)
            .where(notifications.c.notification_id == notification_id)
            .values(actor_count=notifications.c.actor_count + 1)
        )
        return True

    async def remove_unseen_actor(
        self, session: AsyncSession, *, recipient_id: int, kind: str, post_id: int, actor_id: int
    ) -> list[int]:
        """Take an actor the recipient has not seen off their notifications of a kind about a
        post; delete those left without actors. Return the ids of the notifications changed."""
        n, a = notifications.c, notification_actors.c
        rows = (
            await session.execute(
                select(n.notification_id, n.actor_count)
                .join(notification_actors, a.notification_id == n.notification_id)
                .where(
                    n.recipient_id == recipient_id,
                    n.kind == kind,
                    n.post_id == post_id,
                    a.actor_id == actor_id,
                    a.sequence > n.seen_through,
                )
            )
        ).all()
        changed = []
        for notification_id, actor_count in rows:
            await session.execute(
                delete(notification_actors).where(
                    a.notification_id == notification_id, a.actor_id == actor_id
                )
            )
            if actor_count <= 1:
                await session.execute(
                    delete(notifications).where(n.notification_id == notification_id)
                )
            else:
                await session.execute(
                    update(notifications)
                    .where(n.notification_id == notification_id)
                    .values(actor_count=n.actor_count - 1)
                )
            changed.append(int(notification_id))
        return changed

    async def remove_actor_everywhere(
        self, session: AsyncSession, *, recipient_id: int, actor_id: int
    ) -> int:
        """Take an actor off every notification of a recipient, seen or not; delete those left
        without actors. Return how many notifications changed."""
        n, a = notifications.c, notification_actors.c
        rows = (
            await session.execute(
                select(n.notification_id, n.actor_count)
                .join(notification_actors, a.notification_id == n.notification_id)
                .where(n.recipient_id == recipient_id, a.actor_id == actor_id)
            )
        ).all()
        emptied = [int(i) for i, count in rows if count <= 1]
        shrunk = [int(i) for i, count in rows if count > 1]
        if shrunk:
            await session.execute(
                delete(notification_actors).where(
                    a.notification_id.in_(shrunk), a.actor_id == actor_id
                )
            )
            await session.execute(
                update(notifications)
                .where(n.notification_id.in_(shrunk))
                .values(actor_count=n.actor_count - 1)
            )
        await self._delete(session, emptied)
        return len(rows)

    async def move_to_top(
        self, session: AsyncSession, *, notification_id: int, sequence: int, at: datetime
    ) -> None:
        """Give a notification a new sequence (it becomes unread and first in the list)."""
        await session.execute(
            update(notifications)
            .where(notifications.c.notification_id == notification_id)
            .values(sequence=sequence, updated_at=at)
        )

    async def recipients_of_actor(
        self, session: AsyncSession, *, actor_id: int, limit: int
    ) -> list[int]:
        """Return up to `limit` accounts with a notification this account acted in."""
        n, a = notifications.c, notification_actors.c
        query = (
            select(n.recipient_id)
            .join(notification_actors, a.notification_id == n.notification_id)
            .where(a.actor_id == actor_id)
            .distinct()
            .limit(limit)
        )
        return [int(r) for r in await session.scalars(query)]

    async def delete_for_recipient(
        self, session: AsyncSession, *, recipient_id: int, limit: int
    ) -> int:
        """Delete up to `limit` of an account's own notifications; return how many went."""
        ids = await session.scalars(
            select(notifications.c.notification_id)
            .where(notifications.c.recipient_id == recipient_id)
            .limit(limit)
        )
        return await self._delete(session, [int(i) for i in ids])

    async def _delete(self, session: AsyncSession, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        await session.execute(
            delete(notification_actors).where(notification_actors.c.notification_id.in_(ids))
        )
        result = await session.execute(
            delete(notifications).where(notifications.c.notification_id.in_(ids))
        )
        return _changed(result)

    async def delete_from_actor(
        self, session: AsyncSession, *, recipient_id: int, kind: str, actor_id: int
    ) -> int:
        """Delete a recipient's notifications of a kind whose actor is this account."""
        n, a = notifications.c, notification_actors.c
        ids = (
            await session.scalars(
                select(n.notification_id)
                .join(notification_actors, a.notification_id == n.notification_id)
                .where(n.recipient_id == recipient_id, n.kind == kind, a.actor_id == actor_id)
            )
        ).all()
        return await self._delete(session, [int(i) for i in ids])

    async def delete_for_post(self, session: AsyncSession, *, post_id: int) -> int:
        """Delete every notification about a post; return how many."""
        ids = (
            await session.scalars(
                select(notifications.c.notification_id).where(notifications.c.post_id == post_id)
            )
        ).all()
        return await self._delete(session, [int(i) for i in ids])

    async def get(
        self, session: AsyncSession, *, recipient_id: int, notification_id: int
    ) -> NotificationRecord | None:
        """Return one of a recipient's notifications."""
        n = notifications.c
        row = (
            await session.execute(
                select(notifications).where(
                    n.notification_id == notification_id, n.recipient_id == recipient_id
                )
            )
        ).first()
        return None if row is None else _record(row)

    async def list_before(
        self, session: AsyncSession, *, recipient_id: int, before_sequence: int | None, limit: int
    ) -> list[NotificationRecord]:
        """Return a recipient's notifications below a sequence (None: from the top), highest
        sequence first."""
        n = notifications.c
        query = select(notifications).where(n.recipient_id == recipient_id)
        if before_sequence is not None:
            query = query.where(n.sequence < before_sequence)
        rows = await session.execute(query.order_by(n.sequence.desc()).limit(limit))
        return [_record(row) for row in rows]

    async def list_after(
        self, session: AsyncSession, *, recipient_id: int, after_sequence: int, limit: int
    ) -> list[NotificationRecord]:
        """Return a recipient's notifications above a sequence, lowest sequence first."""
        n = notifications.c
        rows = await session.execute(
            select(notifications)
            .where(n.recipient_id == recipient_id, n.sequence > after_sequence)
            .order_by(n.sequence)
            .limit(limit)
        )
        return [_record(row) for row in rows]

    async def recent_actors(
        self, session: AsyncSession, *, notification_ids: Sequence[int], per_notification: int
    ) -> dict[int, list[int]]:
        """Return the most recent actors of each notification, newest first."""
        if not notification_ids:
            return {}
        a = notification_actors.c
        rank = (
            func.row_number()
            .over(partition_by=a.notification_id, order_by=a.sequence.desc())
            .label("rank")
        )
        ranked = (
            select(a.notification_id, a.actor_id, a.sequence, rank)
            .where(a.notification_id.in_(list(notification_ids)))
            .subquery()
        )
        rows = await session.execute(
            select(ranked.c.notification_id, ranked.c.actor_id)
            .where(ranked.c.rank <= per_notification)
            .order_by(ranked.c.notification_id, ranked.c.sequence.desc())
        )
        found: dict[int, list[int]] = {}
        for notification_id, actor_id in rows:
            found.setdefault(int(notification_id), []).append(int(actor_id))
        return found

    async def unread_count(self, session: AsyncSession, *, recipient_id: int) -> int:
        """Return how many of a recipient's notifications are unread."""
        n = notifications.c
        count = await session.scalar(
            select(func.count())
            .select_from(notifications)
            .where(n.recipient_id == recipient_id, n.seen_through < n.sequence)
        )
        return int(count or 0)

    async def mark_read(
        self, session: AsyncSession, *, recipient_id: int, notification_id: int
    ) -> bool:
        """Mark one notification read; False when the recipient has no such notification."""
        n = notifications.c
        result = await session.execute(
            update(notifications)
            .where(n.notification_id == notification_id, n.recipient_id == recipient_id)
            .values(seen_through=n.sequence)
        )
        return _changed(result) == 1

    async def mark_all_read(
        self, session: AsyncSession, *, recipient_id: int, max_sequence: int | None
    ) -> int:
        """Mark a recipient's unread notifications read (those up to `max_sequence`, or all);
        return how many."""
        n = notifications.c
        statement = update(notifications).where(
            n.recipient_id == recipient_id, n.seen_through < n.sequence
        )
        if max_sequence is not None:
            statement = statement.where(n.sequence <= max_sequence)
        return _changed(await session.execute(statement.values(seen_through=n.sequence)))

    async def prune(
        self,
        session: AsyncSession,
        *,
        before_sequence: int,
        processed_before: datetime,
        limit: int,
    ) -> tuple[int, int]:
        """Delete up to `limit` notifications last changed before a sequence and up to `limit`
        handled-event ids older than a moment; return how many of each."""
        ids = (
            await session.scalars(
                select(notifications.c.notification_id)
                .where(notifications.c.sequence < before_sequence)
                .limit(limit)
            )
        ).all()
        pruned = await self._delete(session, [int(i) for i in ids])
        e = processed_events.c
        old = (
            await session.execute(
                select(e.producer, e.event_id).where(e.processed_at < processed_before).limit(limit)
            )
        ).all()
        forgotten = 0
        for producer in {str(p) for p, _ in old}:
            event_ids = [int(i) for p, i in old if p == producer]
            result = await session.execute(
                delete(processed_events).where(e.producer == producer, e.event_id.in_(event_ids))
            )
            forgotten += _changed(result)
        return pruned, forgotten
