"""The deletion ledger: steps run in order, each once; a step that fails stops the run, and the
next delivery of AccountDeleted resumes at that step, skipping what was recorded as done."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from mesh.deletion import DeletionLedger, Step, handler, ledger_table
from shutter.events.v1 import envelope_pb2, user_events_pb2


class Crash(Exception):
    pass


async def test_steps_run_once_and_a_failed_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    metadata = MetaData()
    table = ledger_table(metadata)
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    ledger = DeletionLedger(engine, table)
    ran: list[tuple[str, int]] = []
    failing = {"comments"}

    def step(name: str) -> Step:
        async def run(user_id: int) -> None:
            ran.append((name, user_id))
            if name in failing:
                raise Crash(name)

        return name, run

    steps = [step("posts"), step("comments"), step("likes")]
    envelope = envelope_pb2.EventEnvelope(event_id=1, producer="user_svc", aggregate_id=7)
    envelope.payload.Pack(user_events_pb2.AccountDeleted(user_id=7))
    handle = handler(ledger, steps)
    try:
        with pytest.raises(Crash):
            await handle(envelope)  # the bus would retry this delivery
        assert ran == [("posts", 7), ("comments", 7)]
        assert await ledger.done(7) == {"posts"}

        failing.clear()
        await handle(envelope)  # redelivered: posts is skipped, the rest runs
        assert ran[2:] == [("comments", 7), ("likes", 7)]
        assert await ledger.done(7) == {"posts", "comments", "likes"}

        await handle(envelope)  # a third delivery finds nothing left to do
        assert len(ran) == 4
        await ledger.record(7, "likes")  # recording again is harmless
        assert await ledger.done(8) == set()
    finally:
        await engine.dispose()


async def test_only_user_svcs_account_deleted_starts_a_deletion(tmp_path: Path) -> None:
    metadata = MetaData()
    table = ledger_table(metadata)
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    ran: list[int] = []

    async def posts(user_id: int) -> None:
        ran.append(user_id)

    handle = handler(DeletionLedger(engine, table), [("posts", posts)])
    try:
        forged = envelope_pb2.EventEnvelope(event_id=2, producer="post_svc", aggregate_id=9)
        forged.payload.Pack(user_events_pb2.AccountDeleted(user_id=9))
        other = envelope_pb2.EventEnvelope(event_id=3, producer="user_svc", aggregate_id=9)
        other.payload.Pack(user_events_pb2.UserRegistered(user_id=9))
        await handle(forged)
        await handle(other)
        assert ran == []
    finally:
        await engine.dispose()
