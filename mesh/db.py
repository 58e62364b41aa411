"""Relational storage: one async SQLAlchemy engine per service and its Alembic migrations.

Embedded: a SQLite file per service under data_dir. PostgreSQL (psycopg 3) when a URL is set;
services sharing one database each get their own schema, so no service sees another's tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from mesh import telemetry
from mesh.config import MeshSettings


def normalise_url(url: str) -> str:
    """Use the async drivers: psycopg 3 for PostgreSQL, aiosqlite for SQLite."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


def create_engine(
    service: str, settings: MeshSettings, database_url: str | None, *, pool_size: int | None = None
) -> AsyncEngine:
    """Return the engine of a service: its SQLite file, or its schema on PostgreSQL; every
    statement it runs is traced."""
    size = settings.db_pool_size if pool_size is None else pool_size
    engine = _create_engine(service, settings, database_url, pool_size=size)
    telemetry.instrument_engine(engine)
    return engine


def _create_engine(
    service: str, settings: MeshSettings, database_url: str | None, *, pool_size: int
) -> AsyncEngine:
    if database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = (settings.data_dir / f"{service}.db").resolve()
        return _sqlite_engine(f"sqlite+aiosqlite:///{path}")
    url = normalise_url(database_url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"options": f"-c search_path={service}"},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, open transactions (so SAVEPOINT and rollback work).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front: a transaction that reads then writes cannot
    # fail half-way with "database is locked" when another writer got there first.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database a URL names, if it does not exist yet."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(normalise_url(url))
    if not parsed.drivername.startswith("postgresql") or not parsed.database:
        return
    admin = parsed.set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(parsed.database)))


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session maker a store uses; objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Open a session in a transaction that commits on success and rolls back on any error."""
    async with sessions() as session, session.begin():
        yield session


async def migrate(engine: AsyncEngine, service: str, migrations_dir: Path) -> None:
    """Bring a service's schema to the newest migration (safe to run again and concurrently)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # One lock per service keeps two starting replicas from migrating at once.
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": service})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{service}"'))
        await conn.run_sync(_upgrade, migrations_dir)


def _upgrade(connection: Connection, migrations_dir: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
