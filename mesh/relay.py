"""The outbox relay: publishes a service's committed outbox rows to the bus, then marks them sent.

Two paths. A transaction that commits with events hands them to the relay (`notify`, wired
through `Outbox(on_commit=...)`): the relay publishes them at once, with no read of the outbox,
and marks their rows sent later, many in one statement (at each poll, or when a batch's worth is
waiting). A sweep, at each poll, publishes whatever rows are still unsent in event id order: rows
whose hand-over was lost (a crash after commit, the bus down at that moment), rows another
process wrote (bulk loads), rows of a replica that stopped. Rows are read by `published_at IS
NULL`, not by "after the last id", so a transaction that commits late with a smaller event id is
still picked up. A row is marked only after the bus accepted it, so a crash between the two
publishes it again (never loses it); the bus skips an event it already has, and consumers dedupe
anyway. On PostgreSQL an advisory lock lets one replica's sweep work at a time, keeping the
rows it publishes in order and not publishing them twice.

The outbox stays the source of truth for events after the bus accepted them: published rows are
kept for the retention, and the relay watches the bus's epoch for its producer (`EventBus.epoch`).
When the epoch is new (Redis restarted empty, so consumers may never see what it held), the
relay marks unpublished again every row the groups may not have finished: those published after
the last time it measured that every group was done with them (`EventBus.finished_before`), or,
when it never measured, those of the last `replay_window_seconds`. A loss again before the next
measure (Redis flapping) publishes again from where the last loss did: the rows published again
have a new publication time. Events it published but has not marked yet stay unmarked, for the
sweep. Consumers are idempotent, so publishing an event they already handled changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, case, delete, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesh import metrics
from mesh.bus import EventBus
from shutter.events.v1 import envelope_pb2

log = logging.getLogger("shutter.relay")

BATCH_MAX = 1000
# The bus's clock (Redis's) and ours may differ a little: replay this much more than measured.
CLOCK_MARGIN_SECONDS = 5.0


async def republish(engine: AsyncEngine, table: Table, *, since: datetime) -> int:
    """Mark unpublished again the outbox rows published since a time, so the service's relay
    publishes them again (consumers are idempotent); return how many. Rows older than the
    outbox retention are gone."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(table)
            .where(table.c.published_at.is_not(None), table.c.published_at >= since)
            .values(published_at=None)
        )
    return int(getattr(result, "rowcount", 0) or 0)


class OutboxRelay:
    """Move one service's outbox rows to the event bus in the background."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        bus: EventBus,
        *,
        producer: str,
        batch_size: int = 100,
        poll_interval_seconds: float = 1.0,
        retention_seconds: float = 7 * 86_400,
        prune_interval_seconds: float = 60.0,
        replay_window_seconds: float = 86_400.0,
        epoch_check_interval_seconds: float = 1.0,
        clock_margin_seconds: float = CLOCK_MARGIN_SECONDS,
    ) -> None:
        if not 1 <= batch_size <= BATCH_MAX:
            raise ValueError(f"batch_size must be within 1..{BATCH_MAX}, got {batch_size}")
        if poll_interval_seconds <= 0 or prune_interval_seconds <= 0:
            raise ValueError("poll_interval_seconds and prune_interval_seconds must be positive")
        if retention_seconds < 0 or replay_window_seconds < 0:
            raise ValueError("retention_seconds and replay_window_seconds must not be negative")
        if epoch_check_interval_seconds <= 0:
            raise ValueError("epoch_check_interval_seconds must be positive")
        self._engine = engine
        self._table = table
        self._bus = bus
        self._producer = producer
        self._batch_size = batch_size
        self._poll = poll_interval_seconds
        self._retention = timedelta(seconds=retention_seconds)
        self._prune_every = prune_interval_seconds
        self._replay_window = timedelta(seconds=replay_window_seconds)
        self._check_every = epoch_check_interval_seconds
        self._clock_margin = timedelta(seconds=clock_margin_seconds)
        # The bus epoch this relay last saw, and a time before which it measured that every
        # group had finished every event (both None until measured).
        self._epoch: str | None = None
        self._finished_before: datetime | None = None
        # Events handed over by commits, not yet published; (event id, when the bus accepted it)
        # of those published, not yet marked.
        self._committed: list[envelope_pb2.EventEnvelope] = []
        self._unmarked: list[tuple[int, datetime]] = []
        # The event ids the last sweep published (see _swept).
        self._last_swept: set[int] = set()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def notify(self, envelopes: Sequence[envelope_pb2.EventEnvelope] = ()) -> None:
        """Hand the relay the events of a transaction that has committed, and wake it to
        publish them now (without them: wake it to sweep the outbox)."""
        self._committed.extend(envelopes)
        self._wakeup.set()

    async def publish_committed(self) -> int:
        """Publish the events commits handed over, in the order they came; return how many.
        Their rows are marked by `mark_published`; if the bus refuses them, they stay unsent
        and the sweep publishes them."""
        committed, self._committed = self._committed, []
        if self._last_swept:
            committed = [e for e in committed if e.event_id not in self._last_swept]
        if not committed:
            return 0
        await self._bus.publish(committed)
        # Marked with this time, not the later marking's: the replay after a bus loss picks
        # rows by when they were published.
        accepted = datetime.now(UTC)
        self._unmarked.extend((e.event_id, accepted) for e in committed)
        return len(committed)

    async def mark_published(self) -> int:
        """Mark sent the rows of the events `publish_committed` published; return how many ids
        it marked (a row the sweep marked first is left as it is)."""
        unmarked, self._unmarked = self._unmarked, []
        outbox = self._table
        for start in range(0, len(unmarked), BATCH_MAX):
            chunk = unmarked[start : start + BATCH_MAX]
            when = {
                event_id: literal(accepted, outbox.c.published_at.type)
                for event_id, accepted in chunk
            }
            async with self._engine.begin() as conn:
                await self._mark(conn, list(when), case(when, value=outbox.c.event_id))
        return len(unmarked)

    async def start(self) -> None:
        """Start relaying in the background."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"outbox-relay:{self._producer}")

    async def stop(self, grace: float = 5.0) -> None:
        """Let the batch in flight finish within `grace` seconds, then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wakeup.set()
        await asyncio.wait({task}, timeout=grace)
        if not task.done():
            task.cancel()  # a batch cut short is published again by the next start
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def relay_once(self) -> int:
        """Publish one batch of unpublished rows in event id order; return how many."""
        async with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Held until commit: one relay per producer at a time, across replicas.
                locked = await conn.scalar(
                    text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"shutter.outbox_relay.{self._producer}"},
                )
                if not locked:
                    return 0
                rows = await self._unpublished(conn)
                if rows:
                    await self._bus.publish([envelope for _, envelope in rows])
                    self._swept([event_id for event_id, _ in rows])
                    await self._mark(conn, [event_id for event_id, _ in rows], datetime.now(UTC))
                return len(rows)
            rows = await self._unpublished(conn)
        # SQLite: mark in a transaction of its own, so the service's writers are never kept
        # waiting on the bus.
        if not rows:
            return 0
        await self._bus.publish([envelope for _, envelope in rows])
        self._swept([event_id for event_id, _ in rows])
        async with self._engine.begin() as conn:
            await self._mark(conn, [event_id for event_id, _ in rows], datetime.now(UTC))
        return len(rows)

    def _swept(self, event_ids: list[int]) -> None:
        """Note the events the sweep has just published: a transaction's hand-over can come
        after the sweep saw its committed rows, and publishing them again would only be
        skipped by the bus. Kept until the next sweep."""
        self._last_swept = set(event_ids)
        self._committed = [e for e in self._committed if e.event_id not in self._last_swept]

    async def check_bus(self) -> int:
        """Compare the bus's epoch with the one seen before; when the bus lost events, mark
        unpublished again the rows its groups may not have finished and return how many."""
        epoch, began = await self._bus.epoch(self._producer)
        lost = began or (self._epoch is not None and epoch != self._epoch)
        if not lost:
            self._epoch = epoch
            finished = await self._bus.finished_before()
            # Trust the measure only if the bus did not change under it.
            again, began_now = await self._bus.epoch(self._producer)
            if again == epoch and not began_now:
                # No group (right after a loss, before the consumers are back) measures
                # nothing: the bound already known still holds.
                if finished is not None:
                    self._finished_before = finished
                return 0
            epoch, lost = again, True
        since = (
            self._finished_before - self._clock_margin
            if self._finished_before is not None and self._epoch is not None
            else datetime.now(UTC) - self._replay_window
        )
        count = await republish(self._engine, self._table, since=since)
        # What was published before the loss and not marked yet stays unsent, for the sweep.
        self._unmarked.clear()
        # Rows published before `since` were finished before this loss, and the ones published
        # again get a new published_at: another loss before the next measure (Redis flapping)
        # publishes again from the same place, not the whole replay window.
        self._epoch = epoch
        self._finished_before = since + self._clock_margin
        if count:
            metrics.OUTBOX_REPLAYED.labels(self._producer).inc(count)
            log.warning(
                "%s: the bus has a new epoch (it lost events, e.g. Redis restarted empty): "
                "publishing again %d outbox rows published since %s",
                self._producer,
                count,
                since.isoformat(),
            )
        return count

    async def _unpublished(
        self, conn: AsyncConnection
    ) -> list[tuple[int, envelope_pb2.EventEnvelope]]:
        outbox = self._table
        result = await conn.execute(
            select(outbox.c.event_id, outbox.c.envelope)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.event_id)
            .limit(self._batch_size)
        )
        return [
            (int(event_id), envelope_pb2.EventEnvelope.FromString(envelope))
            for event_id, envelope in result
        ]

    async def _mark(self, conn: AsyncConnection, event_ids: list[int], published_at: Any) -> None:
        """Set published_at (a time, or an expression of each row's) on these unsent rows."""
        outbox = self._table
        await conn.execute(
            update(outbox)
            .where(outbox.c.event_id.in_(event_ids), outbox.c.published_at.is_(None))
            .values(published_at=published_at)
        )

    async def prune(self) -> int:
        """Delete rows published longer ago than the retention; return how many."""
        outbox = self._table
        cutoff = datetime.now(UTC) - self._retention
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(outbox).where(
                    outbox.c.published_at.is_not(None), outbox.c.published_at <= cutoff
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        next_check = loop.time()
        next_sweep = loop.time()
        failures = 0
        while not self._stopping:
            self._wakeup.clear()  # before reading, so a commit during the read is not missed
            swept = 0
            try:
                if loop.time() >= next_check:
                    await self.check_bus()
                    next_check = loop.time() + self._check_every
                await self.publish_committed()
                if loop.time() >= next_sweep or len(self._unmarked) >= self._batch_size:
                    # Marked first, so the sweep reads only rows nobody published.
                    await self.mark_published()
                    swept = await self.relay_once()
                    next_sweep = loop.time() + self._poll
                if loop.time() >= next_prune:
                    pruned = await self.prune()
                    if pruned:
                        log.info("%s: pruned %d published outbox rows", self._producer, pruned)
                    next_prune = loop.time() + self._prune_every
                failures = 0
            except Exception:
                failures += 1
                log.exception("%s: relaying the outbox failed; retrying", self._producer)
                # Back off while the bus or the database is down, up to ten poll intervals.
                await asyncio.sleep(min(self._poll * failures, self._poll * 10))
                continue
            if swept == self._batch_size:
                next_sweep = loop.time()
                continue  # there is probably more waiting
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            wait = max(0.0, min(next_sweep, next_check) - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()
        await self._finish()

    async def _finish(self) -> None:
        """On stop: publish what commits handed over and mark it, so a restart does not
        publish it again (if this fails, the next start's sweep publishes it)."""
        try:
            await self.publish_committed()
            await self.mark_published()
        except Exception:
            log.warning("%s: events left for the next start's sweep", self._producer, exc_info=True)
