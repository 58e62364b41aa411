"""post_svc's rules on a read replica holding other rows than its primary: reads of others'
posts, lists, searches and hydration come from the replica; writes, the checks before them and
an author's own grid from the primary."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import db
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.services import migrations_dir
from post_svc import domain, store
from post_svc.errors import PostNotFound
from post_svc.settings import PostSettings
from tests.post_svc.conftest import FakeDirectory, FakeGraph, FakeMedia, World
from tests.replica import make_replica, writable

SHARDS = 4


@pytest.fixture
async def replica_url(data_dir: Path) -> str:
    return await make_replica("post_svc", data_dir)


@pytest.fixture
async def world(post_settings: PostSettings, replica_url: str) -> AsyncIterator[World]:
    engine = db.create_engine("post_svc", post_settings, post_settings.database_url)
    await db.migrate(engine, "post_svc", migrations_dir("post_svc"))
    replica = db.create_replica_engine("post_svc", post_settings, replica_url)
    post_store = _store(engine, replica)
    engagement = store.SqlEngagementStore(engine, shards=SHARDS)
    posts = domain.Posts(
        post_store,
        engagement,
        privacy=FakeGraph(),
        directory=FakeDirectory(),
        media=FakeMedia(),
        ids=IdGenerator(shard=5),
    )
    yield World(posts, post_store, engagement, engine)
    await replica.dispose()
    await engine.dispose()


def _store(engine: AsyncEngine, replica: AsyncEngine | None = None) -> store.SqlPostStore:
    outbox = Outbox(store.outbox, producer="post_svc", ids=IdGenerator(shard=4))
    return store.SqlPostStore(engine, outbox=outbox, replica=replica)


async def test_reads_of_others_come_from_the_replica(
    world: World, post_settings: PostSettings, replica_url: str
) -> None:
    alice, bob = world.user("alice"), world.user("bob")
    first = (await world.post(alice, "First #sunset")).record
    # The replica: `first` with another caption and three likes, and two posts of alice's the
    # primary never had (one tagged too).
    ids, now = IdGenerator(shard=9), datetime.now(UTC)
    only_there = [
        dataclasses.replace(
            first, post_id=ids.next_id(), media_ids=(ids.next_id(),), caption=caption, hashtags=tags
        )
        for caption, tags in (("Replica #sunset", ("sunset",)), ("Replica plain", ()))
    ]
    async with writable("post_svc", post_settings, replica_url) as engine:
        on_replica = _store(engine)
        likes = store.SqlEngagementStore(engine, shards=SHARDS)
        async with on_replica.transaction() as tx:
            await on_replica.insert_post(
                tx, post=dataclasses.replace(first, caption="Seen on the replica #sunset")
            )
            for post in only_there:
                await on_replica.insert_post(tx, post=post)
            for _ in range(3):
                await likes.add_like(
                    tx, post_id=first.post_id, user_id=ids.next_id(), like_id=ids.next_id(), at=now
                )
    second = (await world.post(alice, "Second #sunset")).record  # the primary only

    seen = await world.posts.get_post(viewer=bob, post_id=first.post_id)
    assert seen.record.caption == "Seen on the replica #sunset" and seen.counts.like_count == 3
    # A post the replica does not have yet comes from the primary.
    seen = await world.posts.get_post(viewer=bob, post_id=second.post_id)
    assert seen.record.caption == "Second #sunset"
    batch = await world.posts.batch_get(
        viewer=bob, post_ids=[first.post_id, only_there[0].post_id, second.post_id]
    )
    assert [v.record.caption for v in batch] == [
        "Seen on the replica #sunset",
        "Replica #sunset",
        "Second #sunset",
    ]

    # Lists and searches: the replica's rows only.
    grid, _ = await world.posts.list_user_posts(
        viewer=bob, user_id=alice, page_size=10, page_token=""
    )
    assert sorted(v.record.post_id for v in grid) == sorted(
        [first.post_id, *(p.post_id for p in only_there)]
    )
    tagged = await world.posts.posts_by_hashtag(
        viewer=bob, tag="sunset", page_size=10, page_token=""
    )
    assert {v.record.post_id for v in tagged[1]} == {first.post_id, only_there[0].post_id}
    assert tagged[0].post_count == 2
    assert await world.posts.post_counts(user_ids=[alice]) == [(alice, 3)]

    # The author's own grid: the primary.
    grid, _ = await world.posts.list_user_posts(
        viewer=alice, user_id=alice, page_size=10, page_token=""
    )
    assert [v.record.caption for v in grid] == ["Second #sunset", "First #sunset"]

    # A like writes the primary and counts there; reading the post again reads the replica.
    assert await world.posts.like(caller=bob, post_id=first.post_id) == 1
    seen = await world.posts.get_post(viewer=bob, post_id=first.post_id)
    assert seen.counts.like_count == 3 and not seen.has_liked
    # Deleting reads the primary first: a post only the replica has is not found.
    with pytest.raises(PostNotFound):
        await world.posts.delete_post(caller=alice, post_id=only_there[1].post_id)


async def test_a_write_in_a_read_transaction_fails(
    world: World, post_settings: PostSettings, replica_url: str
) -> None:
    async with writable("post_svc", post_settings, replica_url) as replica:
        for reader in (_store(world.engine, db.read_only(replica)), _store(world.engine)):
            async with reader.transaction() as tx:  # the same write is fine on the primary
                await reader.remove_save(tx, user_id=1, post_id=2)
            with pytest.raises(DBAPIError):
                async with reader.read_transaction() as tx:
                    await reader.remove_save(tx, user_id=1, post_id=2)
