"""Account deletion's ledger: which steps of removing a deleted account each service has finished.

user_svc closes an account and publishes `AccountDeleted`; every service then removes what it
holds of the account in named steps (graph_svc: "follows", "blocks", ...), each by the same
per-object deletes, with the same events, that its users' own deletes make. A step is recorded
in the service's `deletion_ledger` table once it has finished, so a service killed in the middle
of a deletion, given the event again by the bus, skips what is done and finishes the rest; each
step is itself idempotent (it removes what is left), so a step cut short is simply run again.
The ledger holds an account id, a step name and a time: nothing personal.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shutter.events.v1 import envelope_pb2, user_events_pb2

log = logging.getLogger("shutter.deletion")

ACCOUNT_DELETED = user_events_pb2.AccountDeleted.DESCRIPTOR.full_name
# Each service consumes AccountDeleted in a group of its own, named after it.
GROUP_SUFFIX = ".deletions"

Step = tuple[str, Callable[[int], Awaitable[object]]]


def ledger_table(metadata: MetaData) -> Table:
    """Declare a service's deletion ledger in its metadata."""
    return Table(
        "deletion_ledger",
        metadata,
        Column("user_id", BigInteger, primary_key=True, autoincrement=False),
        Column("step", String(40), primary_key=True),
        Column("done_at", DateTime(timezone=True), nullable=False),
    )


class DeletionLedger:
    """One service's record of the deletion steps it has finished, account by account."""

    def __init__(self, engine: AsyncEngine, table: Table) -> None:
        self._engine = engine
        self._table = table

    async def done(self, user_id: int) -> set[str]:
        """Return the steps already finished for an account."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(self._table.c.step).where(self._table.c.user_id == user_id)
            )
            return {row.step for row in rows}

    async def record(self, user_id: int, step: str) -> None:
        """Record a finished step (again is a no-op)."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    self._table.insert().values(
                        user_id=user_id, step=step, done_at=datetime.now(UTC)
                    )
                )
        except IntegrityError:
            pass  # recorded by an earlier delivery that then died before acknowledging

    async def run(self, user_id: int, steps: Sequence[Step]) -> list[str]:
        """Run the steps not yet finished for an account, in order, recording each; return the
        names of those run now."""
        finished = await self.done(user_id)
        ran = []
        for name, step in steps:
            if name in finished:
                continue
            await step(user_id)
            await self.record(user_id, name)
            ran.append(name)
        if ran:
            log.info("account %s: deletion steps %s done", user_id, ", ".join(ran))
        return ran


def handler(
    ledger: DeletionLedger, steps: Sequence[Step]
) -> Callable[[envelope_pb2.EventEnvelope], Awaitable[None]]:
    """Return the consumer of AccountDeleted that runs a service's deletion steps."""

    async def handle(envelope: envelope_pb2.EventEnvelope) -> None:
        event = user_events_pb2.AccountDeleted()
        if not envelope.payload.Unpack(event) or envelope.producer != "user_svc":
            log.warning("ignoring event %s: not an AccountDeleted of user_svc", envelope.event_id)
            return
        await ledger.run(event.user_id, steps)

    return handle
