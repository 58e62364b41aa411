"""feed_svc's SQL on a read replica holding other rows than its primary: ranking and explore
read the replica (and the primary for posts it does not know yet); event handling and rebuilds,
whose answers the cache keeps, read the primary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from feed_svc import domain, store
from feed_svc.settings import FeedSettings
from mesh import db
from tests.feed_svc.conftest import World, feed_settings, make_world
from tests.replica import make_replica, writable


@pytest.fixture
async def replica_url(data_dir: Path) -> str:
    return await make_replica("feed_svc", data_dir)


@pytest.fixture
async def settings(data_dir: Path) -> FeedSettings:
    return feed_settings(data_dir)


@pytest.fixture
async def world(settings: FeedSettings, replica_url: str) -> AsyncIterator[World]:
    made, engine = await make_world(settings)
    replica = db.create_replica_engine("feed_svc", settings, replica_url)
    sql = store.SqlFeedStore(engine, replica=replica)  # type: ignore[arg-type]
    feeds = domain.Feeds(made.cache, sql, made.graph, made.posts, settings)
    yield World(feeds, made.cache, made.redis)
    await made.redis.aclose()
    await replica.dispose()
    await engine.dispose()  # type: ignore[attr-defined]


async def test_ranking_and_explore_read_the_replica(
    world: World, settings: FeedSettings, replica_url: str
) -> None:
    viewer, author, stranger = world.user(), world.user(), world.user()
    await world.follow(viewer, author)
    assert await world.read(viewer) == []  # builds the feed, so that fan-out reaches it
    shown = await world.post(author)
    # The replica has `shown` live and a popular post of a stranger's the primary never had;
    # the primary then deletes `shown` (the caches still hold it).
    popular = world.user()
    world.posts.posts[popular] = stranger
    now = datetime.now(UTC)
    async with writable("feed_svc", settings, replica_url) as engine:
        on_replica = store.SqlFeedStore(engine)
        async with on_replica.transaction() as tx:
            for post_id, by in ((shown, author), (popular, stranger)):
                await on_replica.add_post(
                    tx, post_id=post_id, author_id=by, created_at=now, author_is_private=False
                )
            await on_replica.add_engagement(tx, post_id=popular, likes=5, comments=1)
    async with writable("feed_svc", settings, settings.database_url) as engine:
        on_primary = store.SqlFeedStore(engine)
        async with on_primary.transaction() as tx:
            await on_primary.delete_post(tx, post_id=shown, author_id=author, created_at=now)
    newest = await world.post(author)  # on the primary only

    # Ranked: the replica says `shown` is live; `newest`, unknown there, comes from the primary.
    assert set(await world.read(viewer, mode="ranked")) == {shown, newest}
    explored, _ = await world.feeds.explore(viewer=viewer, page_size=10, page_token="")
    assert [p.post_id for p in explored] == [popular]

    # A rebuild reads the primary: `shown` is deleted there, so the rebuilt feed lacks it.
    await world.feeds.rebuild(viewer)
    assert await world.read(viewer) == [newest]


async def test_a_write_in_a_read_transaction_fails(
    world: World, settings: FeedSettings, replica_url: str
) -> None:
    del world  # it migrated the primary
    async with (
        writable("feed_svc", settings, settings.database_url) as primary,
        writable("feed_svc", settings, replica_url) as replica,
    ):
        readers: list[Any] = [
            store.SqlFeedStore(primary, replica=db.read_only(replica)),
            store.SqlFeedStore(primary),
        ]
        for reader in readers:
            async with reader.transaction() as tx:  # the same write is fine on the primary
                await reader.add_engagement(tx, post_id=1, likes=1, comments=0)
            with pytest.raises(DBAPIError):
                async with reader.read_transaction() as tx:
                    await reader.add_engagement(tx, post_id=1, likes=1, comments=0)
