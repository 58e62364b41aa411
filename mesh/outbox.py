"""The transactional outbox: events are written in the same transaction as the change they describe.

A relay (with the event bus) publishes unsent rows and marks them sent, so a crash after commit
loses no event and a crash before commit leaves neither the change nor the event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message
from sqlalchemy import BigInteger, Column, DateTime, Index, LargeBinary, MetaData, String, Table
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from mesh.ids import IdGenerator
from shutter.events.v1 import envelope_pb2


def outbox_table(metadata: MetaData) -> Table:
    """Declare a service's outbox table in its metadata."""
    return Table(
        "outbox",
        metadata,
        Column("event_id", BigInteger, primary_key=True, autoincrement=False),
        Column("aggregate_id", BigInteger, nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("envelope", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index("ix_outbox_unpublished", "published_at", "event_id"),
    )


class Outbox:
    """Append events to one service's outbox inside the caller's transaction."""

    def __init__(
        self,
        table: Table,
        *,
        producer: str,
        ids: IdGenerator,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._table = table
        self._producer = producer
        self._ids = ids
        # Called after a transaction that added events commits (the relay's notify), so events
        # leave at once instead of at the relay's next poll. Never called on rollback.
        self._on_commit = on_commit

    async def add(
        self, session: AsyncSession, *, aggregate_id: int, event: Message
    ) -> envelope_pb2.EventEnvelope:
        """Write one event; it is published only if the surrounding transaction commits."""
        [envelope] = await self.add_many(session, events=[(aggregate_id, event)])
        return envelope

    async def add_many(
        self, session: AsyncSession, *, events: Sequence[tuple[int, Message]]
    ) -> list[envelope_pb2.EventEnvelope]:
        """Write (aggregate id, event) pairs in one statement, in order (bulk loads); they are
        published only if the surrounding transaction commits."""
        if not events:
            return []
        envelopes, rows = self._rows(events)
        # One row: a plain INSERT; several: a list of parameters with RETURNING, which
        # SQLAlchemy sends as multi-row INSERTs of one cached compilation ("insertmanyvalues";
        # without RETURNING the PostgreSQL driver would send one INSERT per row).
        if len(rows) == 1:
            await session.execute(self._table.insert().values(**rows[0]))
        else:
            await session.execute(self._table.insert().returning(self._table.c.event_id), rows)
        self._nudge_on_commit(session)
        return envelopes

    def row(self, session: AsyncSession, *, aggregate_id: int, event: Message) -> dict[str, Any]:
        """Return the outbox row of one event, for the caller to write in the transaction with a
        statement of its own (with the change it describes: one round trip less); the relay is
        nudged when the transaction commits, as by add."""
        _, [values] = self._rows([(aggregate_id, event)])
        self._nudge_on_commit(session)
        return values

    def detached_row(
        self, *, aggregate_id: int, event: Message
    ) -> tuple[envelope_pb2.EventEnvelope, dict[str, Any]]:
        """Return one event's envelope and outbox row for a statement that commits on its own
        (autocommit, no session to hook): the caller calls `committed` once it has."""
        [envelope], [values] = self._rows([(aggregate_id, event)])
        return envelope, values

    def committed(self) -> None:
        """Tell the relay that a statement outside any session committed events."""
        if self._on_commit is not None:
            self._on_commit()

    def _rows(
        self, events: Sequence[tuple[int, Message]]
    ) -> tuple[list[envelope_pb2.EventEnvelope], list[dict[str, Any]]]:
        now = datetime.now(UTC)
        occurred = timestamp_pb2.Timestamp()
        occurred.FromDatetime(now)
        envelopes, rows = [], []
        for aggregate_id, event in events:
            payload = any_pb2.Any()
            payload.Pack(event)
            envelope = envelope_pb2.EventEnvelope(
                event_id=self._ids.next_id(),
                producer=self._producer,
                aggregate_id=aggregate_id,
                occurred_at=occurred,
                payload=payload,
            )
            envelopes.append(envelope)
            rows.append(
                {
                    "event_id": envelope.event_id,
                    "aggregate_id": aggregate_id,
                    "event_type": event.DESCRIPTOR.full_name,
                    "envelope": envelope.SerializeToString(),
                    "created_at": now,
                }
            )
        return envelopes, rows

    def _nudge_on_commit(self, session: AsyncSession) -> None:
        if self._on_commit is not None:
            on_commit = self._on_commit
            sa_event.listen(
                session.sync_session, "after_commit", lambda _session: on_commit(), once=True
            )
