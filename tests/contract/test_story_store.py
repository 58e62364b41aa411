"""The story store, run against every backend: embedded SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.ids import IdGenerator
from post_svc import store
from post_svc.settings import PostSettings
from tests.post_svc.conftest import make_stores

ids = IdGenerator(shard=10)
T0 = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
DAY = timedelta(hours=24)


class Stores:
    def __init__(
        self, posts: store.SqlPostStore, stories: store.SqlStoryStore, engine: AsyncEngine
    ) -> None:
        self.posts = posts
        self.stories = stories
        self.engine = engine


@pytest.fixture
async def stores(data_dir: Path, database_url: str | None) -> AsyncIterator[Stores]:
    posts, _, engine = await make_stores(PostSettings(data_dir=data_dir), database_url)
    yield Stores(posts, store.SqlStoryStore(engine), engine)
    await engine.dispose()


def _story(author: int, at: datetime = T0, **changes: object) -> store.StoryRecord:
    record = store.StoryRecord(
        story_id=ids.next_id(),
        author_id=author,
        media_id=ids.next_id(),
        caption="hello @bob",
        mentions=(store.Mention(7, "bob"),),
        created_at=at,
        expires_at=at + DAY,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


async def _insert(stores: Stores, *records: store.StoryRecord) -> None:
    async with stores.posts.transaction() as tx:
        for record in records:
            await stores.stories.insert_story(tx, story=record)


async def test_a_story_reads_back_and_expires_at_its_instant(stores: Stores) -> None:
    story = _story(ids.next_id())
    await _insert(stores, story)
    async with stores.posts.transaction() as tx:
        live = await stores.stories.get_story(tx, story_id=story.story_id, now=T0 + DAY / 2)
        at_end = await stores.stories.get_story(tx, story_id=story.story_id, now=T0 + DAY)
        any_time = await stores.stories.get_story(tx, story_id=story.story_id, now=None)
        just_before = await stores.stories.list_live_stories(
            tx,
            author_id=story.author_id,
            viewer_id=None,
            now=T0 + DAY - timedelta(microseconds=1),
            after=None,
            limit=10,
        )
        expired = await stores.stories.list_expired_stories(
            tx, author_id=story.author_id, now=T0 + DAY, before=None, limit=10
        )
        not_yet = await stores.stories.list_expired_stories(
            tx, author_id=story.author_id, now=T0 + DAY / 2, before=None, limit=10
        )
    assert live == story and any_time == story and at_end is None
    assert just_before == [story] and expired == [story] and not_yet == []


async def test_media_makes_one_story(stores: Stores) -> None:
    first = _story(ids.next_id())
    await _insert(stores, first)
    async with stores.posts.transaction() as tx:
        found = await stores.posts.posted_media(tx, media_ids=[first.media_id, 12345])
    assert found == {first.media_id}
    with pytest.raises(store.Conflict):
        await _insert(stores, _story(ids.next_id(), media_id=first.media_id))
    async with stores.posts.transaction() as tx:
        assert await stores.stories.get_story(tx, story_id=first.story_id, now=None) == first


async def test_lists_page_in_order(stores: Stores) -> None:
    author = ids.next_id()
    made = [_story(author, T0 + timedelta(minutes=i)) for i in range(4)]
    await _insert(stores, *made, _story(ids.next_id()))
    now = T0 + timedelta(minutes=10)
    async with stores.posts.transaction() as tx:
        first = await stores.stories.list_live_stories(
            tx, author_id=author, viewer_id=None, now=now, after=None, limit=3
        )
        rest = await stores.stories.list_live_stories(
            tx, author_id=author, viewer_id=None, now=now, after=first[-1].story_id, limit=3
        )
        later = T0 + DAY + timedelta(minutes=2)  # the first two expired, in their order
        newest = await stores.stories.list_expired_stories(
            tx, author_id=author, now=later, before=None, limit=1
        )
        older = await stores.stories.list_expired_stories(
            tx, author_id=author, now=later, before=newest[0].story_id, limit=5
        )
    assert first + rest == made
    assert newest + older == [made[2], made[1], made[0]]


async def test_views_are_counted_once_and_listed_most_recent_first(stores: Stores) -> None:
    story, other = _story(ids.next_id()), _story(ids.next_id())
    await _insert(stores, story, other)
    viewers = [ids.next_id() for _ in range(3)]
    async with stores.posts.transaction() as tx:
        added = [
            await stores.stories.add_view(
                tx,
                story_id=story.story_id,
                viewer_id=v,
                view_id=ids.next_id(),
                at=T0 + timedelta(seconds=i),
            )
            for i, v in enumerate([*viewers, viewers[0]])
        ]
    assert added == [True, True, True, False]
    async with stores.posts.transaction() as tx:
        counts = await stores.stories.view_counts(tx, story_ids=[story.story_id, other.story_id])
        seen = await stores.stories.seen_among(
            tx, viewer_id=viewers[0], story_ids=[story.story_id, other.story_id]
        )
        first = await stores.stories.list_views(tx, story_id=story.story_id, before=None, limit=2)
        rest = await stores.stories.list_views(
            tx, story_id=story.story_id, before=first[-1][0], limit=2
        )
    assert counts == {story.story_id: 3} and seen == {story.story_id}
    assert [(u, at) for _, u, at in first + rest] == [
        (viewers[2], T0 + timedelta(seconds=2)),
        (viewers[1], T0 + timedelta(seconds=1)),
        (viewers[0], T0),
    ]


async def test_deleting_a_story_hides_it_and_forgets_its_views(stores: Stores) -> None:
    story = _story(ids.next_id())
    await _insert(stores, story)
    viewer = ids.next_id()
    async with stores.posts.transaction() as tx:
        await stores.stories.add_view(
            tx, story_id=story.story_id, viewer_id=viewer, view_id=ids.next_id(), at=T0
        )
        assert await stores.stories.delete_story(tx, story_id=story.story_id, at=T0)
        assert not await stores.stories.delete_story(tx, story_id=story.story_id, at=T0)
    async with stores.posts.transaction() as tx:
        assert await stores.stories.get_story(tx, story_id=story.story_id, now=None) is None
        assert await stores.stories.view_counts(tx, story_ids=[story.story_id]) == {}
        assert (
            await stores.stories.rings(tx, viewer_id=viewer, author_ids=[story.author_id], now=T0)
            == []
        )
        assert (
            await stores.stories.list_expired_stories(
                tx, author_id=story.author_id, now=T0 + 2 * DAY, before=None, limit=5
            )
            == []
        )
        # Its media stays used: a deleted story's media makes no new story.
        assert await stores.posts.posted_media(tx, media_ids=[story.media_id]) == {story.media_id}


async def test_rings_sum_live_stories_and_the_viewers_marks(stores: Stores) -> None:
    busy, quiet, gone, silent = (ids.next_id() for _ in range(4))
    viewer = ids.next_id()
    busy_stories = [_story(busy, T0 + timedelta(hours=h)) for h in (1, 2, 3)]
    quiet_story = _story(quiet, T0 + timedelta(hours=2))
    await _insert(stores, *busy_stories, quiet_story, _story(gone, T0 - DAY))
    async with stores.posts.transaction() as tx:
        for story in (busy_stories[0], quiet_story):
            await stores.stories.add_view(
                tx, story_id=story.story_id, viewer_id=viewer, view_id=ids.next_id(), at=T0
            )
        # Another viewer's marks do not count for this one.
        await stores.stories.add_view(
            tx,
            story_id=busy_stories[1].story_id,
            viewer_id=ids.next_id(),
            view_id=ids.next_id(),
            at=T0,
        )
    now = T0 + timedelta(hours=4)
    async with stores.posts.transaction() as tx:
        mine = await stores.stories.rings(
            tx, viewer_id=viewer, author_ids=[busy, quiet, gone, silent], now=now
        )
        anyone = await stores.stories.rings(tx, viewer_id=None, author_ids=[busy], now=now)
        none = await stores.stories.rings(tx, viewer_id=viewer, author_ids=[], now=now)
    assert sorted(mine, key=lambda r: r.story_count) == [
        store.RingRecord(quiet, 1, quiet_story.story_id, quiet_story.created_at, 1),
        store.RingRecord(busy, 3, busy_stories[2].story_id, busy_stories[2].created_at, 1),
    ]
    assert anyone == [
        store.RingRecord(busy, 3, busy_stories[2].story_id, busy_stories[2].created_at, 0)
    ]
    assert none == []


async def test_close_friends_stories_reach_the_list_only(stores: Stores) -> None:
    author, friend, other = (ids.next_id() for _ in range(3))
    public = _story(author)
    inner = _story(author, T0 + timedelta(minutes=1), close_friends_only=True)
    await _insert(stores, public, inner)
    now = T0 + timedelta(hours=1)
    async with stores.posts.transaction() as tx:
        assert await stores.stories.add_close_friend(
            tx, owner_id=author, friend_id=friend, added_id=ids.next_id(), at=T0
        )
        assert not await stores.stories.add_close_friend(
            tx, owner_id=author, friend_id=friend, added_id=ids.next_id(), at=T0
        )
        late = ids.next_id()
        assert await stores.stories.add_close_friend(
            tx, owner_id=author, friend_id=other, added_id=late, at=T0
        )
        assert await stores.stories.remove_close_friend(tx, owner_id=author, friend_id=other)
        assert not await stores.stories.remove_close_friend(tx, owner_id=author, friend_id=other)
    async with stores.posts.transaction() as tx:
        assert await stores.stories.is_close_friend(tx, owner_id=author, friend_id=friend)
        assert not await stores.stories.is_close_friend(tx, owner_id=friend, friend_id=author)
        listed = await stores.stories.list_close_friends(tx, owner_id=author, before=None, limit=5)
        seen_by = {
            viewer: await stores.stories.list_live_stories(
                tx, author_id=author, viewer_id=viewer, now=now, after=None, limit=5
            )
            for viewer in (author, friend, other, None)
        }
        rings = {
            viewer: await stores.stories.rings(tx, viewer_id=viewer, author_ids=[author], now=now)
            for viewer in (friend, other, None)
        }
    assert [f for _, f in listed] == [friend]
    assert seen_by == {
        author: [public, inner],
        friend: [public, inner],
        other: [public],
        None: [public],
    }
    assert [(r.story_count, r.latest_story_id, r.close_friends) for r in rings[friend]] == [
        (2, inner.story_id, True)
    ]
    assert [(r.story_count, r.latest_story_id, r.close_friends) for r in rings[other]] == [
        (1, public.story_id, False)
    ]
    assert rings[None] == rings[other]
