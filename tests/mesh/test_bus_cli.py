"""`shutter bus ...`: publishing outbox rows again and the dead-letter queue, as operators would."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from sqlalchemy import MetaData, func, select
from typer.testing import CliRunner

from mesh import auth, db
from mesh.cli import app
from mesh.outbox import outbox_table
from shutter.user.v1 import user_service_pb2, user_service_pb2_grpc
from user_svc.servicer import create_user_service
from user_svc.settings import UserSettings

runner = CliRunner()


async def _unpublished(settings: UserSettings) -> int:
    engine = db.create_engine("user_svc", settings, settings.database_url)
    table = outbox_table(MetaData())
    try:
        async with engine.connect() as conn:
            query = select(func.count()).where(table.c.published_at.is_(None))
            return int(await conn.scalar(query) or 0)
    finally:
        await engine.dispose()


async def _until_published(settings: UserSettings) -> None:
    for _ in range(200):
        if await _unpublished(settings) == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the relay did not publish the outbox")


async def test_republish_marks_recent_outbox_rows_for_the_relay_to_publish_again(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUTTER_DATA_DIR", str(data_dir))
    settings = UserSettings(user_svc_addr="127.0.0.1:0", argon2_memory_kib=1024, argon2_time_cost=1)
    auth.ensure_keys(settings)
    service = await create_user_service(settings)
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            await user_service_pb2_grpc.UserServiceStub(channel).Register(
                user_service_pb2.RegisterRequest(
                    username="again", email="again@example.com", password="long enough pw"
                )
            )
        await _until_published(settings)
    finally:
        await service.stop(1)

    args = ["bus", "republish", "--since", "1h", "--service", "user_svc"]
    result = await asyncio.to_thread(runner.invoke, app, args)  # the command runs its own loop
    assert result.exit_code == 0, result.output
    assert "user_svc: 1 events to publish again" in result.output
    assert await _unpublished(settings) == 1

    service = await create_user_service(settings)  # its relay publishes the row again
    try:
        await _until_published(settings)
    finally:
        await service.stop(1)


def test_republish_refuses_a_bad_duration_or_an_unknown_service() -> None:
    result = runner.invoke(app, ["bus", "republish", "--since", "an hour"])
    assert result.exit_code == 2
    assert "expected a duration such as 90s, 15m, 2h or 7d" in result.output
    result = runner.invoke(app, ["bus", "republish", "--since", "1h", "--service", "nope_svc"])
    assert result.exit_code == 2
    assert "unknown service(s) nope_svc" in result.output


def test_dead_letter_commands_need_ids_or_all_but_not_both(data_dir: Path) -> None:
    env = {"SHUTTER_DATA_DIR": str(data_dir)}
    for args in ([], ["--id", "1", "--all"]):
        for action in ("replay", "drop"):
            result = runner.invoke(
                app, ["bus", "dead-letters", action, "--group", "feed_svc", *args], env=env
            )
            assert result.exit_code == 2
            assert "name the dead letters with --id, or pass --all (not both)" in result.output
    result = runner.invoke(
        app, ["bus", "dead-letters", "drop", "--group", "feed_svc", "--all"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "feed_svc: 0 dead letters dropped" in result.output
    listed = runner.invoke(app, ["bus", "dead-letters", "list", "--group", "feed_svc"], env=env)
    assert listed.exit_code == 0 and "dead letters of feed_svc: 0" in listed.output
