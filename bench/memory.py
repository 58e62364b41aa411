"""Memory of a running mesh: each process's resident memory, and Redis bytes per home-feed entry.

RSS comes from the `process_resident_memory_bytes` gauge each process exports on its metrics
port (prometheus_client reads it from /proc); a process whose metrics do not answer is found by
the port it serves on and read from the OS (psutil). Redis: MEMORY USAGE (every element sampled)
of every home-feed key of the mesh's Redis database, found by SCAN, over the ids they hold.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import RedisError

from feed_svc.cache import SENTINEL, feed_key

RSS_LIMIT_MB = 150.0  # the target for every service after the mixed run (MB = 10^6 B)
RSS_METRIC = "process_resident_memory_bytes"
METRICS_TIMEOUT_SECONDS = 3.0
SCAN_BATCH = 500  # keys per SCAN step and per pipeline of MEMORY USAGE / ZCARD
_PROBE_ID = 4_242_424_242  # stands for "any user id" when reading the shape of feed_key


@dataclass(frozen=True)
class MeshProcess:
    """One process of the mesh: where its metrics are, and the address it serves on."""

    name: str
    address: str  # host:port it listens on (gRPC, or HTTP for the edge)
    metrics_url: str | None = None


async def _metrics_rss(http: httpx.AsyncClient, url: str) -> float | None:
    try:
        response = await http.get(url, timeout=METRICS_TIMEOUT_SECONDS, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    for family in text_string_to_metric_families(response.text):
        if family.name == RSS_METRIC and family.samples:
            return float(family.samples[0].value)
    return None


def listening_pids() -> dict[int, int]:
    """Return the pid listening on each local TCP port (where the OS lets us see it)."""
    pids = {}
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return {}
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.pid is not None and conn.laddr:
            pids[conn.laddr.port] = conn.pid
    return pids


def port_of(address: str) -> int:
    """Return the port of a host:port address."""
    return int(address.rpartition(":")[2])


async def process_memory(
    processes: list[MeshProcess], *, limit_mb: float = RSS_LIMIT_MB
) -> list[dict[str, Any]]:
    """Return each process's RSS (MB), where it was read, its pid and whether it is in the limit.

    Processes that share a pid (the embedded mesh runs everything in one) are marked so: their
    figure is the one process's.
    """
    pids = listening_pids()
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient() as http:
        for process in processes:
            pid = pids.get(port_of(process.address))
            rss = None
            source = "metrics"
            # A metrics port served by another process than the one serving the address is not
            # this process's (another mesh on the default ports, or an embedded mesh).
            if process.metrics_url and pids.get(httpx.URL(process.metrics_url).port or 0) in (
                None,
                pid,
            ):
                rss = await _metrics_rss(http, process.metrics_url)
            if rss is None and pid is not None:
                try:
                    rss, source = float(psutil.Process(pid).memory_info().rss), "os"
                except psutil.Error:
                    rss = None
            rows.append(
                {
                    "process": process.name,
                    "pid": pid,
                    "rss_mb": round(rss / 1e6, 1) if rss is not None else None,
                    "source": source if rss is not None else "unavailable",
                    "limit_mb": limit_mb,
                    "within_limit": rss is not None and rss / 1e6 <= limit_mb,
                }
            )
    first_of: dict[int, str] = {}
    for row in rows:
        if row["pid"] is not None:
            owner = first_of.setdefault(row["pid"], row["process"])
            if owner != row["process"]:
                row["shares_process_with"] = owner
    return rows


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def feed_key_shape() -> tuple[str, re.Pattern[str]]:
    """Return a SCAN pattern for home-feed keys and the exact regex of one, from feed_key.

    The pattern alone would also match other keys that end like a feed key; the regex keeps only
    true feed keys (the user id in its place and nothing else).
    """
    key = feed_key(_PROBE_ID)
    head, tail = key.split(str(_PROBE_ID))
    pattern = f"{_glob_escape(head)}*{_glob_escape(tail)}"
    return pattern, re.compile(f"{re.escape(head)}[0-9]+{re.escape(tail)}")


async def feed_memory(redis: aioredis.Redis) -> dict[str, Any]:
    """Return the home feeds' Redis footprint: keys, entries, bytes and bytes per entry.

    Entries are the post ids in the feeds (the built-feed sentinel is not one); the bytes are
    MEMORY USAGE with every element sampled, so they include each key's own overhead, which a
    feed's entries share. A Redis without MEMORY USAGE (the embedded one) is reported as such.
    """
    pattern, exact = feed_key_shape()
    keys = entries = used = 0
    encodings: Counter[str] = Counter()
    batch: list[bytes] = []

    async def measure() -> None:
        nonlocal keys, entries, used
        async with redis.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.memory_usage(key, samples=0)
                pipe.zcard(key)
                pipe.zscore(key, SENTINEL)
                pipe.object("encoding", key)
            answers = await pipe.execute()
        for i in range(len(batch)):
            size, count, sentinel, encoding = answers[4 * i : 4 * i + 4]
            if size is None:  # the key went away between SCAN and now
                continue
            keys += 1
            used += int(size)
            entries += int(count) - (sentinel is not None)
            encodings[encoding.decode() if isinstance(encoding, bytes) else str(encoding)] += 1
        batch.clear()

    try:
        async for key in redis.scan_iter(match=pattern, count=SCAN_BATCH):
            name = key.decode() if isinstance(key, bytes) else str(key)
            if exact.fullmatch(name):
                batch.append(key if isinstance(key, bytes) else name.encode())
                if len(batch) >= SCAN_BATCH:
                    await measure()
        if batch:
            await measure()
    except RedisError as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    return {
        "available": True,
        "feed_keys": keys,
        "entries": entries,
        "bytes": used,
        "bytes_per_entry": round(used / entries, 1) if entries else None,
        "bytes_per_key": round(used / keys, 1) if keys else None,
        "encodings": dict(encodings),
    }
