"""Dead letters outlive Redis (issue 16): on the Redis bus a consumer's dead letters are kept in
its service's own database, so Redis restarted empty loses none; `shutter bus dead-letters
list|replay|drop` work on them, and a replayed letter reaches its group (only it) again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feed_svc.settings import FeedSettings
from mesh import db
from mesh.bus import RedisStreamBus, create_bus
from mesh.cli import app
from mesh.deadletters import DeadLetterArchive
from mesh.services import migrations_dir
from shutter.events.v1 import envelope_pb2
from tests.mesh.test_bus import Collector, eventually, fast_settings, registered
from tests.redis_server import PrivateRedis

GROUP = "feed_svc"


class FailsUntilFixed:
    """A handler that fails (a peer down) until `fixed`, then records what it is given."""

    def __init__(self) -> None:
        self.fixed = False
        self.seen: list[envelope_pb2.EventEnvelope] = []

    async def __call__(self, env: envelope_pb2.EventEnvelope) -> None:
        if not self.fixed:
            raise RuntimeError("graph_svc is down")
        self.seen.append(env)


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, ["bus", "dead-letters", *args, "--group", GROUP])
    assert result.exit_code == 0, result.output
    return result.output


async def test_dead_letters_survive_redis_restarted_empty_and_replay_to_their_group(
    private_redis: PrivateRedis, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUTTER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SHUTTER_REDIS_URL", private_redis.url)
    settings = fast_settings(data_dir, redis_url=private_redis.url, bus_max_attempts=2)
    service = FeedSettings()  # feed_svc's database, as the CLI finds it
    engine = db.create_engine(GROUP, service, service.database_url)
    await db.migrate(engine, GROUP, migrations_dir(GROUP))
    archive = DeadLetterArchive(engine)
    handler, other = FailsUntilFixed(), Collector()
    bus = create_bus(settings)
    assert isinstance(bus, RedisStreamBus)
    try:
        await bus.start_consumer(group=GROUP, handler=handler, archive=archive)
        await bus.start_consumer(group="notify_svc", handler=other)
        events = [registered(7), registered(8)]
        await bus.publish(events)
        for _ in range(200):
            if len(await archive.letters(GROUP)) == 2:
                break
            await asyncio.sleep(0.05)
        kept = await archive.letters(GROUP)
        assert sorted(k.envelope.event_id for k in kept) == sorted(e.event_id for e in events)
        await eventually(lambda: len(other.seen) == 2)
        assert await bus.dead_letters(GROUP) == []  # nothing of them left in Redis only

        await bus.close()
        private_redis.restart_empty()
        bus = create_bus(settings)
        listed = await asyncio.to_thread(_cli, "list")
        letters = await archive.letters(GROUP)
        assert "dead letters of feed_svc: 2" in listed
        assert all(k.letter_id in listed for k in letters) and "graph_svc is down" in listed

        handler.fixed = True  # the cause is fixed; the consumer starts again on the empty Redis
        await bus.start_consumer(group=GROUP, handler=handler, archive=archive)
        await bus.start_consumer(group="notify_svc", handler=other)
        replayed = await asyncio.to_thread(_cli, "replay", "--id", letters[0].letter_id)
        assert "feed_svc: 1 dead letters handed to the group again" in replayed
        await eventually(lambda: len(handler.seen) == 1)
        assert handler.seen[0].event_id == letters[0].envelope.event_id
        dropped = await asyncio.to_thread(_cli, "drop", "--all")
        assert "feed_svc: 1 dead letters dropped" in dropped
        assert await archive.letters(GROUP) == []
        await asyncio.sleep(0.3)
        assert len(handler.seen) == 1 and len(other.seen) == 2  # only its group got it again
    finally:
        await bus.close()
        await engine.dispose()
