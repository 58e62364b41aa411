"""Relational storage: a service's async SQLAlchemy engines, read-only views and migrations.

Embedded: a SQLite file per service under data_dir. PostgreSQL (psycopg 3) when a URL is set;
services sharing one database each get their own schema, so no service sees another's tables.

Reads and writes. A service has a primary engine, and a read-only engine: its replica's when a
replica URL is set (same schema, never migrated), else a read-only view of the primary that
shares its pool. Stores open `transaction()` on the primary and `read_transaction()` on the
read-only engine, which PostgreSQL runs READ ONLY (SQLite: `PRAGMA query_only`), so a write by
mistake fails loudly on either backend, replica or not. Which reads go where
(read-your-writes):

- Writes, and every read inside a write's transaction, run on the primary.
- Reads that decide or authorise something run on the primary, where a stale answer would be
  wrong rather than old: credentials and refresh tokens, idempotency keys, ownership before a
  write, the privacy rule (relationships, CanView, a private list's access check).
- Reads of state the caller's own last write changed, which clients show right away, run on
  the primary: one's own profile and post grid, one's relationship to an account, the unread
  count.
- Reads that feed a cache or a live stream run on the primary (feed rebuilds, the follower
  streams of fan-out, Subscribe): a stale answer kept in Redis, or a stream woken by a commit
  the replica has not seen yet, would outlast the lag.
- Lists, searches, other people's profiles, counts and batch hydration (BatchGetUsers,
  BatchGetPosts, BatchGetMedia, notification lists, follower lists) run on the replica. Where
  something created a moment ago may be missing there (lookups by id), the ids the replica
  did not know are asked again of the primary, so a new account, post or upload is never "not
  found" elsewhere in the mesh because of lag; only updates of existing rows may show late.
  Media goes further: only media settled on the replica (ready, failed, deleted) is answered
  from it, so an upload's progress, which posts and profile pictures wait for, is never behind.
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


def create_replica_engine(service: str, settings: MeshSettings, replica_url: str) -> AsyncEngine:
    """Return the read-only engine of a service's replica: the same schema as on the primary,
    pooled by db_replica_pool_size (else db_pool_size), traced like the primary."""
    size = settings.db_replica_pool_size or settings.db_pool_size
    return read_only(create_engine(service, settings, replica_url, pool_size=size))


# The execution option that makes an engine's transactions read-only (see _sqlite_begin).
READ_ONLY_OPTION = "shutter_read_only"


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """Return a view of an engine, sharing its pool, whose transactions cannot write:
    PostgreSQL begins them READ ONLY, SQLite runs them under `PRAGMA query_only`."""
    options: dict[str, Any] = {READ_ONLY_OPTION: True}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    return engine.execution_options(**options)


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """Return a view of an engine, sharing its pool, whose connections run each statement on
    its own (no BEGIN and COMMIT round trips): for a hot read of the primary that is one
    statement and needs no snapshot beyond it."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def is_read_only(engine: AsyncEngine) -> bool:
    """Tell whether an engine's transactions are read-only (made by `read_only`)."""
    return bool(engine.get_execution_options().get(READ_ONLY_OPTION))


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
        max_overflow=0,  # see MeshSettings.db_pool_size: a burst waits, it opens nothing
        pool_pre_ping=settings.db_pool_pre_ping,
        # application_name: pg_stat_activity and the server log say which service a session is.
        connect_args={"options": f"-c search_path={service}", "application_name": service},
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
    read_only = bool(connection.get_execution_options().get(READ_ONLY_OPTION))
    # query_only belongs to the pooled connection, not the transaction: set it only when this
    # transaction wants the other state than the connection's last one. Like the pragmas at
    # connect, on the driver's cursor: housekeeping, not a statement to trace or count.
    if connection.info.get(READ_ONLY_OPTION, False) != read_only:
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(f"PRAGMA query_only = {int(read_only)}")
        cursor.close()
        connection.info[READ_ONLY_OPTION] = read_only
    # IMMEDIATE takes the write lock up front: a transaction that reads then writes cannot
    # fail half-way with "database is locked" when another writer got there first. A
    # read-only one needs no lock: in WAL mode it reads a snapshot while writers go on.
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


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


def read_session_factory(
    engine: AsyncEngine, replica: AsyncEngine | None
) -> async_sessionmaker[AsyncSession]:
    """Return the session maker of a store's read-only transactions: on the replica when
    there is one, else on a read-only view of the primary."""
    reader = replica if replica is not None else read_only(engine)
    if not is_read_only(reader):
        raise ValueError("a replica engine must be read-only (made by create_replica_engine)")
    return session_factory(reader)


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
