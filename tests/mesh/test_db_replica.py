"""Read replicas in mesh: the settings, read-only engines on both backends, and the runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import db
from mesh.config import MeshSettings
from mesh.runtime import ServiceRuntime
from mesh.services import MESH
from tests.conftest import unique_service
from tests.replica import make_replica
from user_svc.settings import UserSettings


def test_a_service_replica_url_overrides_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert UserSettings().database_replica_url is None
    monkeypatch.setenv("SHUTTER_DATABASE_REPLICA_URL", "postgresql://replica/shutter")
    for spec in MESH:
        settings: Any = spec.settings()
        assert settings.database_replica_url == "postgresql://replica/shutter", spec.name
    monkeypatch.setenv("SHUTTER_USER_SVC_DATABASE_REPLICA_URL", "postgresql://users-replica/u")
    assert UserSettings().database_replica_url == "postgresql://users-replica/u"
    graph: Any = next(s for s in MESH if s.name == "graph_svc").settings()
    assert graph.database_replica_url == "postgresql://replica/shutter"


def test_shutter_settings_documents_the_replica_settings() -> None:
    from typer.testing import CliRunner

    from mesh.cli import app

    # JSON rather than the table: `shutter settings` has a machine-readable format now.
    result = CliRunner().invoke(app, ["settings", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["variable"]: row for row in json.loads(result.stdout)}
    for variable in ("SHUTTER_DATABASE_REPLICA_URL", "SHUTTER_DB_REPLICA_POOL_SIZE"):
        assert rows[variable]["usedBy"] == "every process"
    for spec in MESH:
        row = rows[f"SHUTTER_{spec.name.upper()}_DATABASE_REPLICA_URL"]
        assert row["usedBy"] == spec.name and "read replica" in row["meaning"]


@pytest.mark.parametrize(("value", "valid"), [(0, False), (1, True), (500, True), (501, False)])
def test_the_replica_pool_size_is_bounded(value: int, valid: bool) -> None:
    if valid:
        assert MeshSettings(db_replica_pool_size=value).db_replica_pool_size == value
    else:
        with pytest.raises(ValidationError, match="db_replica_pool_size"):
            MeshSettings(db_replica_pool_size=value)


async def _notes(engine: AsyncEngine) -> list[str]:
    async with db.transaction(db.session_factory(engine)) as session:
        return list((await session.execute(text("SELECT note FROM notes ORDER BY note"))).scalars())


async def test_a_read_only_view_reads_but_cannot_write(
    data_dir: Path, database_url: str | None
) -> None:
    name = "mesh_ro" if database_url is None else unique_service("mesh_ro")
    engine = db.create_engine(name, MeshSettings(data_dir=data_dir, db_pool_size=1), database_url)
    try:
        async with engine.begin() as conn:
            if database_url is not None:
                await conn.execute(text(f'CREATE SCHEMA "{name}"'))
            await conn.execute(text("CREATE TABLE notes (note VARCHAR(20))"))
        reads = db.read_session_factory(engine, None)
        assert not db.is_read_only(engine)
        async with db.transaction(db.session_factory(engine)) as session:
            await session.execute(text("INSERT INTO notes VALUES ('primary')"))
        for _ in range(2):  # the same pooled connection, read-only then writable, twice
            with pytest.raises(DBAPIError):
                async with db.transaction(reads) as session:
                    assert list((await session.execute(text("SELECT note FROM notes"))).scalars())
                    await session.execute(text("INSERT INTO notes VALUES ('by mistake')"))
            async with db.transaction(db.session_factory(engine)) as session:
                await session.execute(text("UPDATE notes SET note = note"))
        assert await _notes(engine) == ["primary"]
    finally:
        await engine.dispose()


async def test_a_replica_engine_must_be_read_only(data_dir: Path) -> None:
    engine = db.create_engine("mesh_ro", MeshSettings(data_dir=data_dir), None)
    try:
        with pytest.raises(ValueError, match="must be read-only"):
            db.read_session_factory(engine, engine)
    finally:
        await engine.dispose()


async def test_the_runtime_opens_the_replica_read_only_and_never_migrates_it(
    data_dir: Path, finished_spans: Any
) -> None:
    settings = UserSettings(data_dir=data_dir, db_pool_size=3, db_replica_pool_size=2)
    replica_url = await make_replica("user_svc", data_dir, migrated=False)
    runtime = await ServiceRuntime.open(
        "user_svc",
        settings,
        database_url=settings.database_url,
        replica_url=replica_url,
        outbox_table=None,
    )
    try:
        assert runtime.replica is not None and db.is_read_only(runtime.replica)
        assert not db.is_read_only(runtime.engine)
        assert runtime.replica.url.database != runtime.engine.url.database
        async with runtime.replica.connect() as conn:
            assert await conn.run_sync(lambda c: inspect(c).get_table_names()) == []
        async with runtime.engine.connect() as conn:
            assert "users" in await conn.run_sync(lambda c: inspect(c).get_table_names())
        if runtime.replica.dialect.name == "postgresql":
            assert runtime.replica.sync_engine.pool.size() == 2  # type: ignore[attr-defined]
            assert runtime.engine.sync_engine.pool.size() == 3  # type: ignore[attr-defined]
        finished_spans.clear()
        async with runtime.replica.connect() as conn:
            await conn.execute(text("SELECT 42"))
        # Other services of the test session poll their outboxes meanwhile: look for ours.
        traced = [
            s
            for s in finished_spans.get_finished_spans()
            if s.attributes and s.attributes.get("db.statement") == "SELECT 42"
        ]
        assert len(traced) == 1
        assert traced[0].attributes["db.name"] == runtime.replica.url.database
    finally:
        await runtime.close()


async def test_without_a_replica_url_the_runtime_has_no_replica(data_dir: Path) -> None:
    settings = UserSettings(data_dir=data_dir)
    runtime = await ServiceRuntime.open(
        "user_svc", settings, database_url=settings.database_url, outbox_table=None
    )
    try:
        assert runtime.replica is None
    finally:
        await runtime.close()
