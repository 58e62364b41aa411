"""The bulk loader's pure parts and its store writes, and the fan-out scenario's read comparison."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bench import bulk, scenarios
from graph_svc import store as graph_store
from graph_svc.settings import GraphSettings
from mesh.ids import IdGenerator
from tests.graph_svc.conftest import make_store as make_graph_store
from tests.graph_svc.conftest import outbox_events
from tests.user_svc.conftest import make_store as make_user_store
from user_svc.settings import UserSettings


def test_sizes_parse_within_their_limits() -> None:
    assert bulk.parse_sizes("1000, 10_000,100000") == [1000, 10_000, 100_000]
    assert bulk.parse_sizes("") == [] and bulk.parse_sizes("1") == [1]
    assert bulk.parse_sizes(str(bulk.SIZE_MAX)) == [bulk.SIZE_MAX]
    for bad in ("0", str(bulk.SIZE_MAX + 1), "-5", "1e4", "ten"):
        with pytest.raises(ValueError, match="--big-authors"):
            bulk.parse_sizes(bad)


def test_big_population_is_a_function_of_its_inputs_with_disjoint_followers() -> None:
    made = bulk.big_population([3, 5], prefix="s1_", seed=1)
    assert made == bulk.big_population([3, 5], prefix="s1_", seed=1)
    assert [a.username for a in made] == ["s1_b0", "s1_b1"]
    assert [len(a.followers) for a in made] == [3, 5]
    assert not set(made[0].followers) & set(made[1].followers)
    assert made[0].password != bulk.big_population([3], prefix="s1_", seed=2)[0].password
    # Usernames stay valid for user_svc (letters, digits, underscores, at most 30).
    longest = bulk.big_population([bulk.SIZE_MAX], prefix="seed99999_", seed=1)[0]
    assert len(longest.followers[-1]) <= 30


async def test_accounts_and_follows_are_written_once_with_their_events(
    data_dir: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BATCH", 2)  # several transactions, the last one short
    users, user_engine = await make_user_store(UserSettings(data_dir=data_dir), database_url)
    graph, graph_engine = await make_graph_store(GraphSettings(data_dir=data_dir), database_url)
    ids = IdGenerator(shard=8191)
    advanced: list[int] = []
    try:
        names = [f"bulk{i}" for i in range(5)]
        first = await bulk._create_accounts(
            users, ids, names, lambda i: f"hash{i}", advanced.append
        )
        # Again, as seeding with the same seed does: the same accounts, nothing new.
        again = await bulk._create_accounts(users, ids, names, lambda i: "x", advanced.append)
        assert again == first and len(set(first)) == 5
        async with users.transaction() as tx:
            stored = await users.get_user_by_username(tx, username="bulk3")
        assert stored is not None and stored.user_id == first[3]
        assert stored.password_hash == "hash3"
        author, fans = first[0], first[1:]
        pairs = [(fan, author) for fan in fans]
        assert await bulk._create_follows(graph, ids, pairs, advanced.append) == 4
        assert await bulk._create_follows(graph, ids, pairs, advanced.append) == 0
        async with graph.transaction() as tx:
            counts = await graph.get_counts(tx, user_ids=[author, fans[0]])
        assert (counts[author].follower_count, counts[fans[0]].following_count) == (4, 1)
        followed = [(e.follower_id, e.followee_id) for _, e in await outbox_events(graph)]
        assert sorted(followed) == sorted(pairs)  # one Followed event per new follow
        assert advanced == [2, 2, 1, 2, 2, 1, 2, 2, 2, 2]
        assert await bulk.unpublished(graph_engine, graph_store.outbox) == 4
    finally:
        await user_engine.dispose()
        await graph_engine.dispose()


def test_read_overhead_compares_pulled_with_pushed_followers_per_mode() -> None:
    def figures(p50: float, p99: float) -> dict[str, float]:
        return {"p50_ms": p50, "p90_ms": p50 * 2, "p99_ms": p99, "throughput_rps": 100.0}

    reads = {
        "FEED_MODE_CHRONOLOGICAL plain": figures(10.0, 40.0),
        "FEED_MODE_CHRONOLOGICAL star": figures(11.0, 50.0),
        "FEED_MODE_RANKED plain": figures(20.0, 80.0),
        "FEED_MODE_RANKED star": figures(20.0, 60.0),
    }
    rows = scenarios.read_overhead(reads, "star", "plain")
    assert [(r["mode"], r["extra_p50_percent"], r["extra_p99_percent"]) for r in rows] == [
        ("FEED_MODE_CHRONOLOGICAL", 10.0, 25.0),
        ("FEED_MODE_RANKED", 0.0, -25.0),
    ]
    assert scenarios.read_overhead_table(rows).row_count == 4


async def test_feed_checks_find_the_first_feed_without_a_post_and_the_active_followers() -> None:
    import fakeredis

    from feed_svc import cache as keys
    from feed_svc.cache import FeedCache

    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    cache = FeedCache(redis, max_length=10, recent_length=5)
    followers = [101, 102, 103, 104]
    for user in followers[:3]:
        await cache.install(user, [], [])
    for user in (101, 102, 104):  # 104 read lately but its feed was lost: not active
        await cache.touch(user, ttl_seconds=60)
    assert await scenarios._active(redis, followers) == [101, 102]
    post = 5000
    assert await scenarios._missing(redis, followers, post) == 0
    assert await cache.fan_out(followers, post) == 2  # 103 is quiet: its feed is dropped
    assert await scenarios._missing(redis, followers, post) == 2
    assert await scenarios._missing(redis, [101, 102], post) is None
    # A feed the post reaches later: the wait ends only then, and says when.
    late = 105
    await cache.install(late, [], [])
    await cache.touch(late, ttl_seconds=60)
    started = time.perf_counter()
    waiting = asyncio.create_task(scenarios.wait_pushed(redis, [101, 102, late], post, started))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await cache.fan_out([late], post)
    assert 0.1 <= await waiting < 5
    await redis.zadd(keys.recent_key(9), {keys.member(post): 0})
    assert 0 <= await scenarios.wait_pulled(redis, 9, post, time.perf_counter()) < 5
    await redis.aclose()
