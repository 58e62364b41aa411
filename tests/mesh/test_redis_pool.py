"""The Redis client's pool: past redis_pool_size a command waits for a free connection, up to
redis_pool_timeout_seconds, instead of failing at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
import redis.exceptions
from pydantic import ValidationError

from mesh.config import MeshSettings
from mesh.redis import create_redis
from tests.mesh.test_bus import redis_url  # noqa: F401 - the fixture


async def test_a_command_past_the_pool_waits_for_a_free_connection(
    redis_url: str,  # noqa: F811 - the fixture
) -> None:
    client = create_redis(
        MeshSettings(redis_url=redis_url, redis_pool_size=1, redis_pool_timeout_seconds=2.0)
    )
    key = f"pool-test:{uuid.uuid4().hex}"
    try:
        # The only connection waits in BLPOP for 0.3 s; a PING meanwhile waits for it.
        holder: asyncio.Future[Any] = asyncio.ensure_future(client.blpop([key], timeout=0.3))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        assert await client.ping() is True
        assert time.monotonic() - started >= 0.15
        assert await holder is None
    finally:
        await client.aclose()


async def test_a_command_that_waits_past_the_pool_timeout_fails_as_a_connection_error(
    redis_url: str,  # noqa: F811 - the fixture
) -> None:
    client = create_redis(
        MeshSettings(redis_url=redis_url, redis_pool_size=1, redis_pool_timeout_seconds=0.1)
    )
    key = f"pool-test:{uuid.uuid4().hex}"
    try:
        holder: asyncio.Future[Any] = asyncio.ensure_future(client.blpop([key], timeout=1))
        await asyncio.sleep(0.05)
        with pytest.raises(redis.exceptions.ConnectionError):
            await client.ping()
        await holder
        assert await client.ping() is True  # free again
    finally:
        await client.aclose()


def test_pool_settings_refuse_values_outside_their_limits() -> None:
    for options in (
        {"redis_pool_size": 0},
        {"redis_pool_size": 10_001},
        {"redis_pool_timeout_seconds": 0},
        {"redis_pool_timeout_seconds": 60.5},
    ):
        with pytest.raises(ValidationError):
            MeshSettings(**options)
    assert MeshSettings(redis_pool_size=10_000, redis_pool_timeout_seconds=60).redis_pool_size
