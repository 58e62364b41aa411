"""`shutter admin grant-moderator|revoke-moderator`: the role lands in user_svc's database the
mesh uses (SQLite in the data dir, or PostgreSQL on the engines), whether the mesh runs or not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mesh import auth, db
from mesh.cli import app
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.services import migrations_dir
from tests.conftest import ENGINES, _create_database, _database_url, _drop_databases
from user_svc import domain, store
from user_svc.settings import UserSettings


async def _register(settings: UserSettings, username: str) -> int:
    engine = db.create_engine("user_svc", settings, settings.database_url)
    try:
        await db.migrate(engine, "user_svc", migrations_dir("user_svc"))
        accounts = domain.Accounts(
            store.SqlUserStore(
                engine, outbox=Outbox(store.outbox, producer="user_svc", ids=IdGenerator())
            ),
            issuer=auth.TokenIssuer(settings),
            ids=IdGenerator(),
            settings=settings,
            pictures=None,  # type: ignore[arg-type]  # no profile pictures here
        )
        signed = await accounts.register(
            username=username,
            email=f"{username}@example.com",
            password="a good password",
            full_name="",
        )
        assert signed.user is not None
        return signed.user.user_id
    finally:
        await engine.dispose()


async def _is_moderator(settings: UserSettings, user_id: int) -> bool:
    engine = db.create_engine("user_svc", settings, settings.database_url)
    try:
        user_store = store.SqlUserStore(
            engine, outbox=Outbox(store.outbox, producer="user_svc", ids=IdGenerator())
        )
        async with user_store.transaction() as tx:
            found = await user_store.get_user(tx, user_id=user_id)
        assert found is not None
        return found.is_moderator
    finally:
        await engine.dispose()


def test_grant_and_revoke_moderator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"SHUTTER_DATA_DIR": str(tmp_path / "data")}
    databases = []
    if ENGINES:
        databases.append(_create_database())
        env["SHUTTER_DATABASE_URL"] = _database_url(databases[0])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        settings = UserSettings()
        auth.ensure_keys(settings)
        user_id = asyncio.run(_register(settings, "Morgan"))
        runner = CliRunner()
        granted = runner.invoke(app, ["admin", "grant-moderator", "morgan"], env=env)
        assert granted.exit_code == 0, granted.output
        assert f"(user {user_id}) is now a moderator" in granted.output
        assert asyncio.run(_is_moderator(settings, user_id)) is True
        revoked = runner.invoke(app, ["admin", "revoke-moderator", "MORGAN"], env=env)
        assert revoked.exit_code == 0, revoked.output
        assert asyncio.run(_is_moderator(settings, user_id)) is False
        unknown = runner.invoke(app, ["admin", "grant-moderator", "nobody"], env=env)
        assert unknown.exit_code == 1 and "no account is named 'nobody'" in unknown.output
    finally:
        if databases:
            _drop_databases(databases)
