"""A PostgreSQL connection the server dropped costs one failed call, answered UNAVAILABLE, and
the pool recovers by itself (which is why pooled connections are not pinged before each use)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from mesh import db
from mesh.config import MeshSettings
from mesh.interceptors import STORE_UNREACHABLE

pytestmark = pytest.mark.postgres


async def test_a_dropped_connection_fails_once_then_the_pool_recovers(
    postgres_database: str, tmp_path: Path
) -> None:
    settings = MeshSettings(data_dir=tmp_path, db_pool_size=2)
    assert not settings.db_pool_pre_ping
    engine = db.create_engine("pool_probe", settings, postgres_database)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # The server (a restart, an idle timeout, an operator) ends the pooled connection.
        admin = make_url(db.normalise_url(postgres_database)).set(drivername="postgresql")
        with psycopg.connect(admin.render_as_string(hide_password=False)) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(STORE_UNREACHABLE):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT 1"))
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_a_burst_past_the_pool_waits_for_pooled_sessions_and_opens_none(
    postgres_database: str, tmp_path: Path
) -> None:
    """Twice as many transactions at once as the pool holds all finish, on the pool's own
    sessions: none is opened for the burst (and closed after it), so the next burst runs on the
    very same server sessions."""
    settings = MeshSettings(data_dir=tmp_path, db_pool_size=3)
    engine = db.create_engine("pool_burst", settings, postgres_database)

    async def one() -> int:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_sleep(0.05)"))
            return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    try:
        first = set(await asyncio.gather(*(one() for _ in range(6))))
        second = set(await asyncio.gather(*(one() for _ in range(6))))
        assert len(first) == 3
        assert second == first
        async with engine.connect() as conn:
            named = await conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool_burst'")
            )
            assert named.scalar_one() == 3  # the sessions say which service they serve
    finally:
        await engine.dispose()
