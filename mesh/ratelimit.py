"""Rate limits: the generic cell rate algorithm (GCRA), on Redis when configured, else in-process.

GCRA is the token bucket kept as one number per key, the "theoretical arrival time" (TAT): a rate
of `limit` per `period` spaces requests `T = period / limit` apart and lets a burst of `limit`
through. A request at `now` is allowed when `max(TAT, now) + T - limit * T <= now`, and then moves
TAT to `max(TAT, now) + T`. One read and one write per request, exact, and the key expires by
itself when TAT is in the past. On Redis one Lua script does both atomically with the server's
clock, so every replica of the edge or of user_svc shares the limits; embedded, a dict does.

`peek` checks without consuming, for limits that only failures consume (login): a request is let
in while its key has room for one more, and only a failure then costs a unit.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache
from redis.asyncio import Redis, RedisCluster

# Keys remembered by the in-process limiter; the least recently used go first when full.
MEMORY_KEYS_MAX = 100_000
_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(s|sec|m|min|h|hour)\s*")


@dataclass(frozen=True)
class Rate:
    """At most `limit` requests per `period_seconds`, all of them at once if they come so."""

    limit: int
    period_seconds: float

    @property
    def interval(self) -> float:
        """Return the time one request's unit takes to come back."""
        return self.period_seconds / self.limit

    def scaled(self, factor: float) -> Rate:
        """Return the rate with `factor` times the requests in the same period."""
        return Rate(max(1, math.floor(self.limit * factor)), self.period_seconds)

    def policy(self) -> str:
        """Return the quota and window as the RateLimit-Policy header has them (q=..;w=..)."""
        return f"q={self.limit};w={math.ceil(self.period_seconds)}"


def parse_rate(text: str) -> Rate:
    """Parse '10/min', '300/5min', '5/s' or '1000/h'; raise ValueError otherwise."""
    found = _RATE.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a rate like '10/min', '300/5min' or '5/s'")
    limit, count, unit = int(found[1]), int(found[2] or 1), found[3]
    if limit < 1 or count < 1:
        raise ValueError(f"{text!r}: the count and the period must be at least 1")
    return Rate(limit, count * _UNITS[unit])


@dataclass(frozen=True)
class Decision:
    """What a limiter answered: allowed or not, how many are left, and when to come back."""

    allowed: bool
    remaining: int
    # Seconds until a refused request would be allowed (0 when allowed).
    retry_after: float
    # Seconds until the key is back to a full burst.
    reset_after: float


class Limiter(Protocol):
    """A GCRA rate limiter over string keys."""

    async def hit(self, key: str, rate: Rate, *, cost: int = 1) -> Decision:
        """Consume `cost` units of a key if they are there; say whether they were."""
        ...

    async def hit_each(self, hits: Sequence[tuple[str, Rate]]) -> list[Decision]:
        """Consume one unit of each key in order, stopping at the first that has none; return
        the decisions made (the last one refused when one was)."""
        ...

    async def peek(self, key: str, rate: Rate) -> Decision:
        """Say whether one unit is there, consuming nothing."""
        ...

    async def reset(self, key: str) -> None:
        """Give a key its full burst back."""
        ...


def _decide(tat: float, now: float, rate: Rate, cost: int) -> tuple[Decision, float | None]:
    """Return the decision and the new TAT (None when refused): the algorithm itself."""
    interval = rate.interval
    base = max(tat, now)
    new_tat = base + interval * cost
    allow_at = new_tat - rate.period_seconds
    if allow_at > now + 1e-9:
        remaining = max(0, math.floor((now - (base - rate.period_seconds)) / interval + 1e-9))
        return Decision(False, remaining, allow_at - now, base - now), None
    remaining = max(0, math.floor((now - allow_at) / interval + 1e-9))
    return Decision(True, remaining, 0.0, new_tat - now), new_tat


class MemoryLimiter:
    """GCRA in this process (the embedded mesh): exact for one process, nothing shared."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = MEMORY_KEYS_MAX
    ) -> None:
        self._clock = clock
        self._tat: LRUCache[str, float] = LRUCache(maxsize=max_keys)

    async def hit(self, key: str, rate: Rate, *, cost: int = 1) -> Decision:
        """Consume `cost` units of a key if they are there; say whether they were."""
        now = self._clock()
        decision, new_tat = _decide(self._tat.get(key, now), now, rate, cost)
        if new_tat is not None:
            self._tat[key] = new_tat
        return decision

    async def hit_each(self, hits: Sequence[tuple[str, Rate]]) -> list[Decision]:
        """Consume one unit of each key in order, stopping at the first that has none; return
        the decisions made (the last one refused when one was)."""
        return await _each(self.hit, hits)

    async def peek(self, key: str, rate: Rate) -> Decision:
        """Say whether one unit is there, consuming nothing."""
        now = self._clock()
        return _decide(self._tat.get(key, now), now, rate, 1)[0]

    async def reset(self, key: str) -> None:
        """Give a key its full burst back."""
        self._tat.pop(key, None)


async def _each(
    hit: Callable[[str, Rate], Awaitable[Decision]], hits: Sequence[tuple[str, Rate]]
) -> list[Decision]:
    decisions: list[Decision] = []
    for key, rate in hits:
        decisions.append(await hit(key, rate))
        if not decisions[-1].allowed:
            break
    return decisions


# gcra(key, interval, period, cost, consume (1/0), now): the algorithm on one key. Times in
# microseconds from the server's clock, so replicas on machines whose clocks differ still agree.
_GCRA_FUNCTION = """
local function gcra(key, interval, period, cost, consume, now)
  local tat = tonumber(redis.call('GET', key) or now)
  local base = math.max(tat, now)
  local new_tat = base + interval * cost
  local allow_at = new_tat - period
  if allow_at > now then
    return {0, math.max(0, math.floor((now - (base - period)) / interval)), allow_at - now,
            base - now}
  end
  if consume == '1' then
    redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
  end
  return {1, math.max(0, math.floor((now - allow_at) / interval)), 0, new_tat - now}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""
# KEYS[1]: the key; ARGV: interval, period, cost, consume (1/0).
_GCRA_LUA = (
    _GCRA_FUNCTION
    + "return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], now)"
)
# One unit of each key in order (KEYS), stopping at the first refused; ARGV: each key's interval
# and period. Answers each decision made. One round trip for a request checked against several
# limits (the edge's per IP and per account).
_GCRA_EACH_LUA = (
    _GCRA_FUNCTION
    + """
local decisions = {}
for k = 1, #KEYS do
  local found = gcra(KEYS[k], tonumber(ARGV[2 * k - 1]), tonumber(ARGV[2 * k]), 1, '1', now)
  decisions[k] = found
  if found[1] == 0 then break end
end
return decisions
"""
)


class RedisLimiter:
    """GCRA on Redis: one Lua script per request, shared by every process of the mesh."""

    def __init__(self, redis: Redis, *, prefix: str = "rl") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_GCRA_LUA)
        self._each_script = redis.register_script(_GCRA_EACH_LUA)
        # A script's keys must share a slot on Redis Cluster; these are each their own.
        self._cluster = isinstance(redis, RedisCluster)

    def _key(self, key: str) -> str:
        # The braces make the key its own hash tag: one slot on Redis Cluster.
        return f"{self._prefix}:{{{key}}}"

    async def _run(self, key: str, rate: Rate, cost: int, consume: bool) -> Decision:
        found = await self._script(
            keys=[self._key(key)], args=[*_micros(rate), cost, "1" if consume else "0"]
        )
        return _decision(found)

    async def hit(self, key: str, rate: Rate, *, cost: int = 1) -> Decision:
        """Consume `cost` units of a key if they are there; say whether they were."""
        return await self._run(key, rate, cost, True)

    async def hit_each(self, hits: Sequence[tuple[str, Rate]]) -> list[Decision]:
        """Consume one unit of each key in order, stopping at the first that has none; return
        the decisions made (the last one refused when one was). One round trip on a single
        Redis."""
        if self._cluster or len(hits) < 2:
            return await _each(self.hit, hits)
        found = await self._each_script(
            keys=[self._key(key) for key, _ in hits],
            args=[part for _, rate in hits for part in _micros(rate)],
        )
        return [_decision(one) for one in found]

    async def peek(self, key: str, rate: Rate) -> Decision:
        """Say whether one unit is there, consuming nothing."""
        return await self._run(key, rate, 1, False)

    async def reset(self, key: str) -> None:
        """Give a key its full burst back."""
        await self._redis.delete(f"{self._prefix}:{{{key}}}")


def _micros(rate: Rate) -> tuple[int, int]:
    return round(rate.interval * 1_000_000), round(rate.period_seconds * 1_000_000)


def _decision(found: Sequence[int]) -> Decision:
    allowed, remaining, retry, reset = found
    return Decision(bool(allowed), int(remaining), int(retry) / 1e6, int(reset) / 1e6)
