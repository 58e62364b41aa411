"""Fixtures for graph_svc tests: the graph rules on a fresh store, with accounts kept in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from graph_svc import domain, store
from graph_svc.settings import GraphSettings
from mesh import auth, db
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.services import migrations_dir
from shutter.events.v1 import envelope_pb2, graph_events_pb2
from tests.conftest import unique_service


class FakeDirectory:
    """user_svc's accounts in memory, recording every lookup the graph makes."""

    def __init__(self) -> None:
        self.users: dict[int, domain.UserCard] = {}
        self.lookups: list[tuple[list[int], bool]] = []
        self.forgotten: list[int] = []

    def add(self, user_id: int, *, private: bool = False) -> int:
        self.users[user_id] = domain.UserCard(
            user_id=user_id,
            username=f"user{user_id}",
            full_name=f"User {user_id}",
            profile_pic_url="",
            is_verified=False,
            is_private=private,
        )
        return user_id

    def set_private(self, user_id: int, private: bool) -> None:
        card = self.users[user_id]
        self.users[user_id] = domain.UserCard(**{**card.__dict__, "is_private": private})

    async def get_users(
        self, user_ids: Sequence[int], *, cached: bool = False
    ) -> dict[int, domain.UserCard]:
        self.lookups.append((list(user_ids), cached))
        return {i: self.users[i] for i in user_ids if i in self.users}

    def forget(self, user_id: int) -> None:
        self.forgotten.append(user_id)


@pytest.fixture
def graph_settings(data_dir: Path) -> GraphSettings:
    settings = GraphSettings(data_dir=data_dir, graph_svc_addr="127.0.0.1:0")
    auth.ensure_keys(settings)
    return settings


async def make_store(
    settings: GraphSettings, database_url: str | None
) -> tuple[store.SqlGraphStore, AsyncEngine]:
    """Return a migrated store on SQLite (None) or on its own PostgreSQL schema."""
    name = "graph_svc" if database_url is None else unique_service("graph_svc")
    engine = db.create_engine(name, settings, database_url)
    await db.migrate(engine, name, migrations_dir("graph_svc"))
    outbox = Outbox(store.outbox, producer="graph_svc", ids=IdGenerator())
    return store.SqlGraphStore(engine, outbox=outbox), engine


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
async def graph_store(graph_settings: GraphSettings) -> AsyncIterator[store.SqlGraphStore]:
    made, engine = await make_store(graph_settings, None)
    yield made
    await engine.dispose()


@pytest.fixture
def graph(graph_store: store.SqlGraphStore, directory: FakeDirectory) -> domain.Graph:
    return domain.Graph(graph_store, directory, ids=IdGenerator())


_EVENT_TYPES: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        graph_events_pb2.Followed,
        graph_events_pb2.Unfollowed,
        graph_events_pb2.FollowRequested,
        graph_events_pb2.FollowApproved,
        graph_events_pb2.FollowRequestEnded,
        graph_events_pb2.Blocked,
        graph_events_pb2.Unblocked,
        graph_events_pb2.Muted,
        graph_events_pb2.Unmuted,
    )
}


async def outbox_events(graph_store: store.SqlGraphStore) -> list[tuple[int, Any]]:
    """Return every event in the outbox, oldest first, as (aggregate_id, event message)."""
    async with graph_store.transaction() as tx:
        rows = (
            await tx.execute(
                select(store.outbox.c.aggregate_id, store.outbox.c.envelope).order_by(
                    store.outbox.c.event_id
                )
            )
        ).all()
    found = []
    for aggregate_id, raw in rows:
        envelope = envelope_pb2.EventEnvelope.FromString(raw)
        assert envelope.producer == "graph_svc" and envelope.aggregate_id == aggregate_id
        message = _EVENT_TYPES[envelope.payload.TypeName()]()
        assert envelope.payload.Unpack(message)
        found.append((aggregate_id, message))
    return found
