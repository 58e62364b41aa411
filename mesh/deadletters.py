"""Dead letters kept in the consuming service's own database, so they outlive Redis.

On the Redis bus a consumer group's dead letters would otherwise live in a Redis stream: a Redis
restarted without persistence would take them, and with them the only trace of events a handler
gave up on. Each consuming service (feed_svc, graph_svc, notify_svc, post_svc) has a
`bus_dead_letters` table in its PostgreSQL or SQLite database; its consumers write a dead letter
there before acknowledging the event on the bus. `shutter bus dead-letters list|replay|drop`
read that table (the group's service is the part of its name before the first dot) and replay
through the bus, to that group only. The embedded bus keeps dead letters in its own SQLite file,
which is durable already.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from shutter.events.v1 import envelope_pb2


def dead_letters_table(metadata: MetaData) -> Table:
    """Declare a consuming service's dead-letter table in its metadata."""
    return Table(
        "bus_dead_letters",
        metadata,
        Column("group_name", String(100), primary_key=True),
        # The bus entry's id (unique per group): what `--id` names.
        Column("letter_id", String(64), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("producer", String(64), nullable=False),
        Column("event_id", BigInteger, nullable=False),
        Column("envelope", LargeBinary, nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("failed_at", DateTime(timezone=True), nullable=False),
    )


_table = dead_letters_table(MetaData())


@dataclass(frozen=True)
class StoredLetter:
    """A dead letter as the archive holds it."""

    group: str
    letter_id: str
    event_type: str
    envelope: envelope_pb2.EventEnvelope
    error: str
    attempts: int
    failed_at: datetime


class DeadLetterArchive:
    """A service's dead letters in its own database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(
        self,
        *,
        group: str,
        letter_id: str,
        event_type: str,
        envelope: bytes,
        error: str,
        attempts: int,
    ) -> None:
        """Keep a dead letter (again is a no-op: a consumer may die before acknowledging)."""
        try:
            parsed = envelope_pb2.EventEnvelope.FromString(envelope)
        except Exception:  # an envelope that cannot be decoded is kept as it came
            parsed = envelope_pb2.EventEnvelope()
        async with self._engine.begin() as conn:
            exists = await conn.scalar(
                select(_table.c.letter_id).where(
                    _table.c.group_name == group, _table.c.letter_id == letter_id
                )
            )
            if exists is None:
                await conn.execute(
                    _table.insert().values(
                        group_name=group,
                        letter_id=letter_id,
                        event_type=event_type,
                        producer=parsed.producer,
                        event_id=parsed.event_id,
                        envelope=envelope,
                        error=error[:2000],
                        attempts=attempts,
                        failed_at=datetime.now(UTC),
                    )
                )

    async def letters(self, group: str, *, limit: int = 100) -> list[StoredLetter]:
        """Return a group's oldest dead letters, up to `limit`."""
        query = (
            select(_table)
            .where(_table.c.group_name == group)
            .order_by(_table.c.failed_at, _table.c.letter_id)
            .limit(max(0, limit))
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_letter(row) for row in rows]

    async def chosen(self, group: str, letter_ids: Sequence[str] | None) -> list[StoredLetter]:
        """Return these dead letters of a group (all when None)."""
        query = select(_table).where(_table.c.group_name == group)
        if letter_ids is not None:
            query = query.where(_table.c.letter_id.in_(list(letter_ids)))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(_table.c.failed_at))).all()
        return [_letter(row) for row in rows]

    async def remove(self, group: str, letter_ids: Sequence[str]) -> None:
        """Forget these dead letters of a group."""
        if not letter_ids:
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(_table).where(
                    _table.c.group_name == group, _table.c.letter_id.in_(list(letter_ids))
                )
            )


def _letter(row: object) -> StoredLetter:
    failed_at: datetime = row.failed_at  # type: ignore[attr-defined]
    if failed_at.tzinfo is None:  # SQLite keeps no zone
        failed_at = failed_at.replace(tzinfo=UTC)
    return StoredLetter(
        group=row.group_name,  # type: ignore[attr-defined]
        letter_id=row.letter_id,  # type: ignore[attr-defined]
        event_type=row.event_type,  # type: ignore[attr-defined]
        envelope=envelope_pb2.EventEnvelope.FromString(row.envelope),  # type: ignore[attr-defined]
        error=row.error,  # type: ignore[attr-defined]
        attempts=row.attempts,  # type: ignore[attr-defined]
        failed_at=failed_at,
    )
