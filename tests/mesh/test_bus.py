"""The event bus: one suite against the embedded SQLite bus and against Redis Streams."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
from google.protobuf import any_pb2
from google.protobuf.message import Message

from mesh import context, metrics
from mesh.bus import EmbeddedBus, EventBus, RedisStreamBus, create_bus, event_type, unpack
from mesh.config import MeshSettings
from mesh.ids import IdGenerator
from mesh.redis import create_redis
from shutter.events.v1 import envelope_pb2, graph_events_pb2, user_events_pb2
from tests.conftest import _engine_missing

# Bus tests isolate themselves with a key prefix, so any database works; 13 is one that the
# engines run of the suite does not flush under them.
REDIS_URL = os.environ.get("SHUTTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
REGISTERED = "shutter.events.v1.UserRegistered"
UPDATED = "shutter.events.v1.UserProfileUpdated"
FOLLOWED = graph_events_pb2.Followed.DESCRIPTOR.full_name
MAX_ATTEMPTS = 3
IDLE = 0.4

_ids = IdGenerator(shard=7)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Return the URL of the test Redis; skip (or fail when CI=true) when it is unreachable."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _engine_missing("Redis", exc)
    finally:
        client.close()
    return REDIS_URL


def fast_settings(data_dir: Path, **overrides: Any) -> MeshSettings:
    """Return settings with timings short enough for tests, on the embedded bus by default."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "redis_url": None,
        "bus_poll_interval_seconds": 0.02,
        "bus_idle_timeout_seconds": IDLE,
        "bus_retry_backoff_seconds": 0.01,
        "bus_retry_backoff_max_seconds": 0.02,
        "bus_max_attempts": MAX_ATTEMPTS,
        **overrides,
    }
    return MeshSettings(**values)


class BusFactory:
    """Make buses on one backend that share one log, as the processes of a mesh would."""

    def __init__(self, data_dir: Path, redis_url: str | None) -> None:
        self.prefix = f"bus-test-{uuid.uuid4().hex[:12]}"
        self._data_dir = data_dir
        self._redis_url = redis_url
        self.made: list[EventBus] = []

    def settings(self, **overrides: Any) -> MeshSettings:
        return fast_settings(
            self._data_dir, redis_url=self._redis_url, bus_stream_prefix=self.prefix, **overrides
        )

    def __call__(self, **overrides: Any) -> EventBus:
        bus = create_bus(self.settings(**overrides))
        self.made.append(bus)
        return bus


@pytest.fixture(params=["embedded", "redis"])
async def make_bus(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[BusFactory]:
    """Return a maker of buses on each backend; Redis keys get a prefix of their own."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    factory = BusFactory(data_dir, url)
    yield factory
    for bus in factory.made:
        await bus.close()
    if url is not None:
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{{{factory.prefix}}}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def envelope(event: Message, *, producer: str = "test_svc") -> envelope_pb2.EventEnvelope:
    """Return a new envelope around an event."""
    payload = any_pb2.Any()
    payload.Pack(event)
    return envelope_pb2.EventEnvelope(
        event_id=_ids.next_id(), producer=producer, aggregate_id=1, payload=payload
    )


def registered(user_id: int) -> envelope_pb2.EventEnvelope:
    return envelope(user_events_pb2.UserRegistered(user_id=user_id, username=f"u{user_id}"))


def updated(user_id: int) -> envelope_pb2.EventEnvelope:
    return envelope(user_events_pb2.UserProfileUpdated(user_id=user_id, is_private=True))


def user_of(env: envelope_pb2.EventEnvelope) -> int:
    if event_type(env) == REGISTERED:
        return unpack(env, user_events_pb2.UserRegistered).user_id
    return unpack(env, user_events_pb2.UserProfileUpdated).user_id


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until check() holds, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.01)


class Collector:
    """A handler that records what it is given."""

    def __init__(self) -> None:
        self.seen: list[envelope_pb2.EventEnvelope] = []

    async def __call__(self, env: envelope_pb2.EventEnvelope) -> None:
        self.seen.append(env)

    @property
    def users(self) -> list[int]:
        return [user_of(e) for e in self.seen]

    async def wait_for(self, user_id: int) -> None:
        await eventually(lambda: user_id in self.users)


class Blocker:
    """A handler that never finishes, like a consumer process that hangs or dies mid-event."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self._never = asyncio.Event()

    async def __call__(self, env: envelope_pb2.EventEnvelope) -> None:
        self.calls.append(env.event_id)
        await self._never.wait()


def test_event_type_and_unpack_read_the_payload() -> None:
    env = registered(42)
    assert event_type(env) == REGISTERED
    assert unpack(env, user_events_pb2.UserRegistered).username == "u42"
    with pytest.raises(TypeError, match="is a shutter.events.v1.UserRegistered, not a"):
        unpack(env, user_events_pb2.UserProfileUpdated)


async def test_consumer_gets_events_in_publish_order_including_earlier_ones(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    await bus.publish([registered(1), registered(2)])  # before the group ever existed
    seen = Collector()
    consumer = await bus.start_consumer(group="order_svc", handler=seen)
    await bus.publish([registered(3)])
    await bus.publish([registered(4), registered(5)])
    await seen.wait_for(5)
    assert seen.users == [1, 2, 3, 4, 5]
    await consumer.stop()


async def test_publishing_the_same_event_again_delivers_it_once(make_bus: BusFactory) -> None:
    bus = make_bus()
    first, second = registered(1), registered(2)
    same_id_other_producer = envelope(
        user_events_pb2.UserRegistered(user_id=3), producer="other_svc"
    )
    same_id_other_producer.event_id = first.event_id
    await bus.publish([first])
    await bus.publish([first, second, same_id_other_producer])
    seen = Collector()
    await bus.start_consumer(group="dedupe_svc", handler=seen)
    await bus.publish([registered(4)])
    await seen.wait_for(4)
    assert seen.users == [1, 2, 3, 4]


async def test_publish_refuses_incomplete_envelopes(make_bus: BusFactory) -> None:
    bus = make_bus()
    for broken in (
        envelope_pb2.EventEnvelope(event_id=0, producer="p", payload=registered(1).payload),
        envelope_pb2.EventEnvelope(event_id=5, producer="", payload=registered(1).payload),
        envelope_pb2.EventEnvelope(event_id=5, producer="p"),
    ):
        with pytest.raises(ValueError, match="needs a positive event_id"):
            await bus.publish([registered(1), broken])
    # Nothing of a refused batch was published.
    seen = Collector()
    await bus.start_consumer(group="refused_svc", handler=seen)
    await bus.publish([registered(2)])
    await seen.wait_for(2)
    assert seen.users == [2]


async def test_start_consumer_checks_group_and_event_types(make_bus: BusFactory) -> None:
    bus = make_bus()
    handler = Collector()
    for group in ("", "has space", "x" * 101, "a{b}"):
        with pytest.raises(ValueError, match="group must be"):
            await bus.start_consumer(group=group, handler=handler)
    with pytest.raises(ValueError, match="must not be empty"):
        await bus.start_consumer(group="g", handler=handler, event_types=[])
    with pytest.raises(ValueError, match="not one name"):
        await bus.start_consumer(group="g", handler=handler, event_types=REGISTERED)
    longest = await bus.start_consumer(group="x" * 100, handler=handler)
    await longest.stop()


async def test_event_types_filter_skips_and_acknowledges_other_types(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    seen = Collector()
    consumer = await bus.start_consumer(group="filter_svc", handler=seen, event_types={UPDATED})
    await bus.publish([registered(1), updated(2), registered(3), updated(4), registered(5)])
    await seen.wait_for(4)
    await consumer.stop()
    assert [event_type(e) for e in seen.seen] == [UPDATED, UPDATED]
    assert seen.users == [2, 4]
    # The skipped events were acknowledged: the group, now taking every type, does not get them.
    everything = Collector()
    await bus.start_consumer(group="filter_svc", handler=everything)
    await bus.publish([registered(6)])
    await everything.wait_for(6)
    assert everything.users[-1] == 6
    assert not {1, 3} & set(everything.users)


async def test_every_group_gets_every_event(make_bus: BusFactory) -> None:
    bus = make_bus()
    graph, feed = Collector(), Collector()
    await bus.start_consumer(group="graph_svc", handler=graph)
    await bus.start_consumer(group="graph_svc.privacy", handler=feed)
    await bus.publish([registered(i) for i in range(1, 6)])
    await graph.wait_for(5)
    await feed.wait_for(5)
    late = Collector()  # a group that starts later still gets the earlier events
    await bus.start_consumer(group="late_svc", handler=late)
    await late.wait_for(5)
    assert graph.users == feed.users == late.users == [1, 2, 3, 4, 5]


async def test_consumers_of_one_group_share_its_events(make_bus: BusFactory) -> None:
    # Two buses on one log stand for two processes running the same service.
    first_bus, second_bus = make_bus(), make_bus()
    first, second = Collector(), Collector()
    await first_bus.start_consumer(group="shared_svc", handler=first)
    await second_bus.start_consumer(group="shared_svc", handler=second)
    await first_bus.publish([registered(i) for i in range(1, 11)])
    await eventually(lambda: len(first.seen) + len(second.seen) >= 10)
    await second_bus.publish([registered(11)])
    await eventually(lambda: 11 in first.users + second.users)
    assert sorted(first.users + second.users) == list(range(1, 12))


async def test_failed_handler_is_retried_until_it_succeeds(make_bus: BusFactory) -> None:
    bus = make_bus()
    calls: list[int] = []

    async def flaky(env: envelope_pb2.EventEnvelope) -> None:
        calls.append(user_of(env))
        if calls.count(1) < MAX_ATTEMPTS:  # fails every attempt but the last allowed one
            raise ConnectionError("peer unavailable")

    await bus.start_consumer(group="flaky_svc", handler=flaky)
    await bus.publish([registered(1), registered(2)])
    await eventually(lambda: 2 in calls)
    assert calls == [1] * MAX_ATTEMPTS + [2]
    assert await bus.dead_letters("flaky_svc") == []


async def test_handler_runs_with_the_event_as_its_request_id(make_bus: BusFactory) -> None:
    bus = make_bus()
    request_ids: list[str] = []

    async def handler(env: envelope_pb2.EventEnvelope) -> None:
        request_ids.append(f"{context.request_id.get()}|{env.event_id}")

    event = registered(1)
    await bus.start_consumer(group="traced_svc", handler=handler)
    await bus.publish([event])
    await eventually(lambda: len(request_ids) == 1)
    assert request_ids == [f"event-{event.event_id}|{event.event_id}"]
    assert context.request_id.get() == ""


async def test_a_cancellation_inside_the_handler_counts_as_a_failure(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    calls: list[int] = []

    async def handler(env: envelope_pb2.EventEnvelope) -> None:
        calls.append(user_of(env))
        if len(calls) == 1:
            raise asyncio.CancelledError()  # as a cancelled call inside the handler would

    await bus.start_consumer(group="cancelled_svc", handler=handler)
    await bus.publish([registered(1), registered(2)])
    await eventually(lambda: 2 in calls)
    assert calls == [1, 1, 2]


async def test_event_goes_to_dead_letters_after_max_attempts_and_group_moves_on(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    calls: list[int] = []

    async def poisoned(env: envelope_pb2.EventEnvelope) -> None:
        calls.append(user_of(env))
        if user_of(env) == 1:
            raise ValueError(f"boom {len(calls)}")

    poison = registered(1)
    await bus.start_consumer(group="poisoned_svc", handler=poisoned)
    await bus.publish([poison, registered(2)])
    await eventually(lambda: 2 in calls)
    assert calls == [1] * MAX_ATTEMPTS + [2]
    letters = await bus.dead_letters("poisoned_svc")
    assert len(letters) == 1
    letter = letters[0]
    assert letter.group == "poisoned_svc"
    assert letter.envelope == poison
    assert letter.event_type == REGISTERED
    assert letter.attempts == MAX_ATTEMPTS
    assert letter.error == f"ValueError: boom {MAX_ATTEMPTS}"
    assert await bus.dead_letters("poisoned_svc", limit=0) == []
    assert await bus.dead_letters("other_svc") == []


async def test_dead_letters_are_replayed_to_their_group_alone_or_dropped(
    make_bus: BusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A dead letter is a queue entry: once the cause is gone (a peer back up), replaying it hands
    it to its group again, and no other group sees it twice; dropping forgets it."""
    bus = make_bus()
    peer_down = True
    calls: list[int] = []

    async def needs_peer(env: envelope_pb2.EventEnvelope) -> None:
        calls.append(user_of(env))
        if peer_down and user_of(env) in (1, 2):
            raise ConnectionError("graph_svc is unavailable")

    other = Collector()
    await bus.start_consumer(group="other_svc", handler=other)
    await bus.start_consumer(group="needy_svc", handler=needs_peer)
    dead = metrics.BUS_DEAD_LETTERS.labels("needy_svc", REGISTERED)
    dead_before = dead._value.get()
    first, second = registered(1), registered(2)
    await bus.publish([first, second, registered(3)])
    await eventually(lambda: 3 in calls)
    await other.wait_for(3)
    letters = await bus.dead_letters("needy_svc")
    assert [letter.envelope for letter in letters] == [first, second]
    assert all(letter.letter_id for letter in letters)
    assert dead._value.get() == dead_before + 2
    assert f"event test_svc/{first.event_id} ({REGISTERED}) goes to the dead letters" in caplog.text
    assert "shutter bus dead-letters replay --group needy_svc" in caplog.text

    peer_down = False
    assert await bus.replay_dead_letters("needy_svc", letter_ids=[letters[0].letter_id]) == 1
    await eventually(lambda: calls.count(1) == MAX_ATTEMPTS + 1)
    assert [letter.envelope for letter in await bus.dead_letters("needy_svc")] == [second]
    assert await bus.drop_dead_letters("needy_svc", letter_ids=None) == 1
    assert await bus.dead_letters("needy_svc") == []
    assert await bus.replay_dead_letters("needy_svc", letter_ids=None) == 0
    await bus.publish([registered(4)])
    await other.wait_for(4)
    await eventually(lambda: 4 in calls)
    assert other.users == [1, 2, 3, 4]  # the replay went to needy_svc only
    assert calls.count(2) == MAX_ATTEMPTS  # dropped, never handed over again


async def test_one_attempt_means_no_retry(make_bus: BusFactory) -> None:
    bus = make_bus(bus_max_attempts=1)
    calls: list[int] = []

    async def failing(env: envelope_pb2.EventEnvelope) -> None:
        calls.append(user_of(env))
        if user_of(env) == 1:
            raise RuntimeError("no")

    await bus.start_consumer(group="once_svc", handler=failing)
    await bus.publish([registered(1), registered(2)])
    await eventually(lambda: 2 in calls)
    assert calls == [1, 2]
    letters = await bus.dead_letters("once_svc")
    assert [(user_of(x.envelope), x.attempts) for x in letters] == [(1, 1)]


async def test_event_in_flight_when_consumer_stops_is_delivered_again(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    blocker = Blocker()
    event = registered(1)
    consumer = await bus.start_consumer(group="restart_svc", handler=blocker)
    await bus.publish([event, registered(2)])
    await eventually(lambda: blocker.calls == [event.event_id])
    await consumer.stop()
    # The new consumer sees the same event_id again: consumers must dedupe on it.
    seen = Collector()
    await bus.start_consumer(group="restart_svc", handler=seen)
    await seen.wait_for(2)
    assert [e.event_id for e in seen.seen][:1] == [event.event_id]
    assert seen.users == [1, 2]


async def test_event_that_outlived_every_attempt_in_stopped_consumers_goes_to_dead_letters(
    make_bus: BusFactory,
) -> None:
    bus = make_bus(bus_max_attempts=1)
    blocker = Blocker()
    event = registered(1)
    consumer = await bus.start_consumer(group="hang_svc", handler=blocker)
    await bus.publish([event, registered(2)])
    await eventually(lambda: blocker.calls == [event.event_id])
    await consumer.stop()
    seen = Collector()
    await bus.start_consumer(group="hang_svc", handler=seen)
    await seen.wait_for(2)
    assert seen.users == [2]  # the event that hung its only attempt is not tried again
    letters = await bus.dead_letters("hang_svc")
    assert [letter.envelope.event_id for letter in letters] == [event.event_id]
    assert "stopped or died" in letters[0].error


# A consumer in its own process: it writes the id of the event it got, then hangs until killed.
_CONSUMER_PROCESS = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from mesh.bus import create_bus
    from mesh.config import MeshSettings

    async def main() -> None:
        marker = Path(sys.argv[1])
        bus = create_bus(MeshSettings())

        async def handler(envelope) -> None:
            marker.write_text(str(envelope.event_id))
            await asyncio.Event().wait()

        await bus.start_consumer(group="crash_svc", handler=handler)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_event_of_a_killed_consumer_process_is_delivered_again(
    make_bus: BusFactory, tmp_path: Path
) -> None:
    bus = make_bus()
    settings = make_bus.settings()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHUTTER_")},
        "SHUTTER_DATA_DIR": str(settings.data_dir),
        "SHUTTER_BUS_STREAM_PREFIX": settings.bus_stream_prefix,
        "SHUTTER_BUS_IDLE_TIMEOUT_SECONDS": str(IDLE),
        "SHUTTER_BUS_POLL_INTERVAL_SECONDS": "0.02",
    }
    if settings.redis_url:
        env["SHUTTER_REDIS_URL"] = settings.redis_url
    event = registered(1)
    await bus.publish([event])
    marker = tmp_path / "got"
    process = subprocess.Popen(
        [sys.executable, "-c", _CONSUMER_PROCESS, str(marker)],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        # The file exists a moment before its text is written: wait for the text.
        await eventually(lambda: marker.exists() and marker.read_text() != "", timeout=30)
        assert marker.read_text() == str(event.event_id)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    seen = Collector()
    await bus.start_consumer(group="crash_svc", handler=seen)
    await seen.wait_for(1)
    assert [e.event_id for e in seen.seen] == [event.event_id]


async def test_embedded_bus_keeps_exactly_its_newest_events(data_dir: Path) -> None:
    bus = create_bus(fast_settings(data_dir, bus_max_length=3))
    assert isinstance(bus, EmbeddedBus)
    assert bus.path == (data_dir / "bus.db").resolve()
    await bus.publish([registered(i) for i in range(1, 6)])
    seen = Collector()
    await bus.start_consumer(group="trimmed_svc", handler=seen)
    await seen.wait_for(5)
    assert seen.users == [3, 4, 5]
    await bus.close()


@pytest.fixture
async def redis_buses(redis_url: str, data_dir: Path) -> AsyncIterator[BusFactory]:
    """Return a maker of Redis Streams buses only, for what only Redis has."""
    factory = BusFactory(data_dir, redis_url)
    yield factory
    for bus in factory.made:
        await bus.close()
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{{{factory.prefix}}}:*"))
    if keys:
        client.delete(*keys)
    client.close()


async def test_redis_stream_is_trimmed_near_its_maximum_length(redis_buses: BusFactory) -> None:
    bus = redis_buses(bus_max_length=100)
    assert isinstance(bus, RedisStreamBus)
    for start in range(0, 600, 150):
        await bus.publish([registered(i) for i in range(start, start + 150)])
    length = await bus.redis.xlen(bus.stream_of(REGISTERED))
    # MAXLEN ~ trims whole stream nodes (100 entries each), so never below the maximum.
    assert 100 <= length < 300


async def test_redis_consumer_forgets_its_name_when_stopped_with_nothing_pending(
    redis_buses: BusFactory,
) -> None:
    bus = redis_buses()
    assert isinstance(bus, RedisStreamBus)
    seen = Collector()
    users = bus.stream_of(REGISTERED)
    consumer = await bus.start_consumer(group="names_svc", handler=seen)
    await bus.publish([registered(1)])
    await seen.wait_for(1)  # Redis records a consumer once it has been given an entry
    assert len(await bus.redis.xinfo_consumers(users, "names_svc")) == 1
    for _ in range(500):  # the acknowledgement follows the handler
        if not await bus.redis.xpending_range(users, "names_svc", "-", "+", 1):
            break
        await asyncio.sleep(0.01)
    await consumer.stop()
    assert await bus.redis.xinfo_consumers(users, "names_svc") == []


async def test_redis_consumer_keeps_its_name_while_it_owns_pending_events(
    redis_buses: BusFactory,
) -> None:
    bus = redis_buses()
    assert isinstance(bus, RedisStreamBus)
    blocker = Blocker()
    users = bus.stream_of(REGISTERED)
    consumer = await bus.start_consumer(group="owner_svc", handler=blocker)
    await bus.publish([registered(1)])
    await eventually(lambda: len(blocker.calls) == 1)
    await consumer.stop()
    # Deleting the name would drop its pending event instead of handing it over.
    assert len(await bus.redis.xinfo_consumers(users, "owner_svc")) == 1


async def test_a_consumer_waiting_on_a_stream_that_is_deleted_goes_on_quietly(
    redis_buses: BusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bus = redis_buses()
    assert isinstance(bus, RedisStreamBus)
    seen = Collector()
    await bus.start_consumer(group="flushed_svc", handler=seen)
    await bus.publish([registered(1)])
    await seen.wait_for(1)
    await asyncio.sleep(0.2)  # the consumer is blocked in XREADGROUP again
    with caplog.at_level(logging.WARNING, logger="shutter.bus"):
        # What FLUSHDB does to it: UNBLOCKED for the reader.
        await bus.redis.delete(bus.stream_of(REGISTERED))
        await asyncio.sleep(0.2)
        await bus.publish([registered(2)])
        await seen.wait_for(2)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("creating it again" in r.getMessage() for r in caplog.records)


async def test_redis_groups_read_only_the_topics_of_the_types_they_asked_for(
    redis_buses: BusFactory,
) -> None:
    bus = redis_buses()
    assert isinstance(bus, RedisStreamBus)
    users, everything = Collector(), Collector()
    await bus.start_consumer(group="users_svc", handler=users, event_types={REGISTERED})
    await bus.start_consumer(group="all_svc", handler=everything)
    follow = envelope(graph_events_pb2.Followed(follower_id=7, followee_id=8))
    await bus.publish([registered(1), follow, registered(2)])
    await users.wait_for(2)
    await eventually(lambda: len(everything.seen) == 3)
    assert users.users == [1, 2]
    # In order within a topic; the follow went to the graph topic's stream.
    assert [e.event_id for e in everything.seen if event_type(e) == REGISTERED] == [
        e.event_id for e in users.seen
    ]
    graph = bus.stream_of(FOLLOWED)
    assert graph != bus.stream_of(REGISTERED) and await bus.redis.xlen(graph) == 1
    # users_svc never read the graph stream: no group there, nothing to wake it.
    groups = {g["name"].decode() for g in await bus.redis.xinfo_groups(graph)}
    assert groups == {"all_svc"}
    assert await bus.backlog("users_svc") == 0 and await bus.backlog("all_svc") == 0


async def test_redis_events_left_in_the_main_stream_are_still_delivered(
    redis_buses: BusFactory,
) -> None:
    """Events published before the topics had streams of their own stay in the main stream:
    a consumer still gets them."""
    bus = redis_buses()
    assert isinstance(bus, RedisStreamBus)
    old = registered(5)
    await bus.redis.xadd(
        bus.stream,
        {
            "type": REGISTERED,
            "producer": old.producer,
            "event_id": old.event_id,
            "envelope": old.SerializeToString(),
        },
    )
    seen = Collector()
    await bus.start_consumer(group="late_svc", handler=seen, event_types={REGISTERED})
    await bus.publish([registered(6)])
    await seen.wait_for(5)
    await seen.wait_for(6)


async def test_redis_bus_needs_a_client_that_returns_bytes(
    redis_url: str, mesh_settings: MeshSettings
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="returns bytes"):
        RedisStreamBus(client, mesh_settings)
    await client.aclose()


async def test_embedded_redis_is_one_server_per_process(mesh_settings: MeshSettings) -> None:
    embedded = mesh_settings.model_copy(update={"redis_url": None})
    first, second = create_redis(embedded), create_redis(embedded)
    assert isinstance(first, fakeredis.FakeAsyncRedis)
    key = f"test:{uuid.uuid4().hex}"
    await first.set(key, b"shared")
    assert await second.get(key) == b"shared"
    await first.delete(key)
    await first.aclose()
    await second.aclose()


async def test_create_redis_uses_the_configured_server(
    redis_url: str, mesh_settings: MeshSettings
) -> None:
    client = create_redis(
        mesh_settings.model_copy(update={"redis_url": redis_url}), decode_responses=True
    )
    key = f"test:{uuid.uuid4().hex}"
    await client.set(key, "real", ex=60)
    direct = redis.Redis.from_url(redis_url)
    assert direct.get(key) == b"real"
    direct.delete(key)
    direct.close()
    await client.aclose()


async def test_backlog_gauge_shows_what_a_group_has_not_finished(make_bus: BusFactory) -> None:
    from prometheus_client import REGISTRY

    bus = make_bus()
    group = f"backlog-{uuid.uuid4().hex[:8]}"

    def backlog() -> float:
        value = REGISTRY.get_sample_value("shutter_bus_backlog_events", {"group": group})
        return -1.0 if value is None else value

    await bus.publish([registered(i) for i in range(1, 6)])
    blocker = Blocker()
    consumer = await bus.start_consumer(group=group, handler=blocker)
    # The first event hangs in its handler: all five are still to finish.
    await eventually(lambda: backlog() == 5)
    await consumer.stop()
    collector = Collector()
    consumer = await bus.start_consumer(group=group, handler=collector)
    await collector.wait_for(5)
    await eventually(lambda: backlog() == 0)
    await consumer.stop()


async def test_backlog_counts_unfinished_events_of_a_group_from_any_bus_object(
    make_bus: BusFactory,
) -> None:
    # A second bus object on the same storage (another process, such as a benchmark waiting for
    # consumers to catch up) sees the group's backlog without consuming.
    bus, observer = make_bus(), make_bus()
    group = f"backlog-{uuid.uuid4().hex[:8]}"
    assert await observer.backlog(group) == 0  # never started
    await bus.publish([registered(i) for i in range(1, 4)])
    blocker = Blocker()
    consumer = await bus.start_consumer(group=group, handler=blocker)
    await eventually_async(lambda: observer.backlog(group), 3)
    await consumer.stop()
    collector = Collector()
    consumer = await bus.start_consumer(group=group, handler=collector)
    await collector.wait_for(3)
    await eventually_async(lambda: observer.backlog(group), 0)
    await bus.publish([registered(4)])
    await collector.wait_for(4)
    await eventually_async(lambda: observer.backlog(group), 0)
    await consumer.stop()


async def eventually_async(read: Callable[[], Awaitable[int]], want: int) -> None:
    """Wait until an async reading equals `want` (within 10 s)."""
    last = None
    for _ in range(500):
        last = await read()
        if last == want:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"wanted {want}, last saw {last}")


# Batch handlers: a batch in one call and one acknowledgement, a poison event dead-lettered
# alone, a batch cut short handed out again event by event.


class BatchCollector:
    """A batch handler that records each batch it is given (as user ids)."""

    def __init__(self, poison: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.poison = poison

    async def __call__(self, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        users = [user_of(e) for e in envelopes]
        self.batches.append(users)
        if self.poison in users:
            raise ValueError("a poison event in the batch")


async def drained(bus: EventBus, group: str) -> None:
    for _ in range(500):
        if await bus.backlog(group) == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{group} did not finish its events in time")


async def test_events_read_together_go_to_the_batch_handler_once_in_order(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    await bus.publish([registered(u) for u in range(1, 6)])  # there before the consumer starts
    singles, batches = Collector(), BatchCollector()
    consumer = await bus.start_consumer(group="batch_svc", handler=singles, batch_handler=batches)
    await eventually(lambda: [u for b in batches.batches for u in b] == [1, 2, 3, 4, 5])
    await drained(bus, "batch_svc")
    assert batches.batches == [[1, 2, 3, 4, 5]]
    await bus.publish([registered(6)])  # alone: nothing to batch, the handler takes it
    await singles.wait_for(6)
    await consumer.stop()
    # Acknowledged: a new consumer of the group gets nothing again.
    again = Collector()
    await bus.start_consumer(group="batch_svc", handler=again, batch_handler=BatchCollector())
    await bus.publish([registered(7)])
    await again.wait_for(7)
    assert again.users == [7]
    assert singles.users == [6]


async def test_a_poison_event_in_a_batch_is_dead_lettered_alone(make_bus: BusFactory) -> None:
    bus = make_bus()
    poison = registered(3)
    await bus.publish([registered(1), registered(2), poison, registered(4)])
    calls: list[int] = []

    async def handle(env: envelope_pb2.EventEnvelope) -> None:
        calls.append(user_of(env))
        if user_of(env) == 3:
            raise ValueError("poison")

    batches = BatchCollector(poison=3)
    await bus.start_consumer(group="poison_batch_svc", handler=handle, batch_handler=batches)
    await eventually(lambda: 4 in calls)
    await drained(bus, "poison_batch_svc")
    assert batches.batches == [[1, 2, 3, 4]]
    # After the batch failed, each event on its own and in order: the poison one
    # MAX_ATTEMPTS times, the others once each.
    assert calls == [1, 2] + [3] * MAX_ATTEMPTS + [4]
    letters = await bus.dead_letters("poison_batch_svc")
    assert [letter.envelope for letter in letters] == [poison]
    assert letters[0].attempts == MAX_ATTEMPTS


async def test_a_batch_cut_short_is_delivered_again_event_by_event(make_bus: BusFactory) -> None:
    bus = make_bus()
    started = asyncio.Event()
    never = asyncio.Event()

    async def hangs(_envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        started.set()
        await never.wait()  # like a process that died in the middle of the batch

    await bus.publish([registered(u) for u in (1, 2, 3)])
    first = await bus.start_consumer(group="cut_svc", handler=Collector(), batch_handler=hangs)
    await asyncio.wait_for(started.wait(), 10)
    await first.stop()
    # The batch's first attempt counted: the next consumer hands each event to the (idempotent)
    # handler on its own, in order, rather than retrying the batch as a whole.
    seen, batches = Collector(), BatchCollector()
    await bus.start_consumer(group="cut_svc", handler=seen, batch_handler=batches)
    await eventually(lambda: seen.users == [1, 2, 3], timeout=10)
    assert batches.batches == []
