"""Fixtures for user_svc tests: the account rules on a fresh store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import auth, db
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.services import migrations_dir
from shutter.graph.v1 import graph_service_pb2 as gpb
from shutter.graph.v1 import graph_service_pb2_grpc
from tests.conftest import unique_service
from user_svc import domain, store
from user_svc.errors import MediaNotUsable
from user_svc.settings import UserSettings


@pytest.fixture
def user_settings(data_dir: Path) -> UserSettings:
    settings = UserSettings(data_dir=data_dir, user_svc_addr="127.0.0.1:0")
    auth.ensure_keys(settings)
    return settings


async def make_store(
    settings: UserSettings, database_url: str | None
) -> tuple[store.SqlUserStore, AsyncEngine]:
    """Return a migrated store on SQLite (None) or on its own PostgreSQL schema."""
    name = "user_svc" if database_url is None else unique_service("user_svc")
    engine = db.create_engine(name, settings, database_url)
    await db.migrate(engine, name, migrations_dir("user_svc"))
    return store.SqlUserStore(
        engine, outbox=Outbox(store.outbox, producer="user_svc", ids=IdGenerator())
    ), engine


class FakePictures:
    """Photos by owner: {media_id: (owner_id, thumbnail key)}; anything else is not usable."""

    def __init__(self) -> None:
        self.photos: dict[int, tuple[int, str]] = {}

    async def photo_thumbnail(self, *, owner_id: int, media_id: int) -> str:
        owner, key = self.photos.get(media_id, (None, ""))
        if owner != owner_id:
            raise MediaNotUsable.field("profile_media_id", "must be a ready photo you uploaded")
        return key


@pytest.fixture
def pictures() -> FakePictures:
    return FakePictures()


@pytest.fixture
async def accounts(
    user_settings: UserSettings, pictures: FakePictures
) -> AsyncIterator[domain.Accounts]:
    user_store, engine = await make_store(user_settings, None)
    yield domain.Accounts(
        user_store,
        issuer=auth.TokenIssuer(user_settings),
        ids=IdGenerator(),
        settings=user_settings,
        pictures=pictures,
    )
    await engine.dispose()


class _QuietGraph(graph_service_pb2_grpc.GraphServiceServicer):
    """A graph_svc where nobody follows or blocks anybody: what user_svc asks of it."""

    async def GetProfileGraph(
        self, request: gpb.GetProfileGraphRequest, context: grpc.aio.ServicerContext
    ) -> gpb.GetProfileGraphResponse:
        return gpb.GetProfileGraphResponse()

    async def GetRelationships(
        self, request: gpb.GetRelationshipsRequest, context: grpc.aio.ServicerContext
    ) -> gpb.GetRelationshipsResponse:
        return gpb.GetRelationshipsResponse()


@pytest.fixture
async def quiet_graph() -> AsyncIterator[str]:
    """Serve a graph_svc where nobody follows or blocks anybody; return its address (user_svc
    refuses what a block might hide when graph_svc cannot answer)."""
    graph = grpc.aio.server()
    graph_service_pb2_grpc.add_GraphServiceServicer_to_server(_QuietGraph(), graph)  # type: ignore[abstract]
    port = graph.add_insecure_port("127.0.0.1:0")
    await graph.start()
    yield f"127.0.0.1:{port}"
    await graph.stop(0)
