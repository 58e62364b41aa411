"""The feed cache's server-side fan-out: one script call per batch (per slot on a cluster), on
the in-process Redis, a real Redis server and a three-node Redis Cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import fakeredis
import pytest
from redis.crc import key_slot

from feed_svc import cache as keys
from feed_svc.cache import FeedCache
from mesh.config import MeshSettings
from mesh.redis import create_redis
from tests.conftest import REDIS_TEST_URL, _flushed_redis
from tests.feed_svc.conftest import ids

MAX_LENGTH = 30


@dataclass
class Cache:
    """A feed cache and the Redis client under it."""

    cache: FeedCache
    redis: Any
    # A server other processes use too (whole-server commands like SCRIPT FLUSH are off limits).
    shared: bool = False

    def user(self) -> int:
        return ids.next_id()


@pytest.fixture(params=["embedded", "redis", "cluster"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    """Return an empty feed cache on each kind of Redis the fan-out script runs on."""
    if request.param == "embedded":
        client: Any = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    else:
        url = (
            _flushed_redis(REDIS_TEST_URL)  # a database of its own: flushed, never FLUSHALL
            if request.param == "redis"
            else request.getfixturevalue("redis_cluster")
        )
        client = create_redis(MeshSettings(redis_url=url))
        if request.param == "cluster":
            await client.flushall()  # the cluster is the tests' own
    cache = FeedCache(client, max_length=MAX_LENGTH, recent_length=10)
    yield Cache(cache, client, shared=request.param == "redis")
    await client.aclose()


async def _prepare(world: Cache, *, active: bool, built: bool, posts: int = 0) -> int:
    user = world.user()
    if built:
        await world.cache.install(user, [ids.next_id() for _ in range(posts)], [])
    if active:
        await world.cache.touch(user, ttl_seconds=60)
    return user


async def _members(world: Cache, user: int) -> list[bytes]:
    return list(await world.redis.zrange(keys.feed_key(user), 0, -1))


async def test_one_call_pushes_to_active_built_feeds_and_drops_quiet_ones(world: Cache) -> None:
    # Enough users that, on the cluster, they fall in many slots of all three nodes.
    active = [await _prepare(world, active=True, built=True) for _ in range(40)]
    quiet = [await _prepare(world, active=False, built=True) for _ in range(10)]
    unbuilt = [await _prepare(world, active=True, built=False) for _ in range(10)]
    for user in quiet:
        await world.redis.sadd(keys.celebs_key(user), "42")
    everyone = active + quiet + unbuilt
    assert len({key_slot(keys.feed_key(u).encode()) for u in everyone}) > 1
    post = ids.next_id()
    assert await world.cache.fan_out(everyone, post) == len(active)
    assert await world.cache.fan_out([], post) == 0
    for user in active:
        assert await _members(world, user) == [keys.member(post).encode(), b"~"]
    for user in quiet:  # dropped whole, celebrity list too: rebuilt when they return
        assert await world.redis.exists(keys.feed_key(user), keys.celebs_key(user)) == 0
    for user in unbuilt:  # nothing to add to: its rebuild brings the post
        assert await _members(world, user) == []


async def test_the_same_post_twice_lands_once_and_feeds_stay_trimmed(world: Cache) -> None:
    # A full feed keeps the newest MAX_LENGTH (30) and the sentinel.
    full = await _prepare(world, active=True, built=True, posts=30)
    post = ids.next_id()
    assert await world.cache.fan_out([full], post) == 1
    assert await world.cache.fan_out([full], post) == 1
    stored = await _members(world, full)
    assert len(stored) == 31 and stored[-2:] == [keys.member(post).encode(), b"~"]
    # An older post than all 30 goes in and is trimmed straight away.
    assert await world.cache.fan_out([full], 1) == 1
    assert keys.member(1).encode() not in await _members(world, full)
    assert len(await _members(world, full)) == 31


async def test_fan_out_works_again_after_the_server_forgot_its_scripts(world: Cache) -> None:
    if world.shared:
        pytest.skip("SCRIPT FLUSH would empty the script cache of a server others use")
    user = await _prepare(world, active=True, built=True)
    first, second = ids.next_id(), ids.next_id()
    assert await world.cache.fan_out([user], first) == 1
    await world.redis.script_flush()  # as a restarted or failed-over node would
    assert await world.cache.fan_out([user], second) == 1
    assert await _members(world, user) == [
        keys.member(first).encode(),
        keys.member(second).encode(),
        b"~",
    ]
