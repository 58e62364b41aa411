"""feed_svc's follow consumption, one event at a time against batches, with a profile of each.

Publishes `--events` Followed events (1 000 accounts following each other, none of their feeds
built: what a bulk seed hands feed_svc) on a Redis bus of their own (a fresh stream prefix in the
given database), then drains them through feed_svc's own handlers in this process: first the
one-by-one handler alone, then with the batch handler (mesh.bus). Prints wall time, CPU per
event and the top of a cProfile of each drain. Needs a Redis (nothing else: the projection is a
temporary SQLite file, untouched by follows of unbuilt feeds). The database is flushed at the
end, so give it one of its own:

    .venv/bin/python -m bench.consume --redis-url redis://127.0.0.1:6379/12 --events 5000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from feed_svc import domain, events, store
from feed_svc.cache import FeedCache
from feed_svc.settings import FeedSettings
from mesh import db
from mesh.bus import create_bus
from mesh.config import MeshSettings
from mesh.ids import IdGenerator
from mesh.redis import create_redis
from mesh.services import migrations_dir
from shutter.events.v1 import envelope_pb2, graph_events_pb2

ACCOUNTS = 1000


class _Unused:
    """graph_svc and post_svc: a follow of an unbuilt feed asks neither."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the follow path called {name}")


async def drain(redis_url: str, count: int, *, batches: bool) -> dict[str, Any]:
    """Publish `count` follows and time their drain; return the figures and the profile."""
    work = Path(tempfile.mkdtemp(prefix="shutter-consume-"))
    settings = FeedSettings(data_dir=work)
    engine = db.create_engine("feed_svc", settings, None)
    await db.migrate(engine, "feed_svc", migrations_dir("feed_svc"))
    redis = create_redis(MeshSettings(redis_url=redis_url))
    cache = FeedCache(redis, max_length=500, recent_length=20)
    feeds = domain.Feeds(cache, store.SqlFeedStore(engine), _Unused(), _Unused(), settings)
    bus = create_bus(
        MeshSettings(
            data_dir=work, redis_url=redis_url, bus_stream_prefix=f"consume-{uuid.uuid4().hex}"
        )
    )
    ids = IdGenerator(shard=9)
    users = [ids.next_id() for _ in range(ACCOUNTS)]
    envelopes = []
    for index in range(count):
        envelope = envelope_pb2.EventEnvelope(event_id=ids.next_id(), producer="graph_svc")
        follower, followee = users[index % ACCOUNTS], users[(index * 7 + 1) % ACCOUNTS]
        envelope.payload.Pack(graph_events_pb2.Followed(follower_id=follower, followee_id=followee))
        envelopes.append(envelope)
    await bus.publish(envelopes)
    profile = cProfile.Profile()
    wall, cpu = time.perf_counter(), time.process_time()
    profile.enable()
    await bus.start_consumer(
        group=events.GROUP,
        handler=events.feed_handler(feeds),
        batch_handler=events.feed_batch_handler(feeds) if batches else None,
        event_types=events.CONSUMED,
    )
    while await bus.backlog(events.GROUP):
        await asyncio.sleep(0.05)
    profile.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await bus.close()
    await redis.flushdb()
    await redis.aclose()
    await engine.dispose()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(10)
    return {
        "mode": "batches" if batches else "one by one",
        "events": count,
        "wall_s": round(wall, 2),
        "cpu_ms_per_event": round(1000 * cpu / count, 3),
        "events_per_s": round(count / wall),
        "profile": text.getvalue(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True, help="a Redis database of its own")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--profile", action="store_true", help="print each drain's profile")
    options = parser.parse_args()
    for batches in (False, True):
        found = asyncio.run(drain(options.redis_url, options.events, batches=batches))
        print(  # noqa: T201 - a command-line report
            f"{found['mode']}: {found['events']} follows in {found['wall_s']} s, "
            f"{found['events_per_s']}/s, {found['cpu_ms_per_event']} ms CPU each"
        )
        if options.profile:
            print(found["profile"])  # noqa: T201


if __name__ == "__main__":
    main()
