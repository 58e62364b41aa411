"""The outbox relay: committed outbox rows reach the bus at least once, in order, and get marked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import MetaData, Table, func, select, text, update
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import auth, db
from mesh.bus import Consumer, DeadLetter, EventBus, create_bus, unpack
from mesh.config import MeshSettings
from mesh.ids import IdGenerator
from mesh.outbox import Outbox, outbox_table
from mesh.relay import BATCH_MAX, OutboxRelay
from shutter.events.v1 import envelope_pb2, user_events_pb2
from shutter.user.v1 import user_service_pb2, user_service_pb2_grpc
from tests.conftest import unique_service
from tests.mesh.test_bus import Collector, eventually, fast_settings
from user_svc.servicer import create_user_service
from user_svc.settings import UserSettings

PRODUCER = "relay_svc"


class RecordingBus:
    """A bus in front of a real one that records what it was asked to publish."""

    def __init__(self, inner: EventBus) -> None:
        self.inner = inner
        self.published: list[int] = []
        self.fail_next = 0
        self.hang_after_publish = False
        self.delay = 0.0

    async def publish(self, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("the bus is down")
        await self.inner.publish(envelopes)
        self.published.extend(e.event_id for e in envelopes)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hang_after_publish:  # the process dies before it can mark the rows
            await asyncio.Event().wait()

    async def start_consumer(self, **kwargs) -> Consumer:
        return await self.inner.start_consumer(**kwargs)

    async def dead_letters(self, group: str, *, limit: int = 100) -> list[DeadLetter]:
        return await self.inner.dead_letters(group, limit=limit)

    async def backlog(self, group: str) -> int:
        return await self.inner.backlog(group)

    async def replay_dead_letters(self, group: str, *, letter_ids: Sequence[str] | None) -> int:
        return await self.inner.replay_dead_letters(group, letter_ids=letter_ids)

    async def drop_dead_letters(self, group: str, *, letter_ids: Sequence[str] | None) -> int:
        return await self.inner.drop_dead_letters(group, letter_ids=letter_ids)

    async def epoch(self, producer: str) -> tuple[str, bool]:
        return await self.inner.epoch(producer)

    async def finished_before(self) -> datetime | None:
        return await self.inner.finished_before()

    async def close(self) -> None:
        await self.inner.close()


class Outboxed:
    """A service's database with just an outbox table, and the bus it relays to."""

    def __init__(self, engine: AsyncEngine, table: Table, bus: RecordingBus) -> None:
        self.engine = engine
        self.table = table
        self.bus = bus
        self.ids = IdGenerator(shard=3)
        self.sessions = db.session_factory(engine)

    def outbox(self, relay: OutboxRelay | None = None) -> Outbox:
        return Outbox(
            self.table,
            producer=PRODUCER,
            ids=self.ids,
            on_commit=relay.notify if relay is not None else None,
        )

    def relay(self, **options: Any) -> OutboxRelay:
        return OutboxRelay(
            self.engine,
            self.table,
            self.bus,
            producer=PRODUCER,
            **{"poll_interval_seconds": 0.02, **options},
        )

    async def add(self, user_ids: Sequence[int], *, outbox: Outbox | None = None) -> list[int]:
        """Commit one transaction with one UserRegistered event per user; return event ids."""
        outbox = outbox or self.outbox()
        async with db.transaction(self.sessions) as session:
            envelopes = [
                await outbox.add(
                    session,
                    aggregate_id=user_id,
                    event=user_events_pb2.UserRegistered(user_id=user_id, username=f"u{user_id}"),
                )
                for user_id in user_ids
            ]
        return [e.event_id for e in envelopes]

    async def unpublished(self) -> int:
        async with self.engine.connect() as conn:
            query = select(func.count()).where(self.table.c.published_at.is_(None))
            return int(await conn.scalar(query) or 0)

    async def rows(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(self.table)) or 0)


@asynccontextmanager
async def outboxed_database(
    data_dir: Path, database_url: str | None
) -> AsyncIterator[tuple[AsyncEngine, Table]]:
    """Create an outbox table in a fresh SQLite file or PostgreSQL schema."""
    name = "relay_test" if database_url is None else unique_service("relay_test")
    engine = db.create_engine(name, MeshSettings(data_dir=data_dir), database_url)
    table = outbox_table(MetaData())
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        await conn.run_sync(table.metadata.create_all)
    try:
        yield engine, table
    finally:
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        await engine.dispose()


@pytest.fixture
async def outboxed(data_dir: Path, database_url: str | None) -> AsyncIterator[Outboxed]:
    """Return an outbox on each relational backend, relaying to an embedded bus."""
    async with outboxed_database(data_dir, database_url) as (engine, table):
        bus = RecordingBus(create_bus(fast_settings(data_dir)))
        yield Outboxed(engine, table, bus)
        await bus.close()


async def collect(bus: EventBus, group: str = "reader_svc") -> Collector:
    seen = Collector()
    await bus.start_consumer(group=group, handler=seen)
    return seen


async def test_relay_publishes_committed_rows_in_order_and_marks_them(
    outboxed: Outboxed,
) -> None:
    first = await outboxed.add([1, 2, 3])
    second = await outboxed.add([4, 5])
    seen = await collect(outboxed.bus)
    relay = outboxed.relay(batch_size=2)  # three batches
    await relay.start()
    await seen.wait_for(5)
    await eventually(lambda: len(outboxed.bus.published) == 5)
    await relay.stop()
    assert [e.event_id for e in seen.seen] == first + second
    assert [unpack(e, user_events_pb2.UserRegistered).user_id for e in seen.seen] == [1, 2, 3, 4, 5]
    assert {e.producer for e in seen.seen} == {PRODUCER}
    assert await outboxed.unpublished() == 0


async def test_events_added_in_one_statement_are_relayed_in_order_after_one_wakeup(
    outboxed: Outboxed,
) -> None:
    relay = outboxed.relay(poll_interval_seconds=60)  # only the commit's wake-up can move them
    seen = await collect(outboxed.bus)
    await relay.start()
    await asyncio.sleep(0.05)  # the relay found nothing and sleeps for its (long) poll interval
    outbox = outboxed.outbox(relay)
    async with db.transaction(outboxed.sessions) as session:
        assert await outbox.add_many(session, events=[]) == []
        envelopes = await outbox.add_many(
            session,
            events=[
                (u, user_events_pb2.UserRegistered(user_id=u, username=f"u{u}")) for u in (7, 8, 9)
            ],
        )
    await seen.wait_for(9)  # the last of them, well before 60 seconds
    await relay.stop()
    assert [e.event_id for e in seen.seen] == [e.event_id for e in envelopes]
    assert [e.aggregate_id for e in seen.seen] == [7, 8, 9]
    assert [unpack(e, user_events_pb2.UserRegistered).user_id for e in seen.seen] == [7, 8, 9]
    assert await outboxed.unpublished() == 0


@pytest.mark.postgres
async def test_relay_picks_up_a_transaction_that_committed_late_with_smaller_ids(
    data_dir: Path, postgres_database: str
) -> None:
    # Only PostgreSQL interleaves transactions; SQLite has one writer at a time.
    async with outboxed_database(data_dir, postgres_database) as (engine, table):
        bus = RecordingBus(create_bus(fast_settings(data_dir)))
        outboxed = Outboxed(engine, table, bus)
        relay = outboxed.relay()
        async with db.transaction(outboxed.sessions) as session:
            early = await outboxed.outbox().add(
                session, aggregate_id=1, event=user_events_pb2.UserRegistered(user_id=1)
            )
            later = await outboxed.add([2])  # commits first, with a larger id
            assert await relay.relay_once() == 1
        assert await relay.relay_once() == 1
        assert bus.published == [*later, early.event_id]
        await bus.close()


async def test_rolled_back_events_are_neither_published_nor_announced(outboxed: Outboxed) -> None:
    nudges: list[list[int]] = []
    outbox = Outbox(
        outboxed.table,
        producer=PRODUCER,
        ids=outboxed.ids,
        on_commit=lambda envelopes: nudges.append([e.event_id for e in envelopes]),
    )
    with pytest.raises(RuntimeError):
        async with db.transaction(outboxed.sessions) as session:
            await outbox.add(session, aggregate_id=1, event=user_events_pb2.UserRegistered())
            raise RuntimeError("the change failed")
    assert nudges == []
    assert await outboxed.relay().relay_once() == 0
    committed = await outboxed.add([2], outbox=outbox)
    assert nudges == [committed]


async def test_a_session_used_for_several_transactions_hands_over_each_ones_own_events(
    outboxed: Outboxed,
) -> None:
    handed: list[list[int]] = []
    outbox = Outbox(
        outboxed.table,
        producer=PRODUCER,
        ids=outboxed.ids,
        on_commit=lambda envelopes: handed.append([e.aggregate_id for e in envelopes]),
    )
    event = user_events_pb2.UserRegistered()
    async with outboxed.sessions() as session:
        async with session.begin():
            await outbox.add(session, aggregate_id=1, event=event)
        with pytest.raises(RuntimeError):
            async with session.begin():
                await outbox.add(session, aggregate_id=2, event=event)
                raise RuntimeError("the change failed")
        async with session.begin():
            await outbox.add(session, aggregate_id=3, event=event)
            await outbox.add(session, aggregate_id=4, event=event)
    assert handed == [[1], [3, 4]]


async def test_a_commit_wakes_the_relay_without_waiting_for_its_poll(
    outboxed: Outboxed,
) -> None:
    relay = outboxed.relay(poll_interval_seconds=60)
    seen = await collect(outboxed.bus)
    await relay.start()
    await asyncio.sleep(0.05)  # the relay found nothing and sleeps for its (long) poll interval
    await outboxed.add([1], outbox=outboxed.outbox(relay))
    await seen.wait_for(1)  # well before 60 seconds
    await relay.stop()


async def test_committed_events_are_published_without_reading_the_outbox_then_marked_together(
    outboxed: Outboxed,
) -> None:
    """The hand-over path: a commit's events reach the bus with no statement from the relay,
    and the rows of several commits are marked sent by one statement later."""
    relay = outboxed.relay(poll_interval_seconds=60)  # no sweep during the test
    seen = await collect(outboxed.bus)
    statements: list[str] = []
    await relay.start()
    await asyncio.sleep(0.05)  # the first sweep found nothing; the next is a minute away
    sa_event.listen(
        outboxed.engine.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_: statements.append(statement.split()[0].upper()),
    )
    event_ids = [
        event_id
        for user in (1, 2, 3)
        for event_id in await outboxed.add([user], outbox=outboxed.outbox(relay))
    ]
    await seen.wait_for(3)
    assert [e.event_id for e in seen.seen] == event_ids
    assert "SELECT" not in statements and "UPDATE" not in statements  # only the writers' INSERTs
    assert await outboxed.unpublished() == 3  # published, not marked yet
    statements.clear()
    await relay.stop()  # marks what it published
    assert statements.count("UPDATE") == 1
    assert await outboxed.unpublished() == 0
    assert outboxed.bus.published == event_ids  # each once


async def test_events_the_sweep_published_first_are_not_published_again_from_the_hand_over(
    outboxed: Outboxed,
) -> None:
    """A sweep can see a transaction's rows before the relay publishes its hand-over (or before
    the hand-over comes): each event still goes to the bus once."""
    relay = outboxed.relay(poll_interval_seconds=60)
    handed = await outboxed.add([1, 2], outbox=outboxed.outbox(relay))
    assert await relay.relay_once() == 2
    assert await relay.publish_committed() == 0
    # A hand-over that comes after the sweep published its rows.
    late = Outbox(outboxed.table, producer=PRODUCER, ids=outboxed.ids)
    async with db.transaction(outboxed.sessions) as session:
        envelope = await late.add(session, aggregate_id=3, event=user_events_pb2.UserRegistered())
    assert await relay.relay_once() == 1
    relay.notify([envelope])
    assert await relay.publish_committed() == 0
    assert outboxed.bus.published == [*handed, envelope.event_id]
    assert await outboxed.unpublished() == 0


async def test_a_row_marked_later_records_when_the_bus_accepted_it(outboxed: Outboxed) -> None:
    """The replay after a bus loss picks rows by when they were published: a row marked after
    its publication keeps that time, not the marking's."""
    relay = outboxed.relay(poll_interval_seconds=60)
    await outboxed.add([1], outbox=outboxed.outbox(relay))
    assert await relay.publish_committed() == 1
    published_by = datetime.now(UTC)
    await asyncio.sleep(0.2)
    assert await relay.mark_published() == 1
    async with outboxed.engine.connect() as conn:
        recorded = await conn.scalar(select(outboxed.table.c.published_at))
    assert recorded is not None
    assert (recorded if recorded.tzinfo else recorded.replace(tzinfo=UTC)) <= published_by


async def test_events_the_bus_refused_at_commit_are_published_by_the_sweep(
    outboxed: Outboxed,
) -> None:
    relay = outboxed.relay(poll_interval_seconds=0.05)
    seen = await collect(outboxed.bus)
    await relay.start()
    await asyncio.sleep(0.1)
    outboxed.bus.fail_next = 1  # the hand-over's publish fails
    event_ids = await outboxed.add([1, 2], outbox=outboxed.outbox(relay))
    await seen.wait_for(2)
    await relay.stop()
    assert outboxed.bus.published == event_ids
    assert await outboxed.unpublished() == 0


async def test_a_row_written_by_a_statement_of_its_own_is_relayed_once_it_says_so(
    outboxed: Outboxed,
) -> None:
    """A detached row (a service's own one-statement write, no session to hook) is published
    at the wake-up `committed` gives, not at the relay's next poll."""
    relay = outboxed.relay(poll_interval_seconds=60)
    seen = await collect(outboxed.bus)
    await relay.start()
    await asyncio.sleep(0.05)  # the relay found nothing and sleeps for its (long) poll interval
    outbox = outboxed.outbox(relay)
    envelope, row = outbox.detached_row(
        aggregate_id=5, event=user_events_pb2.UserRegistered(user_id=5, username="u5")
    )
    assert row["event_id"] == envelope.event_id and row["aggregate_id"] == 5
    async with outboxed.engine.begin() as connection:
        await connection.execute(outboxed.table.insert().values(**row))
    outbox.committed([envelope])
    await seen.wait_for(5)  # well before 60 seconds
    await relay.stop()
    assert [e.event_id for e in seen.seen] == [envelope.event_id]
    assert unpack(seen.seen[0], user_events_pb2.UserRegistered).username == "u5"


async def test_relay_killed_between_publish_and_mark_publishes_again(
    outboxed: Outboxed,
) -> None:
    event_ids = await outboxed.add([1, 2])
    seen = await collect(outboxed.bus)
    outboxed.bus.hang_after_publish = True
    doomed = outboxed.relay()
    await doomed.start()
    await eventually(lambda: outboxed.bus.published == event_ids)
    await doomed.stop(grace=0.05)
    assert await outboxed.unpublished() == 2  # published, never marked
    outboxed.bus.hang_after_publish = False
    relay = outboxed.relay()
    await relay.start()
    await eventually(lambda: outboxed.bus.published == event_ids + event_ids)
    await relay.stop()
    assert await outboxed.unpublished() == 0
    # The bus keeps one copy per (producer, event_id), so readers get each event once here;
    # a consumer that dies mid-event still sees it twice (tests/mesh/test_bus.py): dedupe.
    await seen.wait_for(2)
    assert [e.event_id for e in seen.seen] == event_ids


async def test_relay_keeps_trying_while_the_bus_is_down(outboxed: Outboxed) -> None:
    outboxed.bus.fail_next = 2
    event_ids = await outboxed.add([1])
    relay = outboxed.relay()
    await relay.start()
    await eventually(lambda: outboxed.bus.published == event_ids)
    await eventually(lambda: outboxed.bus.fail_next == 0)
    await relay.stop()
    assert await outboxed.unpublished() == 0


async def test_prune_deletes_only_rows_published_longer_ago_than_the_retention(
    outboxed: Outboxed,
) -> None:
    await outboxed.add([1, 2])
    keeper = outboxed.relay(retention_seconds=3600)
    assert await keeper.relay_once() == 2
    await outboxed.add([3])  # not published yet
    assert await keeper.prune() == 0
    async with outboxed.engine.begin() as conn:  # one row was published two hours ago
        oldest = await conn.scalar(select(func.min(outboxed.table.c.event_id)))
        await conn.execute(
            update(outboxed.table)
            .where(outboxed.table.c.event_id == oldest)
            .values(published_at=datetime.now(UTC) - timedelta(hours=2))
        )
    assert await keeper.prune() == 1
    assert await outboxed.rows() == 2
    assert await outboxed.relay(retention_seconds=0).prune() == 1
    assert await outboxed.rows() == 1
    assert await outboxed.unpublished() == 1


async def test_relay_refuses_options_outside_their_limits(outboxed: Outboxed) -> None:
    for options in (
        {"batch_size": 0},
        {"batch_size": BATCH_MAX + 1},
        {"poll_interval_seconds": 0},
        {"prune_interval_seconds": 0},
        {"retention_seconds": -1},
    ):
        with pytest.raises(ValueError):
            outboxed.relay(**options)
    await outboxed.add(list(range(1, BATCH_MAX + 2)))
    widest = outboxed.relay(batch_size=BATCH_MAX)
    assert await widest.relay_once() == BATCH_MAX
    assert await outboxed.relay(batch_size=1).relay_once() == 1


@pytest.mark.postgres
async def test_relays_of_two_replicas_on_postgresql_publish_each_row_once(
    data_dir: Path, postgres_database: str
) -> None:
    async with outboxed_database(data_dir, postgres_database) as (engine, table):
        bus = RecordingBus(create_bus(fast_settings(data_dir)))
        bus.delay = 0.02  # keep each batch's transaction open, so the two relays overlap
        outboxed = Outboxed(engine, table, bus)
        event_ids = await outboxed.add(list(range(1, 41)))
        first, second = outboxed.relay(batch_size=5), outboxed.relay(batch_size=5)
        for _ in range(100):
            await asyncio.gather(first.relay_once(), second.relay_once())
            if await outboxed.unpublished() == 0:
                break
        assert bus.published == event_ids  # each once, in order
        await bus.close()


async def test_user_svc_publishes_a_new_account_to_the_bus(data_dir: Path) -> None:
    settings = UserSettings(
        data_dir=data_dir,
        user_svc_addr="127.0.0.1:0",
        argon2_memory_kib=1024,
        argon2_time_cost=1,
        relay_poll_interval_seconds=60,  # the commit hook has to do the waking
        bus_poll_interval_seconds=0.02,
    )
    auth.ensure_keys(settings)
    service = await create_user_service(settings)
    reader = create_bus(settings)
    seen = await collect(reader, group="relay_test_svc")
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            await user_service_pb2_grpc.UserServiceStub(channel).Register(
                user_service_pb2.RegisterRequest(
                    username="relayed", email="relayed@example.com", password="long enough pw"
                )
            )
        await eventually(lambda: len(seen.seen) == 1)
        registered = unpack(seen.seen[0], user_events_pb2.UserRegistered)
        assert registered.username == "relayed"
        assert seen.seen[0].producer == "user_svc"
    finally:
        await reader.close()
        await service.stop(0)
