"""Every service's migrations build, from empty, exactly the schema its store declares."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from mesh import db
from mesh.config import MeshSettings
from mesh.services import MESH
from tests.conftest import unique_service


def _drift(connection: Connection, metadata: MetaData) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("service", [spec.name for spec in MESH])
async def test_migrations_match_the_models_and_run_twice(
    service: str, data_dir: Path, database_url: str | None
) -> None:
    spec = next(s for s in MESH if s.name == service)
    schema = service if database_url is None else unique_service(service)
    engine = db.create_engine(schema, MeshSettings(data_dir=data_dir), database_url)
    try:
        await db.migrate(engine, schema, spec.migrations_dir())
        await db.migrate(engine, schema, spec.migrations_dir())  # idempotent
        metadata = importlib.import_module(f"{service}.store").metadata
        async with engine.connect() as conn:
            drift = await conn.run_sync(_drift, metadata)
        assert drift == []
    finally:
        await engine.dispose()
