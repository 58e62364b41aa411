"""The transactional outbox: events are written in the same transaction as the change they describe.

A relay (with the event bus) publishes unsent rows and marks them sent, so a crash after commit
loses no event and a crash before commit leaves neither the change nor the event. The events of a
transaction that commits are handed to the relay as well (`on_commit`), so it publishes them at
once without reading them back; the rows stay the source of truth for what it missed.
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

# Called with a committed transaction's events, in the order they were written.
OnCommit = Callable[[Sequence[envelope_pb2.EventEnvelope]], None]

# Where a session keeps the events of its open transaction until it commits or rolls back.
_PENDING = "shutter.outbox.pending"


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
        on_commit: OnCommit | None = None,
    ) -> None:
        self._table = table
        # Built once: a statement made per call costs more to build than to send.
        self._insert = table.insert()
        self._producer = producer
        self._ids = ids
        # Called with a transaction's events after it commits (the relay's notify), so they
        # leave at once instead of at the relay's next poll. Never called on rollback.
        self._on_commit = on_commit

    async def add(
        self,
        session: AsyncSession,
        *,
        aggregate_id: int,
        event: Message,
        hand_over: bool = True,
    ) -> envelope_pb2.EventEnvelope:
        """Write one event; it is published only if the surrounding transaction commits. With
        `hand_over=False` the caller hands it to the relay itself (`committed`) once the
        transaction committed, when it has something to do first; else the relay's sweep
        publishes it at its next poll."""
        [envelope] = await self.add_many(
            session, events=[(aggregate_id, event)], hand_over=hand_over
        )
        return envelope

    async def add_many(
        self,
        session: AsyncSession,
        *,
        events: Sequence[tuple[int, Message]],
        hand_over: bool = True,
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
            await session.execute(self._insert, rows[0])
        else:
            await session.execute(self._insert.returning(self._table.c.event_id), rows)
        if hand_over:
            self._hand_over_on_commit(session, envelopes)
        return envelopes

    def row(self, session: AsyncSession, *, aggregate_id: int, event: Message) -> dict[str, Any]:
        """Return the outbox row of one event, for the caller to write in the transaction with a
        statement of its own (with the change it describes: one round trip less); the relay is
        nudged when the transaction commits, as by add."""
        envelopes, [values] = self._rows([(aggregate_id, event)])
        self._hand_over_on_commit(session, envelopes)
        return values

    def detached_row(
        self, *, aggregate_id: int, event: Message
    ) -> tuple[envelope_pb2.EventEnvelope, dict[str, Any]]:
        """Return one event's envelope and outbox row for a statement that commits on its own
        (autocommit, no session to hook): the caller calls `committed` with the envelope once
        the statement has committed."""
        [envelope], [values] = self._rows([(aggregate_id, event)])
        return envelope, values

    def committed(self, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        """Hand the relay events committed outside a session, or added with
        `hand_over=False`."""
        if self._on_commit is not None and envelopes:
            self._on_commit(envelopes)

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

    def _hand_over_on_commit(
        self, session: AsyncSession, envelopes: Sequence[envelope_pb2.EventEnvelope]
    ) -> None:
        """Collect a transaction's events on its session; hand them to `on_commit` when it
        commits, drop them when it rolls back."""
        if self._on_commit is None:
            return
        info = session.sync_session.info
        pending = info.get(_PENDING)
        if pending is None:
            pending = info[_PENDING] = []
            on_commit = self._on_commit

            def committed(_session: object) -> None:
                events, info[_PENDING] = info[_PENDING], []
                if events:
                    on_commit(events)

            def rolled_back(_session: object) -> None:
                info[_PENDING] = []

            # Once per session, for each of its transactions: each hands over, or drops, what
            # it added.
            sync = session.sync_session
            sa_event.listen(sync, "after_commit", committed)
            sa_event.listen(sync, "after_rollback", rolled_back)
        pending.extend(envelopes)
