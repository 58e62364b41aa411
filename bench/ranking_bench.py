"""Ranked first pages after a new post: a full re-rank against a ranking derived from the latest.

    .venv/bin/python -m bench.ranking_bench [--redis-url redis://127.0.0.1:6391/13]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--reps 41]

feed_svc's real Feeds, read model and projection (SQLite in a temporary directory, or a fresh
PostgreSQL database made and dropped with --postgres) over a real Redis, which is flushed; graph_svc
and post_svc are the tests' in-process fakes. A reader follows 20 authors whose 520 posts (some
liked and commented, some by authors the reader engages with) fill a feed of which the newest 500
are the ranked candidates. Each repetition: one more post arrives (not timed), then one ranked
first page (20 posts) is read, timed in CPU (time.process_time, this process: Redis client,
SQLAlchemy, SQLite; not the Redis or PostgreSQL servers) and wall time, then the same page again
(`reused`: composed by the page script from the ranking just saved). The modes alternate in one
run: `before` ranks every candidate again with ranking_facts' statement as it was (built per call,
an IN list), `full` ranks every candidate again with this branch's statement (PostgreSQL: one
array parameter, `= ANY`; SQLite: built once, the IN list expanded per call), `derived` places the
new post in the latest ranking and drops the one that fell out of the candidates. Then
ranking_facts alone for the 500 candidates, each statement. Prints medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg

from feed_svc import store
from tests.feed_svc.conftest import World, feed_settings, make_world

AUTHORS = 20
POSTS = 520
CANDIDATES = 500
PAGE = 20


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """Return the CPU and wall milliseconds of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    await work()
    return (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000


async def seed(world: World) -> tuple[int, list[int]]:
    reader = world.user()
    authors = [world.user() for _ in range(AUTHORS)]
    for author in authors:
        await world.follow(reader, author)
    await world.read(reader)  # active, feed built: fan-out reaches it
    for n in range(POSTS):
        post_id = await world.post(authors[n % AUTHORS])
        if n % 7 == 0:
            await world.feeds.engaged(
                producer="post_svc",
                event_id=world.user(),
                post_id=post_id,
                author_id=authors[n % AUTHORS],
                actor_id=reader if n % 3 == 0 else world.user(),
                likes=1,
                comments=n % 2,
            )
    return reader, authors


async def run(redis_url: str, postgres: str | None, reps: int) -> None:
    name = f"shutter_bench_rank_{uuid.uuid4().hex[:8]}"
    base = postgres.rsplit("/", 1)[0] if postgres else ""
    overrides: dict[str, object] = {
        "feed_max_length": 800,
        "ranked_candidates": CANDIDATES,
        "ranking_reuse_seconds": 300,
        "snapshot_ttl_seconds": 600,
        "fanout_batch_size": 1000,
        "celebrity_follower_threshold": 1000,
    }
    if postgres:
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        overrides["database_url"] = f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            world, engine = await make_world(feed_settings(Path(tmp), **overrides), redis_url)
            try:
                await measure(world, reps, postgres is not None)
            finally:
                await world.redis.aclose()
                await engine.dispose()  # type: ignore[attr-defined]
    finally:
        if postgres:
            with psycopg.connect(postgres, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(world: World, reps: int, on_postgres: bool) -> None:
    feeds = world.feeds
    sql: Any = feeds._store
    reader, authors = await seed(world)
    derive, facts = feeds._derive, sql.ranking_facts

    async def never(*_: object) -> None:
        return None

    async def first_page() -> None:
        await feeds.home_feed(viewer=reader, page_size=PAGE, page_token="", mode="ranked")

    for _ in range(3):  # warm: the read model's posts and authors, the ranking
        await first_page()
    modes = ("before", "full", "derived", "reused")
    results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
    for n in range(reps * 3):
        mode = modes[n % 3]
        feeds._derive = derive if mode == "derived" else never  # type: ignore[method-assign,assignment]
        sql.ranking_facts = facts if mode != "before" else built_per_call
        await world.post(authors[n % AUTHORS])
        results[mode].append(await timed(first_page))
        # The same feed read again: the page script composes it from the saved ranking.
        results["reused"].append(await timed(first_page))
    feeds._derive, sql.ranking_facts = derive, facts  # type: ignore[method-assign]
    backend = "postgresql" if on_postgres else "sqlite"
    say(f"backend {backend}, {CANDIDATES} candidates, {reps} repetitions per mode, medians")
    for mode, runs in results.items():
        say(f"  first ranked page, {mode:8s} ({READS[mode]}): {medians(runs)}")
    say(f"  derived rankings: {feeds.derived_rankings}")
    ids = await world.cache.feed_ids(reader, before=None, count=CANDIDATES)
    statements: dict[str, Callable[[], Awaitable[object]]] = {
        "built per call, IN": lambda: in_read(sql, built_per_call, reader, ids),
        "this branch": lambda: in_read(sql, facts, reader, ids),
    }
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in statements}
    for n in range(reps * 2):
        name = list(statements)[n % 2]
        found[name].append(await timed(statements[name]))
    for name, runs in found.items():
        say(f"  ranking_facts alone, {len(ids)} ids, {name:18s}: {medians(runs)}")


READS = {
    "before": "full re-rank, per-call IN statement",
    "full": "full re-rank, this branch's statement",
    "derived": "derived from the latest ranking",
    "reused": "the same feed again, composed in Redis",
}


def medians(runs: list[tuple[float, float]]) -> str:
    cpu = statistics.median(c for c, _ in runs)
    wall = statistics.median(w for _, w in runs)
    return f"cpu {cpu:.2f} ms, wall {wall:.2f} ms"


async def built_per_call(
    session: Any, *, viewer_id: int, post_ids: Sequence[int]
) -> dict[int, store.RankingFacts]:
    """FeedStore.ranking_facts before this change: the statement built on every call, its ids an
    IN list of 500 at most (expanded and compiled per call on every backend)."""
    found: dict[int, store.RankingFacts] = {}
    for chunk in store._chunks(post_ids):
        rows = await session.execute(
            store._ranking_facts_query(viewer_id, store.posts.c.post_id.in_(chunk))
        )
        found.update(store._ranking_facts_answer(rows))
    return found


async def in_read(
    sql: Any, facts: Callable[..., Awaitable[object]], reader: int, ids: list[int]
) -> object:
    """Return the facts of these posts, read in a read transaction as a full ranking does."""
    async with sql.read_transaction() as tx:
        return await facts(tx, viewer_id=reader, post_ids=ids)


def say(line: str) -> None:
    print(line)  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6391/13")
    parser.add_argument("--postgres", default=None, help="an admin URL to make a database with")
    parser.add_argument("--reps", type=int, default=41)
    args = parser.parse_args()
    asyncio.run(run(args.redis_url, args.postgres, args.reps))


if __name__ == "__main__":
    main()
