"""Ended sessions: access tokens of a revoked session stop working on the next request.

An access token names its session (claim `sid`: the refresh-token family it was issued with).
When user_svc ends a session (logout, or a stolen refresh token's family revoked on reuse) it
records the session as revoked until the last access token issued for it has expired, and every
verifier of the mesh refuses tokens of that session from then on: revoked before checked, so the
verified-token cache (mesh.auth) cannot outlive a revocation either.

Every RPC checks, so the check must cost nothing: each process keeps the revoked sessions in a
dict. Embedded, the whole mesh runs in one process and shares that dict. With Redis, user_svc
adds the session to a sorted set (score: when it may be forgotten) and publishes it on a channel;
every process loads the set at start and then follows the channel, so a revocation reaches all
of them within a Redis round trip, before the client that logged out can send another request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import cast

from redis.asyncio import Redis

from mesh.config import MeshSettings
from mesh.redis import create_redis

log = logging.getLogger("shutter.revocation")

SET_KEY = "revoked_sessions"
CHANNEL = "revoked_sessions"
# How often a follower re-reads the set in full, to catch up after a lost connection.
RESYNC_SECONDS = 30.0


class Revocations:
    """The sessions of this process's view that have ended, each until its tokens expire."""

    def __init__(self, redis: Redis | None = None, *, clock: Callable[[], float] = time.time):
        self._redis = redis
        self._clock = clock
        self._until: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._users = 0

    def is_revoked(self, session_id: str) -> bool:
        """Tell whether a session has ended (forgetting it once its tokens have all expired)."""
        until = self._until.get(session_id)
        if until is None:
            return False
        if until <= self._clock():
            self._until.pop(session_id, None)
            return False
        return True

    async def revoke(self, session_ids: list[str], *, until: float) -> None:
        """End sessions: refuse their tokens everywhere until `until` (epoch seconds)."""
        for sid in session_ids:
            self._until[sid] = max(until, self._until.get(sid, 0.0))
        if self._redis is not None and session_ids:
            await self._redis.zadd(SET_KEY, dict.fromkeys(session_ids, until))
            await self._redis.publish(CHANNEL, " ".join(f"{sid}:{until}" for sid in session_ids))

    async def _load(self) -> None:
        assert self._redis is not None
        now = self._clock()
        await self._redis.zremrangebyscore(SET_KEY, "-inf", now)
        found = await self._redis.zrangebyscore(SET_KEY, now, "+inf", withscores=True)
        for member, score in cast("list[tuple[bytes | str, float]]", found):
            sid = member.decode() if isinstance(member, bytes) else str(member)
            self._until[sid] = max(float(score), self._until.get(sid, 0.0))

    def _apply(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        for item in text.split():
            sid, _, until = item.rpartition(":")
            with contextlib.suppress(ValueError):
                self._until[sid] = max(float(until), self._until.get(sid, 0.0))

    async def _follow(self) -> None:
        assert self._redis is not None
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    await self._load()  # after subscribing: nothing falls in between
                    resync = self._clock() + RESYNC_SECONDS
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None and message["type"] == "message":
                            self._apply(message["data"])
                        if self._clock() >= resync:
                            await self._load()
                            resync = self._clock() + RESYNC_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: keep what is known, try again shortly
                log.warning("following revoked sessions failed (%s); retrying", exc)
                await asyncio.sleep(1.0)

    async def start(self) -> None:
        """Load the revoked sessions and follow new ones (once per process, however many
        services share it)."""
        self._users += 1
        if self._redis is None or self._task is not None:
            return
        await self._load()
        self._task = asyncio.create_task(self._follow(), name="revoked-sessions")

    async def stop(self) -> None:
        """Stop following when the last service of the process that uses it stops."""
        self._users = max(0, self._users - 1)
        if self._users or self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._redis is not None:
            await self._redis.aclose()
        _shared.pop(self._key, None)

    _key: str = ""


_shared: dict[str, Revocations] = {}


def revocations_for(settings: MeshSettings) -> Revocations:
    """Return this process's view of revoked sessions for the mesh's Redis (or the embedded one,
    a plain dict shared by every service of the process)."""
    key = settings.redis_url or ""
    found = _shared.get(key)
    if found is None:
        found = Revocations(create_redis(settings) if settings.redis_url else None)
        found._key = key
        _shared[key] = found
    return found
