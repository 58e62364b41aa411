"""A PostgreSQL connection the server dropped costs one failed call, answered UNAVAILABLE, and
the pool recovers by itself (which is why pooled connections are not pinged before each use)."""

from __future__ import annotations

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
