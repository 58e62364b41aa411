"""Read replicas for tests: a second database beside a service's primary, with rows of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import db
from mesh.config import MeshSettings
from mesh.services import migrations_dir
from tests.conftest import ENGINES, _create_database, _database_url, _engine_databases


async def make_replica(service: str, data_dir: Path, *, migrated: bool = True) -> str:
    """Return the URL of a second database for `service`: another SQLite file in embedded
    runs, another PostgreSQL database (dropped at the end of the session) in engines runs;
    migrated here, since nothing replicates into it, unless `migrated` is False."""
    if ENGINES:
        name = _create_database()
        _engine_databases.append(name)
        url = _database_url(name)
    else:
        folder = data_dir.parent / "replica"
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{(folder / f'{service}.db').resolve()}"
    if not migrated:
        return url
    engine = db.create_engine(service, MeshSettings(data_dir=data_dir), url)
    try:
        await db.migrate(engine, service, migrations_dir(service))
    finally:
        await engine.dispose()
    return url


@asynccontextmanager
async def writable(
    service: str, settings: MeshSettings, url: str | None
) -> AsyncIterator[AsyncEngine]:
    """Open a writable engine on one of a service's databases (None: its embedded primary),
    so a test can put rows in a replica as replication would, or look at what the primary
    holds."""
    engine = db.create_engine(service, settings, url)
    try:
        yield engine
    finally:
        await engine.dispose()
