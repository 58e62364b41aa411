"""The story rules with fakes of graph_svc, user_svc and media_svc and a clock the tests move:
expiry exactly at 24 hours, the archive, seen marks, viewers, deletion, privacy, blocks, limits and
the story rings of a tray."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from mesh.errors import InvalidArgument
from post_svc import events, store, stories
from post_svc.errors import (
    AuthorNotFound,
    MediaAlreadyPosted,
    MediaNotFound,
    MediaNotReady,
    NotStoryAuthor,
    StoryNotFound,
)
from shutter.events.v1 import envelope_pb2, post_events_pb2
from tests.post_svc.conftest import World, ids, outbox_events

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock that stands still until a test moves it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Tray:
    world: World
    rules: stories.Stories
    clock: Clock

    async def story(self, author: int, caption: str = "") -> stories.StoryView:
        media_id = self.world.media.add(author)
        return await self.rules.create_story(caller=author, media_id=media_id, caption=caption)

    async def live_ids(self, viewer: int | None, owner: int) -> list[int]:
        views, token = await self.rules.list_user_stories(
            viewer=viewer, user_id=owner, page_size=0, page_token=""
        )
        assert token == ""
        return [v.record.story_id for v in views]


@pytest.fixture
async def tray(world: World) -> AsyncIterator[Tray]:
    clock = Clock()
    rules = stories.Stories(
        world.store,
        store.SqlStoryStore(world.engine),
        privacy=world.graph,
        directory=world.directory,
        media=world.media,
        ids=ids,
        clock=clock,
    )
    yield Tray(world, rules, clock)


async def test_a_story_expires_exactly_24_hours_after_it_is_made(tray: Tray) -> None:
    world = tray.world
    alice, bob, carol = world.user("alice"), world.user("bob"), world.user("carol")
    made = await tray.story(alice, "morning @Bob @carol @alice @nobody")
    record = made.record
    assert record.created_at == START and record.expires_at == START + timedelta(hours=24)
    assert [m.username for m in record.mentions] == ["bob", "carol", "alice"]
    assert made.seen and made.view_count == 0 and made.media is not None

    tray.clock.advance(timedelta(hours=24) - timedelta(microseconds=1))
    assert await tray.live_ids(bob, alice) == [record.story_id]
    await tray.rules.mark_seen(caller=bob, story_id=record.story_id)
    assert [r.author_id for r in await tray.rules.rings(viewer=bob, author_ids=[alice])] == [alice]
    archive, _ = await tray.rules.list_archive(caller=alice, page_size=0, page_token="")
    assert archive == []

    tray.clock.advance(timedelta(microseconds=1))
    assert await tray.live_ids(bob, alice) == []
    assert await tray.live_ids(alice, alice) == []
    with pytest.raises(StoryNotFound):
        await tray.rules.mark_seen(caller=carol, story_id=record.story_id)
    with pytest.raises(StoryNotFound):
        await tray.rules.list_viewers(
            caller=alice, story_id=record.story_id, page_size=0, page_token=""
        )
    assert await tray.rules.rings(viewer=bob, author_ids=[alice]) == []
    archive, token = await tray.rules.list_archive(caller=alice, page_size=0, page_token="")
    assert [v.record.story_id for v in archive] == [record.story_id] and token == ""
    assert archive[0].view_count == 1 and archive[0].seen

    (_, created), *rest = await outbox_events(world.store)
    assert rest == []
    assert isinstance(created, post_events_pb2.StoryCreated)
    assert created.story_id == record.story_id and created.author_id == alice
    assert list(created.mentioned_user_ids) == [bob, carol]  # not the author herself
    assert created.expires_at.ToDatetime(tzinfo=UTC) == START + timedelta(hours=24)


async def test_the_archive_is_the_owners_expired_stories_newest_first(tray: Tray) -> None:
    alice, bob = tray.world.user(), tray.world.user()
    made = []
    for _ in range(3):
        made.append((await tray.story(alice)).record.story_id)
        tray.clock.advance(timedelta(hours=1))
    await tray.story(bob)
    tray.clock.advance(timedelta(hours=22, minutes=30))  # the first two have expired
    live = await tray.story(alice)
    first, token = await tray.rules.list_archive(caller=alice, page_size=1, page_token="")
    second, end = await tray.rules.list_archive(caller=alice, page_size=1, page_token=token)
    assert [v.record.story_id for v in first + second] == [made[1], made[0]] and end == ""
    assert await tray.live_ids(alice, alice) == [made[2], live.record.story_id]
    # The archive is the caller's: bob's has nothing of alice's, and a token is tied to its list.
    assert (await tray.rules.list_archive(caller=bob, page_size=0, page_token=""))[0] == []
    with pytest.raises(InvalidArgument):
        await tray.rules.list_archive(caller=bob, page_size=1, page_token=token)
    with pytest.raises(InvalidArgument):
        await tray.rules.list_archive(caller=alice, page_size=-1, page_token="")
    # A deleted archived story leaves the archive.
    await tray.rules.delete_story(caller=alice, story_id=made[0])
    rest, _ = await tray.rules.list_archive(caller=alice, page_size=0, page_token="")
    assert [v.record.story_id for v in rest] == [made[1]]


async def test_seen_is_idempotent_and_the_owner_sees_who_saw(tray: Tray) -> None:
    world = tray.world
    alice, bob, carol, dave = (world.user() for _ in range(4))
    story_id = (await tray.story(alice)).record.story_id
    before, _ = await tray.rules.list_user_stories(
        viewer=bob, user_id=alice, page_size=0, page_token=""
    )
    assert not before[0].seen and before[0].view_count == 0
    for viewer in (bob, bob, carol, alice, dave):
        await tray.rules.mark_seen(caller=viewer, story_id=story_id)
        tray.clock.advance(timedelta(seconds=1))
    after, _ = await tray.rules.list_user_stories(
        viewer=bob, user_id=alice, page_size=0, page_token=""
    )
    assert after[0].seen and after[0].view_count == 0  # counts are the owner's to see
    own, _ = await tray.rules.list_user_stories(
        viewer=alice, user_id=alice, page_size=0, page_token=""
    )
    assert own[0].seen and own[0].view_count == 3  # bob once, carol, dave; not alice herself

    world.block(dave, alice)  # a block hides dave from the list, most recent first
    first, token = await tray.rules.list_viewers(
        caller=alice, story_id=story_id, page_size=1, page_token=""
    )
    second, end = await tray.rules.list_viewers(
        caller=alice, story_id=story_id, page_size=1, page_token=token
    )
    assert [v.user.user_id for v in first + second] == [carol, bob] and end == ""
    assert first[0].seen_at == START + timedelta(seconds=2)
    assert second[0].seen_at == START  # the first mark counts
    with pytest.raises(NotStoryAuthor):
        await tray.rules.list_viewers(caller=bob, story_id=story_id, page_size=0, page_token="")
    with pytest.raises(StoryNotFound):  # dave may not see the story, so it does not exist
        await tray.rules.list_viewers(caller=dave, story_id=story_id, page_size=0, page_token="")
    with pytest.raises(InvalidArgument):
        await tray.rules.list_viewers(caller=alice, story_id=story_id, page_size=-1, page_token="")


async def test_privacy_and_blocks(tray: Tray) -> None:
    world = tray.world
    private, public = world.user(private=True), world.user()
    follower, stranger, blocked = world.user(), world.user(), world.user()
    world.follow(follower, private)
    world.block(public, blocked)
    hidden = (await tray.story(private)).record.story_id
    shown = (await tray.story(public)).record.story_id
    assert await tray.live_ids(follower, private) == [hidden]
    assert await tray.live_ids(None, public) == [shown]
    for viewer, owner, story_id in [
        (stranger, private, hidden),
        (None, private, hidden),
        (blocked, public, shown),
        (public, blocked, None),
    ]:
        with pytest.raises(AuthorNotFound):
            await tray.live_ids(viewer, owner)
        if story_id is not None and viewer is not None:
            with pytest.raises(StoryNotFound):
                await tray.rules.mark_seen(caller=viewer, story_id=story_id)
            with pytest.raises(StoryNotFound):
                await tray.rules.delete_story(caller=viewer, story_id=story_id)
    with pytest.raises(AuthorNotFound):
        await tray.live_ids(stranger, ids.next_id())  # no such account
    with pytest.raises(NotStoryAuthor):
        await tray.rules.delete_story(caller=follower, story_id=hidden)
    rings = await tray.rules.rings(viewer=stranger, author_ids=[private, public])
    assert [r.author_id for r in rings] == [public]
    assert [r.author_id for r in await tray.rules.rings(viewer=blocked, author_ids=[public])] == []


async def test_create_story_rejects_bad_input_and_writes_nothing(tray: Tray) -> None:
    world = tray.world
    alice, bob = world.user(), world.user()
    long_ok = await tray.story(alice, "é" * 2200)
    assert len(long_ok.record.caption) == 2200
    mine, theirs = world.media.add(alice), world.media.add(bob)
    pending = world.media.add(alice, ready=False)
    posted = (await world.post(alice)).record.media_ids[0]
    storied = long_ok.record.media_id
    written = len(await outbox_events(world.store))
    for media_id, caption, error, field in [
        (mine, "é" * 2201, InvalidArgument, "caption"),
        (mine, " ".join(f"@u{i}" for i in range(21)), InvalidArgument, "caption"),
        (0, "", InvalidArgument, "media_id"),
        (-5, "", InvalidArgument, "media_id"),
        (theirs, "", MediaNotFound, "media_id"),
        (ids.next_id(), "", MediaNotFound, "media_id"),
        (pending, "", MediaNotReady, None),
        (posted, "", MediaAlreadyPosted, None),
        (storied, "", MediaAlreadyPosted, None),
    ]:
        with pytest.raises(error) as caught:
            await tray.rules.create_story(caller=alice, media_id=media_id, caption=caption)
        if field is not None:
            assert [v.field for v in caught.value.violations] == [field]
    with pytest.raises(MediaAlreadyPosted):  # a story's media makes no post either
        await world.posts.create_post(
            caller=alice, media_ids=[storied], caption="", location=None, idempotency_key=""
        )
    assert len(await outbox_events(world.store)) == written
    assert await tray.live_ids(alice, alice) == [long_ok.record.story_id]


async def test_delete_removes_a_story_everywhere(tray: Tray) -> None:
    world = tray.world
    alice, bob = world.user(), world.user()
    made = (await tray.story(alice)).record
    story_id, media_id = made.story_id, made.media_id
    await tray.rules.mark_seen(caller=bob, story_id=story_id)
    with pytest.raises(NotStoryAuthor):
        await tray.rules.delete_story(caller=bob, story_id=story_id)
    await tray.rules.delete_story(caller=alice, story_id=story_id)
    assert await tray.live_ids(bob, alice) == []
    assert await tray.rules.rings(viewer=bob, author_ids=[alice]) == []
    for call in (
        tray.rules.delete_story(caller=alice, story_id=story_id),
        tray.rules.mark_seen(caller=bob, story_id=story_id),
        tray.rules.list_viewers(caller=alice, story_id=story_id, page_size=0, page_token=""),
    ):
        with pytest.raises(StoryNotFound):
            await call
    _, deleted = (await outbox_events(world.store))[-1]
    assert isinstance(deleted, post_events_pb2.StoryDeleted)
    assert (deleted.story_id, deleted.author_id) == (story_id, alice)
    assert deleted.media_id == media_id and media_id in world.media.items
    # The clean-up consumer deletes the media once the deletion is published (twice is harmless).
    envelope = envelope_pb2.EventEnvelope(producer=events.PRODUCER)
    envelope.payload.Pack(deleted)
    handle = events.cleanup_handler(world.posts, tray.rules)
    for _ in range(2):
        await handle(envelope)
    assert world.media.deleted == [media_id, media_id] and media_id not in world.media.items


async def test_rings_sum_up_live_stories_per_author_in_request_order(tray: Tray) -> None:
    world = tray.world
    viewer = world.user()
    quiet, busy, seen_all, expired = (world.user() for _ in range(4))
    await tray.story(expired)
    tray.clock.advance(timedelta(hours=12))
    busy_ids = [(await tray.story(busy)).record.story_id for _ in range(3)]
    seen_id = (await tray.story(seen_all)).record.story_id
    own = (await tray.story(viewer)).record.story_id
    await tray.rules.mark_seen(caller=viewer, story_id=busy_ids[0])
    await tray.rules.mark_seen(caller=viewer, story_id=seen_id)
    tray.clock.advance(timedelta(hours=12))  # `expired`'s story is gone, the others live
    rings = await tray.rules.rings(
        viewer=viewer, author_ids=[seen_all, quiet, viewer, busy, expired, busy]
    )
    assert [(r.author_id, r.story_count, r.has_unseen) for r in rings] == [
        (seen_all, 1, False),
        (viewer, 1, False),
        (busy, 3, True),
    ]
    assert rings[2].latest_story_id == busy_ids[-1] and rings[1].latest_story_id == own
    assert rings[2].latest_created_at == START + timedelta(hours=12)
    # Nobody in particular has seen nothing.
    anonymous = await tray.rules.rings(viewer=None, author_ids=[seen_all])
    assert [(r.author_id, r.has_unseen) for r in anonymous] == [(seen_all, True)]


async def test_rings_take_500_authors_in_one_query_and_batched_privacy(tray: Tray) -> None:
    world = tray.world
    viewer = world.user()
    authors = [world.user() for _ in range(500)]
    for author in authors[::50]:
        await tray.story(author)
    world.graph.calls.clear()
    rings = await tray.rules.rings(viewer=viewer, author_ids=authors)
    assert [r.author_id for r in rings] == authors[::50]
    # Only the 10 authors with live stories were put to the privacy rule, in one call.
    assert len(world.graph.calls) == 1 and world.graph.calls[0][0] == viewer
    assert sorted(world.graph.calls[0][1]) == sorted(authors[::50])
    with pytest.raises(InvalidArgument):
        await tray.rules.rings(viewer=viewer, author_ids=[*authors, world.user()])
    with pytest.raises(InvalidArgument):
        await tray.rules.rings(viewer=viewer, author_ids=[0])


async def test_user_stories_page_oldest_first(tray: Tray) -> None:
    alice = tray.world.user()
    made = []
    for _ in range(3):
        made.append((await tray.story(alice)).record.story_id)
        tray.clock.advance(timedelta(minutes=1))
    first, token = await tray.rules.list_user_stories(
        viewer=alice, user_id=alice, page_size=2, page_token=""
    )
    rest, end = await tray.rules.list_user_stories(
        viewer=alice, user_id=alice, page_size=2, page_token=token
    )
    assert [v.record.story_id for v in first + rest] == made and end == ""
    for page_size, user_id in [(-1, alice), (0, 0)]:
        with pytest.raises(InvalidArgument):
            await tray.rules.list_user_stories(
                viewer=alice, user_id=user_id, page_size=page_size, page_token=""
            )


async def test_close_friends_stories_are_for_the_list_only(tray: Tray) -> None:
    world = tray.world
    alice, friend, follower, blocked = (world.user() for _ in range(4))
    world.block(alice, blocked)
    await tray.rules.add_close_friend(caller=alice, user_id=friend)
    await tray.rules.add_close_friend(caller=alice, user_id=friend)  # idempotent
    for user_id, error in [
        (alice, InvalidArgument),
        (0, InvalidArgument),
        (blocked, AuthorNotFound),
        (ids.next_id(), AuthorNotFound),
    ]:
        with pytest.raises(error):
            await tray.rules.add_close_friend(caller=alice, user_id=user_id)
    media_id = world.media.add(alice)
    inner = await tray.rules.create_story(
        caller=alice, media_id=media_id, caption="", close_friends_only=True
    )
    story_id = inner.record.story_id
    _, created = (await outbox_events(world.store))[-1]
    assert isinstance(created, post_events_pb2.StoryCreated) and created.close_friends_only

    assert await tray.live_ids(friend, alice) == [story_id]
    assert await tray.live_ids(alice, alice) == [story_id]
    assert await tray.live_ids(follower, alice) == []
    await tray.rules.mark_seen(caller=friend, story_id=story_id)
    for call in (
        tray.rules.mark_seen(caller=follower, story_id=story_id),
        tray.rules.delete_story(caller=follower, story_id=story_id),
    ):
        with pytest.raises(StoryNotFound):
            await call
    with pytest.raises(NotStoryAuthor):
        await tray.rules.delete_story(caller=friend, story_id=story_id)
    rings = await tray.rules.rings(viewer=friend, author_ids=[alice])
    assert [(r.author_id, r.close_friends, r.has_unseen) for r in rings] == [(alice, True, False)]
    assert await tray.rules.rings(viewer=follower, author_ids=[alice]) == []

    await tray.rules.remove_close_friend(caller=alice, user_id=friend)
    await tray.rules.remove_close_friend(caller=alice, user_id=friend)  # idempotent
    assert await tray.live_ids(friend, alice) == []


async def test_close_friends_list_pages_most_recent_first(tray: Tray) -> None:
    world = tray.world
    alice = world.user()
    friends = [world.user() for _ in range(3)]
    for friend in friends:
        await tray.rules.add_close_friend(caller=alice, user_id=friend)
    first, token = await tray.rules.list_close_friends(caller=alice, page_size=2, page_token="")
    rest, end = await tray.rules.list_close_friends(caller=alice, page_size=2, page_token=token)
    assert [u.user_id for u in first + rest] == friends[::-1] and end == ""
    assert (await tray.rules.list_close_friends(caller=friends[0], page_size=0, page_token=""))[
        0
    ] == []
    for page_size, page_token in [(-1, ""), (1, "bogus")]:
        with pytest.raises(InvalidArgument):
            await tray.rules.list_close_friends(
                caller=alice, page_size=page_size, page_token=page_token
            )
