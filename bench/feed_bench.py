"""Home feed benchmark: fan-out on write per follower count, and warm home-feed reads over gRPC next
to an empty RPC and to pure fan-out-on-read (SQL over the follow list).

    .venv/bin/python -m bench.feed_bench [--redis-url redis://127.0.0.1:6379/13] [--big]

feed_svc's real code runs against a real Redis (the URL given; `--redis-url embedded` uses the
in-process fakeredis) and its SQLite projection in a temporary directory. graph_svc and post_svc
are replaced by in-process fakes (a follower list in memory, hydration that builds Post messages
from a dict), so the figures are feed_svc's own cost: Redis, SQL and its gRPC face, not its peers'.

- fan-out: Feeds.post_created for an author with N followers, every one active with a built feed
  (the worst case: nobody skipped), one fan-out script call per fanout_batch_size (1000)
  followers. p50/p99 of runs.
- read: GetHomeFeed (chronological, 20 posts, warm) over gRPC for a user following 500 accounts,
  20 of them celebrities merged at read time; grpc.health Check on the same server as baseline;
  and the same page made by fan-out on read: the follow list, then one SQL query for the newest
  posts of the 500 authors, then the same hydration. Read throughput with 8 concurrent callers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fakeredis
import grpc
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from feed_svc import cache as keys
from feed_svc import domain, store
from feed_svc.cache import FeedCache
from feed_svc.servicer import FeedServicer, add_to_server
from feed_svc.settings import FeedSettings
from feed_svc.stories import StoryTray
from mesh import auth, db
from mesh.ids import IdGenerator
from mesh.server import create_server
from mesh.services import migrations_dir
from shutter.feed.v1 import feed_pb2, feed_service_pb2, feed_service_pb2_grpc
from shutter.post.v1 import post_pb2
from shutter.user.v1 import user_pb2

ids = IdGenerator(shard=9)


class BenchGraph:
    """A follow graph in memory."""

    def __init__(self) -> None:
        self.followers: dict[int, list[int]] = {}
        self.following: dict[int, list[int]] = {}

    async def following_ids(self, user_id: int, *, exclude_muted: bool) -> list[int]:
        return self.following.get(user_id, [])

    async def follower_batches(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> AsyncIterator[list[int]]:
        found = self.followers.get(user_id, [])
        for start in range(0, len(found), batch_size):
            yield found[start : start + batch_size]

    async def follower_counts(self, user_ids: Sequence[int]) -> dict[int, int]:
        return {u: len(self.followers.get(u, [])) for u in user_ids}

    async def counted_followers(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> domain.CountedFollowers:
        batches = self.follower_batches(user_id, batch_size=batch_size, exclude_muted=exclude_muted)
        return domain.CountedFollowers(len(self.followers.get(user_id, [])), batches)

    async def relations(self, viewer_id: int, user_ids: Sequence[int]) -> dict[int, Any]:
        return {}


class BenchPosts:
    """Hydration from a dict of post id -> author."""

    def __init__(self) -> None:
        self.authors: dict[int, int] = {}

    async def batch_get(self, viewer_id: int, post_ids: Sequence[int]) -> list[post_pb2.Post]:
        return [
            post_pb2.Post(
                post_id=p,
                caption="a caption of ordinary length #bench",
                user=user_pb2.UserSummary(user_id=self.authors[p], username=f"u{self.authors[p]}"),
                like_count=3,
            )
            for p in post_ids
            if p in self.authors
        ]

    async def story_rings(
        self, viewer_id: int, author_ids: Sequence[int]
    ) -> list[post_pb2.StoryRing]:
        return []  # the benchmark measures the home feed, not the story tray

    async def viewer_flags(
        self, viewer_id: int, post_ids: Sequence[int]
    ) -> tuple[set[int], set[int], set[int]]:
        return set(), set(), set()  # no likes, saves or reports in the benchmark

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        return {u: user_pb2.UserSummary(user_id=u, username=f"u{u}") for u in user_ids}


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def row(name: str, samples_ms: list[float], extra: str = "") -> str:
    return (
        f"| {name} | {statistics.median(samples_ms):.2f} | {pct(samples_ms, 0.99):.2f} | "
        f"{len(samples_ms)} | {extra} |"
    )


async def timed(call: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def throughput(call: Callable[[], Awaitable[Any]], seconds: float, workers: int) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call()
            done += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done / seconds


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--big", action="store_true", help="also fan out to 100 000 followers")
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="feedbench"))
    settings = FeedSettings(
        data_dir=tmp,
        feed_svc_addr="127.0.0.1:0",
        celebrity_follower_threshold=1_000_000,  # the sizes measured are all fanned out
        log_level="WARNING",
    )
    engine = db.create_engine("feed_svc", settings, None)
    await db.migrate(engine, "feed_svc", migrations_dir("feed_svc"))
    if args.redis_url == "embedded":
        redis: Any = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    else:
        redis = aioredis.Redis.from_url(args.redis_url)
    await redis.flushdb()
    cache = FeedCache(redis, max_length=800, recent_length=50)
    graph, posts = BenchGraph(), BenchPosts()
    sql = store.SqlFeedStore(engine)
    feeds = domain.Feeds(cache, sql, graph, posts, settings)
    print(f"redis: {args.redis_url}")  # noqa: T201

    # Fan-out on write.
    print("\n| fan-out | p50 ms | p99 ms | runs | per follower |")  # noqa: T201
    print("|---|---:|---:|---:|---:|")  # noqa: T201
    sizes = [(1_000, 15), (10_000, 7)] + ([(100_000, 3)] if args.big else [])
    for size, runs in sizes:
        author = ids.next_id()
        followers = [ids.next_id() for _ in range(size)]
        graph.followers[author] = followers
        for start in range(0, size, 1000):
            async with redis.pipeline(transaction=False) as pipe:
                for f in followers[start : start + 1000]:
                    pipe.set(keys.seen_key(f), b"1", ex=3600)
                    pipe.zadd(keys.feed_key(f), {"~": 0})
                await pipe.execute()

        async def fan_out(author: int = author) -> None:
            post_id = ids.next_id()
            posts.authors[post_id] = author
            await feeds.post_created(
                post_id=post_id,
                author_id=author,
                created_at=datetime.now(UTC),
                author_is_private=False,
            )

        samples = await timed(fan_out, runs)
        per = statistics.median(samples) / size * 1000
        print(row(f"{size:,} followers", samples, f"{per:.1f} µs"))  # noqa: T201

    # Reads: a viewer following 500 accounts, 20 of them celebrities, 20 posts each.
    viewer = ids.next_id()
    authors = [ids.next_id() for _ in range(500)]
    celebs = authors[:20]
    graph.following[viewer] = authors
    async with sql.transaction() as tx:
        for c in celebs:
            await sql.mark_celebrity(tx, author_id=c)
        for _ in range(20):
            for a in authors:
                post_id = ids.next_id()
                posts.authors[post_id] = a
                await sql.add_post(
                    tx,
                    post_id=post_id,
                    author_id=a,
                    created_at=datetime.now(UTC),
                    author_is_private=False,
                )
    await feeds.ensure_built(viewer)

    service = await create_server(
        "feed_svc",
        settings,
        register=lambda server: add_to_server(
            FeedServicer(feeds, StoryTray(graph, posts, posts)), server
        ),
        service_names=[feed_service_pb2.DESCRIPTOR.services_by_name["FeedService"].full_name],
    )
    token = auth.TokenIssuer(settings).user_token(viewer)
    md = (("authorization", f"Bearer {token}"),)
    channel = grpc.aio.insecure_channel(service.address)
    stub = feed_service_pb2_grpc.FeedServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    request = feed_service_pb2.GetHomeFeedRequest(
        page_size=20, mode=feed_pb2.FEED_MODE_CHRONOLOGICAL
    )

    async def grpc_read() -> None:
        answer = await stub.GetHomeFeed(request, metadata=md)
        assert len(answer.posts) == 20

    async def check() -> None:
        await health.Check(health_pb2.HealthCheckRequest(service=""))

    async def push_read() -> None:
        page, _ = await feeds.home_feed(
            viewer=viewer, page_size=20, page_token="", mode="chronological"
        )
        assert len(page) == 20

    async def pull_read() -> None:
        following = await graph.following_ids(viewer, exclude_muted=True)
        async with sql.transaction() as tx:
            newest = await sql.recent_posts(tx, author_ids=[viewer, *following], limit=21)
        page = await posts.batch_get(viewer, [p.post_id for p in newest[:20]])
        assert len(page) == 20

    for warm in (grpc_read, check, push_read, pull_read):
        await timed(warm, 50)
    print("\n| read (20 posts) | p50 ms | p99 ms | calls | throughput, 8 callers |")  # noqa: T201
    print("|---|---:|---:|---:|---:|")  # noqa: T201
    for name, call in (
        ("grpc.health Check (empty RPC)", check),
        ("GetHomeFeed over gRPC, warm (push + 20 celebrities pulled)", grpc_read),
        ("the same read in process (no gRPC)", push_read),
        ("fan-out on read in process (SQL over 500 follows)", pull_read),
    ):
        samples = await timed(call, args.reads)
        rate = await throughput(call, 3.0, 8)
        print(row(name, samples, f"{rate:,.0f}/s"))  # noqa: T201

    await channel.close()
    await service.stop(0)
    await redis.flushdb()
    await redis.aclose()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
