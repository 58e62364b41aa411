"""Events survive the bus losing them: the relay sees the bus's new epoch and publishes again,
from the outbox, what the consumer groups may not have finished (issue 16, part 1)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mesh.bus import create_bus
from mesh.relay import OutboxRelay
from tests.mesh.test_bus import (
    BusFactory,
    Collector,
    eventually,
    eventually_async,
    fast_settings,
    registered,
)
from tests.mesh.test_relay import PRODUCER, Outboxed, RecordingBus, outboxed_database
from tests.redis_server import PrivateRedis

CHECK = 0.05


async def test_the_epoch_of_a_producer_is_begun_once_and_then_kept(make_bus: BusFactory) -> None:
    bus, other = make_bus(), make_bus()
    first, began = await bus.epoch("post_svc")
    assert began
    assert await bus.epoch("post_svc") == (first, False)
    assert await other.epoch("post_svc") == (first, False)  # one bus, seen from two processes
    second, began = await bus.epoch("user_svc")
    assert began and second != first


async def test_finished_before_is_the_oldest_event_a_group_has_not_finished(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    assert await bus.finished_before() is None  # no group: nothing is known
    done = Collector()
    await bus.start_consumer(group="done_svc", handler=done)
    behind = await bus.start_consumer(group="behind_svc", handler=Collector())
    await behind.stop()
    before = datetime.now(UTC) - timedelta(seconds=1)
    await bus.publish([registered(1), registered(2)])
    await done.wait_for(2)
    await asyncio.sleep(0.05)
    # behind_svc has not read event 1: nothing after its publication is known to be finished.
    finished = await bus.finished_before()
    assert finished is not None and before <= finished <= datetime.now(UTC)
    behind_again = Collector()
    await bus.start_consumer(group="behind_svc", handler=behind_again)
    await behind_again.wait_for(2)
    await asyncio.sleep(0.05)
    caught_up = await bus.finished_before()
    assert caught_up is not None and caught_up > finished


def _relay(outboxed: Outboxed, **options: object) -> OutboxRelay:
    return outboxed.relay(epoch_check_interval_seconds=CHECK, clock_margin_seconds=0, **options)


async def test_redis_restarted_empty_with_a_group_behind_loses_no_event(
    private_redis: PrivateRedis, data_dir: Path
) -> None:
    """The issue's reproduction: one group up to date, one behind; Redis restarts empty without
    persistence. Every event still reaches both groups, and only the events the group behind
    had not finished are published again."""
    settings = fast_settings(
        data_dir, redis_url=private_redis.url, bus_stream_prefix=f"loss-{uuid.uuid4().hex[:8]}"
    )
    async with outboxed_database(data_dir, None) as (engine, table):
        bus = RecordingBus(create_bus(settings))
        outboxed = Outboxed(engine, table, bus)
        live, behind = Collector(), Collector()
        await bus.start_consumer(group="live_svc", handler=live)
        slow = await bus.start_consumer(group="behind_svc", handler=behind)
        relay = _relay(outboxed)
        await relay.start()
        try:
            first = await outboxed.add([1, 2, 3, 4, 5], outbox=outboxed.outbox(relay))
            await behind.wait_for(5)
            await slow.stop()  # from here on behind_svc falls behind
            await asyncio.sleep(0.05)
            second = await outboxed.add([6, 7, 8, 9, 10], outbox=outboxed.outbox(relay))
            await live.wait_for(10)
            await asyncio.sleep(CHECK * 6)  # the relay measures what every group finished
            published_before = list(bus.published)
            assert published_before == first + second

            private_redis.restart_empty()

            # Published again: exactly what behind_svc had not finished.
            await eventually(lambda: len(bus.published) >= 15, timeout=10)
            assert bus.published[10:] == second
            # Marked sent once published (on SQLite in a transaction of its own, a moment later).
            await eventually_async(outboxed.unpublished, 0)
            behind_after = Collector()
            await bus.start_consumer(group="behind_svc", handler=behind_after)
            await behind_after.wait_for(10)
            assert sorted(behind.users + behind_after.users) == list(range(1, 11))
            # The live group was up to date; it sees the replayed events again (it dedupes).
            await eventually(lambda: live.users.count(10) == 2, timeout=5)
            assert sorted(set(live.users)) == list(range(1, 11))
        finally:
            await relay.stop()
            await bus.close()


async def test_a_relay_that_never_measured_publishes_its_replay_window_again(
    private_redis: PrivateRedis, data_dir: Path
) -> None:
    """A service restarted together with Redis knows nothing of what the groups finished: it
    publishes again every row of its replay window, and nothing older."""
    settings = fast_settings(
        data_dir, redis_url=private_redis.url, bus_stream_prefix=f"loss-{uuid.uuid4().hex[:8]}"
    )
    async with outboxed_database(data_dir, None) as (engine, table):
        bus = RecordingBus(create_bus(settings))
        outboxed = Outboxed(engine, table, bus)
        relay = _relay(outboxed)
        await relay.start()
        old = await outboxed.add([1], outbox=outboxed.outbox(relay))
        await eventually(lambda: len(bus.published) == 1)
        await relay.stop()
        # Row 1 was published long ago, beyond the replay window.
        async with engine.begin() as conn:
            await conn.execute(
                table.update().values(published_at=datetime.now(UTC) - timedelta(hours=2))
            )
        recent = await outboxed.add([2, 3], outbox=outboxed.outbox(relay))
        restarted = _relay(outboxed, replay_window_seconds=3600)
        await restarted.relay_once()
        assert bus.published == old + recent

        private_redis.restart_empty()
        await asyncio.sleep(0.1)
        assert await restarted.check_bus() == 2
        await restarted.relay_once()
        assert bus.published == old + recent + recent
        assert await restarted.check_bus() == 0  # the new epoch is now known: nothing more
        seen = Collector()
        await bus.start_consumer(group="late_svc", handler=seen)
        await seen.wait_for(3)
        assert seen.users == [2, 3]
        await bus.close()
    assert PRODUCER  # the rows are the relay test's producer's


async def test_events_published_but_not_marked_when_the_bus_lost_them_are_published_again(
    private_redis: PrivateRedis, data_dir: Path
) -> None:
    """A commit's events went out at once; Redis restarted empty before the relay marked their
    rows: the rows stay unsent and the sweep publishes them again."""
    settings = fast_settings(
        data_dir, redis_url=private_redis.url, bus_stream_prefix=f"loss-{uuid.uuid4().hex[:8]}"
    )
    async with outboxed_database(data_dir, None) as (engine, table):
        bus = RecordingBus(create_bus(settings))
        outboxed = Outboxed(engine, table, bus)
        relay = _relay(outboxed)
        assert await relay.check_bus() == 0  # the relay knows the bus's epoch
        event_ids = await outboxed.add([1, 2], outbox=outboxed.outbox(relay))
        assert await relay.publish_committed() == 2
        assert await outboxed.unpublished() == 2

        private_redis.restart_empty()
        await asyncio.sleep(0.1)
        await relay.check_bus()
        assert await relay.mark_published() == 0  # nothing is marked sent that the bus lost
        assert await relay.relay_once() == 2
        assert bus.published == event_ids + event_ids
        assert await outboxed.unpublished() == 0
        await bus.close()


async def test_a_bus_lost_again_before_the_relay_measured_is_not_given_the_replay_window(
    private_redis: PrivateRedis, data_dir: Path
) -> None:
    """Redis flapping: emptied, then emptied again before the consumers were back (so before
    the relay could measure anything new). Only what the groups had not finished before the
    first loss is published again, not every row of the replay window."""
    settings = fast_settings(
        data_dir, redis_url=private_redis.url, bus_stream_prefix=f"loss-{uuid.uuid4().hex[:8]}"
    )
    async with outboxed_database(data_dir, None) as (engine, table):
        bus = RecordingBus(create_bus(settings))
        outboxed = Outboxed(engine, table, bus)
        live = Collector()
        consumer = await bus.start_consumer(group="live_svc", handler=live)
        relay = _relay(outboxed, replay_window_seconds=3600)
        assert await relay.check_bus() == 0
        done = await outboxed.add([1, 2], outbox=outboxed.outbox(relay))
        await relay.relay_once()
        await live.wait_for(2)
        await asyncio.sleep(0.05)
        assert await relay.check_bus() == 0  # measured: rows 1 and 2 are finished
        await consumer.stop()  # the consumers are not back until after the second loss

        private_redis.restart_empty()
        await asyncio.sleep(0.1)
        assert await relay.check_bus() == 0  # lost, and nothing unfinished to publish again
        assert await relay.check_bus() == 0  # no group yet: nothing new is measured
        private_redis.restart_empty()
        await asyncio.sleep(0.1)
        assert await relay.check_bus() == 0
        await relay.relay_once()
        assert bus.published == done
        await bus.close()
