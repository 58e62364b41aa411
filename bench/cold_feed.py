"""`shutter bench scenario cold-feed`: home-feed reads after the read model is lost.

The scenario empties the mesh's Redis database (FLUSHDB of the bench's own database only: the
one the manifest or --redis-url names, never FLUSHALL). It first waits until the event bus,
which lives in the same database, has delivered every event (a flush would lose the rest). Then
every chosen user reads their home feed at once (`concurrency` reads in flight), round after
round. The first round is the cold read (every feed, and whatever else the read path keeps in
Redis, rebuilt from the source of truth); the rounds go on until one is back at warm speed (its
p50 within `warm_factor` of the p50 of a warm round measured just before the flush).

Reported: the warm round, the cold round (p50/p90/p99/max, errors by status), every round
after, and the refill time: from the flush until the end of the last round before the first one
back at warm speed (which confirms it). Then the Redis footprint after the run (bytes per
home-feed entry, and every key family of the database with its keys and bytes) and each
process's RSS.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grpc import aio
from redis.exceptions import ResponseError
from rich.table import Table

from bench.histogram import Histogram
from bench.memory import SCAN_BATCH, feed_memory
from bench.seed import bearer
from mesh.bus import create_bus
from mesh.config import MeshSettings
from mesh.redis import create_redis
from shutter.feed.v1 import feed_service_pb2, feed_service_pb2_grpc

READ_TIMEOUT_SECONDS = 30.0
_FAMILY = re.compile(r"\{[^}]*\}|[0-9]+")


@dataclass(frozen=True)
class ColdOptions:
    """How the cold read is driven."""

    concurrency: int = 32
    max_rounds: int = 10
    warm_factor: float = 1.5
    mode: str = "FEED_MODE_CHRONOLOGICAL"
    # The bus lives in the same Redis database: wait this long for its consumers to finish
    # every event before flushing (else refuse), unless told to flush what is undelivered too.
    drain_timeout: float = 60.0
    flush_undelivered: bool = False

    def check(self) -> None:
        """Raise ValueError for options that cannot make a run."""
        if self.concurrency < 1 or self.max_rounds < 1:
            raise ValueError("concurrency and max-rounds must be ≥ 1")
        if self.warm_factor < 1:
            raise ValueError("warm-factor must be ≥ 1 (a p50 this many times the warm one)")


def database_of(url: str) -> int:
    """Return the database number a redis:// URL names (0 when it names none)."""
    path = url.split("://", 1)[-1].split("?", 1)[0]
    tail = path.split("/", 1)[1] if "/" in path else ""
    return int(tail) if tail.isdigit() else 0


def check_flushable(url: str | None) -> str:
    """Return the Redis URL the scenario may flush, or raise ValueError saying why not."""
    if not url:
        raise ValueError(
            "cold-feed needs the mesh's Redis (--redis-url, the manifest's redis_url or "
            "SHUTTER_REDIS_URL): an embedded mesh keeps its Redis inside its own process"
        )
    return url


def family(key: bytes | str) -> str:
    """Return a key's family: the key with hash tags and numbers replaced (feed:{u:1}:seen ->
    feed:{}:seen), so per-user and per-post keys group together."""
    text = key.decode(errors="replace") if isinstance(key, bytes) else key
    return _FAMILY.sub(lambda m: "{}" if m.group().startswith("{") else "#", text)


async def key_families(redis: Any) -> list[dict[str, Any]]:
    """Return every key family of the database with its key count and bytes (MEMORY USAGE,
    every element sampled), largest first."""
    keys: Counter[str] = Counter()
    used: Counter[str] = Counter()
    batch: list[bytes] = []

    async def measure() -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.memory_usage(key, samples=0)
            sizes = await pipe.execute()
        for key, size in zip(batch, sizes, strict=True):
            if size is not None:
                keys[family(key)] += 1
                used[family(key)] += int(size)
        batch.clear()

    async for key in redis.scan_iter(count=SCAN_BATCH):
        batch.append(key)
        if len(batch) >= SCAN_BATCH:
            await measure()
    if batch:
        await measure()
    return [
        {"family": name, "keys": keys[name], "bytes": used[name]} for name, _ in used.most_common()
    ]


def _figures(histogram: Histogram, codes: Counter[str], seconds: float) -> dict[str, Any]:
    errors = sum(n for code, n in codes.items() if code != "OK")
    return {
        "reads": histogram.total,
        "seconds": round(seconds, 3),
        "reads_per_second": round(histogram.total / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": histogram.percentile(50),
        "p90_ms": histogram.percentile(90),
        "p99_ms": histogram.percentile(99),
        "max_ms": histogram.max_micros / 1000,
        "errors": errors,
        "codes": dict(codes),
    }


async def undelivered(redis: Any, streams: Sequence[str]) -> dict[str, int]:
    """Return, per consumer group of the bus's streams, the events it has not finished (lag plus
    pending): what a flush of the database would lose, since the bus lives in it too."""
    left: Counter[str] = Counter()
    for stream in streams:
        try:
            groups = await redis.xinfo_groups(stream)
        except ResponseError:  # no stream (nothing published since the last flush)
            continue
        for group in groups:
            name = group["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            left[name] += int(group.get("lag") or 0) + int(group.get("pending") or 0)
    return dict(left)


async def wait_delivered(redis: Any, streams: Sequence[str], timeout: float) -> None:
    """Wait until every group has finished every event, or raise RuntimeError after `timeout`."""
    deadline = time.perf_counter() + timeout
    while True:
        left = {g: n for g, n in (await undelivered(redis, streams)).items() if n}
        if not left:
            return
        if time.perf_counter() > deadline:
            raise RuntimeError(
                f"the bus still holds undelivered events ({left}); flushing would lose them. "
                "Wait for the consumers (after a bulk seed, notify_svc takes a while), or "
                "give --flush-undelivered"
            )
        await asyncio.sleep(1.0)


async def read_round(
    feeds: feed_service_pb2_grpc.FeedServiceStub,
    tokens: list[str],
    request: feed_service_pb2.GetHomeFeedRequest,
    concurrency: int,
) -> dict[str, Any]:
    """Have every token read its home feed once, `concurrency` at a time; return the figures."""
    gate = asyncio.Semaphore(concurrency)
    histogram: Histogram = Histogram()
    codes: Counter[str] = Counter()

    async def one(token: str) -> None:
        async with gate:
            began = time.perf_counter()
            try:
                await feeds.GetHomeFeed(
                    request, metadata=bearer(token), timeout=READ_TIMEOUT_SECONDS
                )
                codes["OK"] += 1
            except aio.AioRpcError as exc:
                codes[exc.code().name] += 1
            histogram.record(time.perf_counter() - began)

    started = time.perf_counter()
    await asyncio.gather(*(one(token) for token in tokens))
    return _figures(histogram, codes, time.perf_counter() - started)


async def cold_feed(
    feed_addr: str, tokens: list[str], redis_url: str, options: ColdOptions
) -> dict[str, Any]:
    """Warm round, FLUSHDB, then rounds until reads are back at warm speed (see the module)."""
    options.check()
    request = feed_service_pb2.GetHomeFeedRequest(page_size=20, mode=options.mode)
    settings = MeshSettings(redis_url=check_flushable(redis_url))
    bus = create_bus(settings)
    streams = list(getattr(bus, "streams", []))
    await bus.close()
    redis = create_redis(settings)
    try:
        async with aio.insecure_channel(feed_addr) as channel:
            feeds = feed_service_pb2_grpc.FeedServiceStub(channel)
            await read_round(feeds, tokens, request, options.concurrency)  # everything warm
            warm = await read_round(feeds, tokens, request, options.concurrency)
            if not options.flush_undelivered:
                await wait_delivered(redis, streams, options.drain_timeout)
            keys_before = int(await redis.dbsize())
            flushed = time.perf_counter()
            await redis.flushdb()
            rounds: list[dict[str, Any]] = []
            refilled_after: float | None = None
            previous_end = flushed
            for _ in range(options.max_rounds):
                figures = await read_round(feeds, tokens, request, options.concurrency)
                rounds.append(figures)
                back = figures["errors"] == 0 and (
                    figures["p50_ms"] <= warm["p50_ms"] * options.warm_factor
                )
                if back and len(rounds) > 1:
                    # Refilled by the end of the round before: this one only confirms it.
                    refilled_after = previous_end - flushed
                    break
                previous_end = time.perf_counter()
        feeds_memory = await feed_memory(redis)
        families = await key_families(redis)
        keys_after = int(await redis.dbsize())
    finally:
        await redis.aclose()
    return {
        "users": len(tokens),
        "concurrency": options.concurrency,
        "mode": options.mode,
        "warm": warm,
        "cold": rounds[0],
        "rounds": rounds,
        "refilled_after_seconds": round(refilled_after, 3) if refilled_after else None,
        "warm_factor": options.warm_factor,
        "redis_keys_before_flush": keys_before,
        "redis_keys_after": keys_after,
        "redis_feeds": feeds_memory,
        "redis_key_families": families,
    }


def report_table(found: dict[str, Any]) -> Table:
    """Return the rounds as a table for the console."""
    table = Table(
        title=f"cold-feed: {found['users']} users, {found['concurrency']} reads in flight, "
        f"{found['mode'].removeprefix('FEED_MODE_').lower()}; refilled after "
        f"{found['refilled_after_seconds']} s"
    )
    for column in ("round", "reads", "reads/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"):
        table.add_column(column, justify="left" if column == "round" else "right")
    rows = [("warm (before the flush)", found["warm"])]
    rows += [
        ("cold (first after the flush)" if n == 0 else f"after the flush, {n + 1}", r)
        for n, r in enumerate(found["rounds"])
    ]
    for label, r in rows:
        table.add_row(
            label,
            str(r["reads"]),
            f"{r['reads_per_second']:.0f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p90_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            f"{r['max_ms']:.1f}",
            str(r["errors"]),
        )
    return table


def memory_table(found: dict[str, Any]) -> Table:
    """Return Redis's footprint after the run and each process's RSS as a table."""
    feeds = found["redis_feeds"]
    per_entry = feeds.get("bytes_per_entry") if feeds.get("available") else None
    table = Table(title=f"after the run: Redis bytes per home-feed entry {per_entry}")
    table.add_column("what")
    table.add_column("keys", justify="right")
    table.add_column("bytes / MB", justify="right")
    for row in found["redis_key_families"][:12]:
        table.add_row(f"redis {row['family']}", str(row["keys"]), str(row["bytes"]))
    for row in found.get("rss_after", []):
        table.add_row(f"RSS {row['process']}", "", f"{row['rss_mb']}")
    return table
