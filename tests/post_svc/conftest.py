"""Fixtures for post_svc tests: the post rules on a fresh store, with the graph, the accounts and
the media kept in memory by fakes that record every call."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import auth, db
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.services import migrations_dir
from post_svc import domain, store
from post_svc.settings import PostSettings
from shutter.events.v1 import envelope_pb2, post_events_pb2
from shutter.media.v1 import media_pb2
from shutter.user.v1 import user_pb2
from tests.conftest import unique_service

if TYPE_CHECKING:
    from post_svc.cassandra_store import CassandraEngagementStore

ids = IdGenerator(shard=3)

# The Cassandra cluster the engagement contract suite also runs on, read at import (the session
# fixture clears SHUTTER_* variables). These machines have none, so those runs skip, under CI=true
# too: the issue that added the Cassandra store says so.
CASSANDRA_HOSTS = os.environ.get("SHUTTER_TEST_CASSANDRA_HOSTS") or os.environ.get(
    "SHUTTER_CASSANDRA_HOSTS"
)
NO_CASSANDRA = "no Cassandra cluster reachable"
_cassandra_failure: list[str] = []  # why the cluster could not be used, once known


class FakeGraph:
    """graph_svc's privacy rule over accounts, approved follows and blocks held in memory."""

    def __init__(self) -> None:
        self.private: dict[int, bool] = {}
        self.follows: set[tuple[int, int]] = set()
        self.blocks: set[tuple[int, int]] = set()
        self.calls: list[tuple[int | None, list[int]]] = []

    async def visibility(
        self, viewer: int | None, owner_ids: Sequence[int]
    ) -> dict[int, domain.Visibility]:
        self.calls.append((viewer, list(owner_ids)))
        assert len(owner_ids) <= 100, "graph_svc answers at most 100 owners per call"
        found = {}
        for owner in owner_ids:
            if owner not in self.private:
                continue
            blocked = viewer is not None and (
                (viewer, owner) in self.blocks or (owner, viewer) in self.blocks
            )
            can_view = not blocked and (
                viewer == owner or not self.private[owner] or (viewer, owner) in self.follows
            )
            found[owner] = domain.Visibility(can_view=can_view, blocked=blocked)
        return found


class FakeDirectory:
    """user_svc's accounts in memory."""

    def __init__(self) -> None:
        self.users: dict[int, user_pb2.UserSummary] = {}
        self.calls: list[tuple[str, list[Any]]] = []

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        self.calls.append(("ids", list(user_ids)))
        return {i: self.users[i] for i in user_ids if i in self.users}

    async def by_usernames(self, usernames: Sequence[str]) -> dict[str, user_pb2.UserSummary]:
        self.calls.append(("names", list(usernames)))
        wanted = {n.lower() for n in usernames}
        return {u.username.lower(): u for u in self.users.values() if u.username.lower() in wanted}


class FakeMedia:
    """media_svc's media in memory."""

    def __init__(self) -> None:
        self.items: dict[int, media_pb2.Media] = {}
        self.deleted: list[int] = []
        self.calls: list[list[int]] = []

    def add(self, owner: int, *, ready: bool = True) -> int:
        media_id = ids.next_id()
        status = media_pb2.MEDIA_STATUS_READY if ready else media_pb2.MEDIA_STATUS_PROCESSING
        self.items[media_id] = media_pb2.Media(
            media_id=media_id,
            owner_user_id=owner,
            type=media_pb2.MEDIA_TYPE_PHOTO,
            status=status,
            variants=media_pb2.MediaVariants(feed=f"http://cdn/{media_id}/feed.jpg"),
        )
        return media_id

    async def media(
        self, media_ids: Sequence[int], *, fresh: bool = False
    ) -> dict[int, media_pb2.Media]:
        self.calls.append(list(media_ids))
        return {i: self.items[i] for i in media_ids if i in self.items}

    async def delete(self, media_id: int) -> None:
        self.deleted.append(media_id)
        self.items.pop(media_id, None)


class FakeFeed:
    """feed_svc's ApplyEvents: records the events it is told of, in order."""

    def __init__(self) -> None:
        self.applied: list[envelope_pb2.EventEnvelope] = []

    async def apply(self, events: Sequence[envelope_pb2.EventEnvelope]) -> None:
        self.applied.extend(events)

    def kinds(self) -> list[str]:
        return [e.payload.TypeName().rsplit(".", 1)[-1] for e in self.applied]


class World:
    """The post rules with their fakes, and helpers to make accounts and posts."""

    def __init__(
        self,
        posts: domain.Posts,
        post_store: store.SqlPostStore,
        engagement: store.SqlEngagementStore,
        engine: AsyncEngine,
    ) -> None:
        self.posts = posts
        self.store = post_store
        self.engagement = engagement
        self.engine = engine
        self.graph: FakeGraph = posts._audience._privacy  # type: ignore[assignment]
        self.directory: FakeDirectory = posts._directory  # type: ignore[assignment]
        self.media: FakeMedia = posts._media  # type: ignore[assignment]
        self.feed: FakeFeed = posts._feed  # type: ignore[assignment]

    def user(self, name: str = "", *, private: bool = False) -> int:
        user_id = ids.next_id()
        self.graph.private[user_id] = private
        self.directory.users[user_id] = user_pb2.UserSummary(
            user_id=user_id, username=name or f"user{user_id}", is_private=private
        )
        return user_id

    def follow(self, follower: int, followee: int) -> None:
        self.graph.follows.add((follower, followee))

    def block(self, blocker: int, blocked: int) -> None:
        self.graph.blocks.add((blocker, blocked))

    async def post(
        self,
        author: int,
        caption: str = "",
        *,
        media: int = 1,
        location: domain.LocationInput | None = None,
        key: str = "",
    ) -> domain.PostView:
        media_ids = [self.media.add(author) for _ in range(media)]
        return await self.posts.create_post(
            caller=author,
            media_ids=media_ids,
            caption=caption,
            location=location,
            idempotency_key=key,
        )


async def make_stores(
    settings: PostSettings, database_url: str | None, *, shards: int = 4
) -> tuple[store.SqlPostStore, store.SqlEngagementStore, AsyncEngine]:
    """Return migrated stores on SQLite (None) or on their own PostgreSQL schema."""
    name = "post_svc" if database_url is None else unique_service("post_svc")
    engine = db.create_engine(name, settings, database_url)
    await db.migrate(engine, name, migrations_dir("post_svc"))
    outbox = Outbox(store.outbox, producer="post_svc", ids=IdGenerator(shard=4))
    return (
        store.SqlPostStore(engine, outbox=outbox),
        store.SqlEngagementStore(engine, shards=shards),
        engine,
    )


@asynccontextmanager
async def cassandra_engagement(
    settings: PostSettings, *, shards: int = 4
) -> AsyncIterator[CassandraEngagementStore]:
    """Yield a Cassandra engagement store in a keyspace of its own, dropped afterwards; skip when
    no cluster is named or it cannot be reached."""
    if not CASSANDRA_HOSTS:
        pytest.skip(f"{NO_CASSANDRA} (SHUTTER_TEST_CASSANDRA_HOSTS is not set)")
    if _cassandra_failure:
        pytest.skip(_cassandra_failure[0])
    from post_svc.cassandra_store import CassandraEngagementStore, CassandraUnreachable

    keyspace = f"shutter_test_{uuid.uuid4().hex[:12]}"
    wanted = settings.model_copy(
        update={
            "cassandra_hosts": CASSANDRA_HOSTS,
            "cassandra_keyspace": keyspace,
            # Test clusters are often one node.
            "cassandra_replication_factor": 1,
            "counter_shards": shards,
        }
    )
    try:
        engagement = await CassandraEngagementStore.open(wanted)
    except CassandraUnreachable as exc:
        _cassandra_failure.append(f"{NO_CASSANDRA}: {exc}")
        pytest.skip(_cassandra_failure[0])
    try:
        yield engagement
    finally:
        await engagement.settle()
        await asyncio.to_thread(
            engagement._session.execute, f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60
        )
        await engagement.close()


@pytest.fixture
def post_settings(data_dir: Path) -> PostSettings:
    settings = PostSettings(data_dir=data_dir, post_svc_addr="127.0.0.1:0")
    auth.ensure_keys(settings)
    return settings


@pytest.fixture
async def world(post_settings: PostSettings) -> AsyncIterator[World]:
    async with _world(post_settings, None) as made:
        yield made


@pytest.fixture
async def backend_world(
    post_settings: PostSettings, database_url: str | None
) -> AsyncIterator[World]:
    """The world on each relational backend: embedded SQLite, then PostgreSQL."""
    async with _world(post_settings, database_url) as made:
        yield made


@asynccontextmanager
async def _world(settings: PostSettings, database_url: str | None) -> AsyncIterator[World]:
    post_store, engagement, engine = await make_stores(settings, database_url)
    posts = domain.Posts(
        post_store,
        engagement,
        privacy=FakeGraph(),
        directory=FakeDirectory(),
        media=FakeMedia(),
        ids=IdGenerator(shard=5),
        feed=FakeFeed(),
    )
    try:
        yield World(posts, post_store, engagement, engine)
    finally:
        await engine.dispose()


EVENT_TYPES: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        post_events_pb2.PostCreated,
        post_events_pb2.PostDeleted,
        post_events_pb2.PostLiked,
        post_events_pb2.PostUnliked,
        post_events_pb2.CommentCreated,
        post_events_pb2.CommentDeleted,
        post_events_pb2.UserMentioned,
        post_events_pb2.StoryCreated,
        post_events_pb2.StoryDeleted,
        post_events_pb2.PostSaved,
        post_events_pb2.PostUnsaved,
    )
}


async def outbox_events(post_store: store.SqlPostStore) -> list[tuple[int, Any]]:
    """Return every event in the outbox, oldest first, as (aggregate_id, event message)."""
    async with post_store.transaction() as tx:
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
        assert envelope.producer == "post_svc" and envelope.aggregate_id == aggregate_id
        message = EVENT_TYPES[envelope.payload.TypeName()]()
        assert envelope.payload.Unpack(message)
        found.append((aggregate_id, message))
    return found
