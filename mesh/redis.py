"""Redis clients: the real server when SHUTTER_REDIS_URL is set, else one in-process Redis.

The embedded Redis is a fakeredis server shared by the whole process, so every service that
`shutter up` runs in one process sees the same keys, as they would on one real server. A URL of
the form `redis+cluster://host:port` names a Redis Cluster (any node; the others are discovered):
the client then routes every key to its slot's node, so callers must keep multi-key commands on
one hash tag.
"""

from __future__ import annotations

import threading

import fakeredis
import redis.asyncio as aioredis

from mesh.config import MeshSettings

_embedded_server: fakeredis.FakeServer | None = None
_embedded_lock = threading.Lock()


def embedded_server() -> fakeredis.FakeServer:
    """Return the process's in-process Redis server, made on first use."""
    global _embedded_server
    with _embedded_lock:
        if _embedded_server is None:
            _embedded_server = fakeredis.FakeServer()
        return _embedded_server


CLUSTER_SCHEME = "redis+cluster://"


def create_redis(settings: MeshSettings, *, decode_responses: bool = False) -> aioredis.Redis:
    """Return a Redis client: to SHUTTER_REDIS_URL, or to the process's embedded Redis.

    The caller owns the client and closes it with `await client.aclose()`.
    """
    if settings.redis_url and settings.redis_url.startswith(CLUSTER_SCHEME):
        url = "redis://" + settings.redis_url.removeprefix(CLUSTER_SCHEME)
        # The cluster client speaks the same commands; typed as Redis for the callers.
        return aioredis.RedisCluster.from_url(  # type: ignore[return-value]
            url, decode_responses=decode_responses
        )
    if settings.redis_url:
        # A bounded pool that makes a command wait for a free connection: under a burst the
        # default pool fails at once ("Too many connections").
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_pool_size,
            timeout=settings.redis_pool_timeout_seconds,
            decode_responses=decode_responses,
        )
        return aioredis.Redis.from_pool(pool)
    return fakeredis.FakeAsyncRedis(server=embedded_server(), decode_responses=decode_responses)
