"""The GCRA limiter: exact bursts and spacing in-process, the same answers on Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import fakeredis
import pytest
import redis.asyncio as aioredis

from mesh.ratelimit import Limiter, MemoryLimiter, Rate, RedisLimiter, parse_rate
from tests.conftest import IN_CI, REDIS_TEST_URL


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rates_parse_and_scale() -> None:
    assert parse_rate("10/min") == Rate(10, 60.0)
    assert parse_rate(" 300 / 5min ") == Rate(300, 300.0)
    assert parse_rate("5/s") == Rate(5, 1.0) and parse_rate("20/h") == Rate(20, 3600.0)
    assert parse_rate("10/min").scaled(2.5) == Rate(25, 60.0)
    assert parse_rate("1/min").scaled(0.001) == Rate(1, 60.0)  # never below one
    assert parse_rate("30/min").policy() == "q=30;w=60"
    for bad in ("", "10", "ten/min", "0/min", "10/0min", "10/day", "-1/s"):
        with pytest.raises(ValueError):
            parse_rate(bad)


async def test_a_burst_then_one_per_interval_in_process() -> None:
    clock = Clock()
    limiter = MemoryLimiter(clock=clock)
    rate = Rate(3, 60.0)  # a burst of 3, then one every 20 s
    answers = [await limiter.hit("k", rate) for _ in range(4)]
    assert [a.allowed for a in answers] == [True, True, True, False]
    assert [a.remaining for a in answers[:3]] == [2, 1, 0]
    assert answers[3].retry_after == pytest.approx(20.0)
    clock.now += 19.9
    assert not (await limiter.hit("k", rate)).allowed
    clock.now += 0.1
    assert (await limiter.hit("k", rate)).allowed
    assert not (await limiter.hit("k", rate)).allowed
    assert (await limiter.hit("other", rate)).allowed  # keys are independent
    clock.now += 60
    assert [(await limiter.hit("k", rate)).allowed for _ in range(4)] == [True] * 3 + [False]


async def test_peek_consumes_nothing_and_reset_restores_the_burst() -> None:
    clock = Clock()
    limiter = MemoryLimiter(clock=clock)
    rate = Rate(2, 10.0)
    for _ in range(5):
        assert (await limiter.peek("k", rate)).allowed
    await limiter.hit("k", rate)
    await limiter.hit("k", rate)
    peeked = await limiter.peek("k", rate)
    assert not peeked.allowed and peeked.retry_after == pytest.approx(5.0)
    await limiter.reset("k")
    assert (await limiter.hit("k", rate)).allowed


async def test_memory_is_bounded() -> None:
    limiter = MemoryLimiter(clock=Clock(), max_keys=10)
    for i in range(100):
        await limiter.hit(f"k{i}", Rate(1, 60.0))
    assert len(limiter._tat) == 10


@pytest.fixture(params=["fakeredis", "redis"])
async def redis_limiter(request: pytest.FixtureRequest) -> AsyncIterator[Limiter]:
    """The Redis limiter on the in-process Redis, then on a real server when one is there."""
    client: aioredis.Redis
    if request.param == "fakeredis":
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    else:
        client = aioredis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3)
        try:
            await client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means no server
            await client.aclose()
            if IN_CI or os.environ.get("SHUTTER_TEST_ENGINES") == "1":
                pytest.fail(f"Redis is not reachable ({exc})")
            pytest.skip(f"Redis is not reachable ({exc})")
    yield RedisLimiter(client, prefix=f"t{uuid.uuid4().hex[:8]}")
    await client.aclose()


async def test_redis_limiter_gives_the_same_answers(redis_limiter: Limiter) -> None:
    rate = Rate(3, 60.0)
    answers = [await redis_limiter.hit("k", rate) for _ in range(4)]
    assert [a.allowed for a in answers] == [True, True, True, False]
    assert [a.remaining for a in answers[:3]] == [2, 1, 0]
    assert 19.0 < answers[3].retry_after <= 20.0
    assert not (await redis_limiter.peek("k", rate)).allowed
    assert (await redis_limiter.peek("other", rate)).allowed
    await redis_limiter.reset("k")
    assert (await redis_limiter.hit("k", rate)).allowed
    fast = Rate(1000, 1.0)
    assert all([(await redis_limiter.hit("fast", fast)).allowed for _ in range(50)])


async def check_hit_each(limiter: Limiter) -> None:
    """Several limits in one call: each consumed in order, none after the first refused."""
    tight, loose = Rate(2, 60.0), Rate(5, 60.0)
    first = await limiter.hit_each([("ip", tight), ("account", loose)])
    assert [(d.allowed, d.remaining) for d in first] == [(True, 1), (True, 4)]
    await limiter.hit_each([("ip", tight), ("account", loose)])
    refused = await limiter.hit_each([("ip", tight), ("account", loose)])
    # The IP's limit is reached: the request is refused there and the account keeps its units.
    assert [d.allowed for d in refused] == [False]
    assert 29.0 < refused[0].retry_after <= 30.0
    # Two of its five units taken: the next would leave two.
    assert (await limiter.peek("account", loose)).remaining == 2
    # The account's own limit refuses after the IP's unit is taken, as one check after another.
    other = await limiter.hit_each([("ip2", loose), ("account", Rate(1, 60.0))])
    assert [d.allowed for d in other] == [True, False]
    assert await limiter.hit_each([]) == []


async def test_several_limits_at_once_in_process() -> None:
    await check_hit_each(MemoryLimiter(clock=Clock()))


async def test_several_limits_at_once_on_redis(redis_limiter: Limiter) -> None:
    await check_hit_each(redis_limiter)
