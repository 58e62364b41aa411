"""The read model home feeds are served from: warm reads ask no other service; events keep it
(counts that cannot drift, viewer flags, profiles, deleted media and posts); a lost Redis or a
cold post is read through once; ApplyEvents applies events as the bus would, at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2
from prometheus_client import REGISTRY

from feed_svc import cache as feed_cache
from feed_svc import domain, events, readmodel
from feed_svc.errors import PostNotFound
from feed_svc.readmodel import FlagsWanted, Limits, ReadModel, ViewerFlags
from mesh.ids import id_at
from shutter.events.v1 import envelope_pb2, graph_events_pb2, post_events_pb2
from shutter.feed.v1 import feed_service_pb2 as fpb
from shutter.post.v1 import post_pb2
from tests.feed_svc.conftest import World, feed_settings, ids, make_world


def envelope(event: object, *, producer: str = "post_svc") -> envelope_pb2.EventEnvelope:
    payload = any_pb2.Any()
    payload.Pack(event)  # type: ignore[arg-type]
    return envelope_pb2.EventEnvelope(
        event_id=ids.next_id(), producer=producer, aggregate_id=1, payload=payload
    )


async def like(world: World, post: int, liker: int, *, event_id: int | None = None) -> int:
    """Play one PostLiked as the bus delivers it; return its event id."""
    event = event_id or ids.next_id()
    await world.feeds.engaged(
        producer="post_svc",
        event_id=event,
        post_id=post,
        author_id=world.posts.posts[post],
        actor_id=liker,
        likes=1,
        comments=0,
    )
    world.posts.likes.add((liker, post))
    return event


async def flags_since(world: World, viewer: int, moment: datetime) -> None:
    """Make a viewer's flags look as if they were kept since `moment` (their horizon)."""
    for key in (readmodel.likes_key(viewer), readmodel.saves_key(viewer)):
        await world.redis.hset(key, "~h", f"{id_at(moment):019d}")


async def page(world: World, viewer: int) -> list[post_pb2.Post]:
    posts, _ = await world.feeds.home_feed(
        viewer=viewer, page_size=50, page_token="", mode="chronological"
    )
    return posts


async def followed_post(world: World) -> tuple[int, int, int]:
    """Return (author, reader, post): a post in the reader's built feed, read once."""
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    await world.read(reader)
    post = await world.post(author)
    assert [p.post_id for p in await page(world, reader)] == [post]
    return author, reader, post


async def test_a_warm_read_asks_no_other_service(world: World) -> None:
    author, reader, post = await followed_post(world)
    posts_calls, user_calls = len(world.posts.calls), len(world.posts.users.calls)
    for _ in range(3):
        [served] = await page(world, reader)
        assert served.post_id == post and served.user.username == f"user{author}"
        assert served.caption == f"caption of {post}"
    assert len(world.posts.calls) == posts_calls and len(world.posts.users.calls) == user_calls


async def test_a_warm_page_reads_its_authors_in_the_same_round_trip(world: World) -> None:
    authors = [world.user() for _ in range(3)]  # snowflake ids: well past a double's precision
    reader = world.user()
    for author in authors:
        await world.follow(reader, author)
    await world.read(reader)
    posts = [await world.post(a) for a in authors for _ in range(2)]
    await page(world, reader)  # warm: every author's summary kept
    mgets: list[object] = []
    original = world.views._mget

    async def counted(keys: list[str]) -> list[Any]:
        mgets.append(keys)
        return await original(keys)

    world.views._mget = counted  # type: ignore[method-assign]
    served = await page(world, reader)
    assert [p.post_id for p in served] == posts[::-1]
    assert [p.user.username for p in served] == [f"user{world.posts.posts[p]}" for p in posts[::-1]]
    # A single Redis answers the authors with the posts (one script); on a cluster the posts,
    # counts and authors are three MGETs.
    assert len(mgets) == (3 if world.views._cluster else 0)


async def test_a_new_post_is_kept_at_creation_so_followers_never_read_it_through(
    world: World,
) -> None:
    author, reader, first = await followed_post(world)
    await flags_since(world, reader, datetime.now(UTC) - timedelta(minutes=1))
    fills = world.views.fills
    post = await world.post(author)
    before = len(world.posts.calls)
    # post_created kept the post (one call, as its author); a new post is newer than the
    # reader's flags, so they are known without asking.
    assert [p.post_id for p in await page(world, reader)] == [post, first]
    assert len(world.posts.calls) == before
    assert world.views.fills == fills  # nothing read through


def created_event(
    post_id: int, author: int, *, caption: str | None = None, media: Sequence[int] = ()
) -> post_events_pb2.PostCreated:
    """A PostCreated as post_svc sends it; with `caption`, carrying its copy of the post."""
    made = post_events_pb2.PostCreated(post_id=post_id, author_id=author)
    made.created_at.FromDatetime(datetime.now(UTC))
    if caption is not None:
        made.post.post_id = post_id
        made.post.user.user_id = author
        made.post.caption = caption
        for media_id in media:
            made.post.media.add(media_id=media_id)
    return made


async def test_a_new_post_the_event_carries_is_kept_without_reading_it_back(
    world: World,
) -> None:
    author, reader, first = await followed_post(world)
    post = ids.next_id()
    world.posts.posts[post] = author
    made = created_event(post, author, caption="as post_svc answered it", media=[7])
    # Flags kept since before the post: the reads below need not ask post_svc for them.
    await flags_since(world, author, datetime.now(UTC) - timedelta(minutes=1))
    await flags_since(world, reader, datetime.now(UTC) - timedelta(minutes=1))
    calls = len(world.posts.calls)
    # ApplyEvents before post_svc answers the author, then the bus (the batch consumer).
    assert await events.sync_handler(world.feeds)(envelope(made))
    grid, _ = await world.feeds.user_posts(
        viewer=author, user_id=author, page_size=10, page_token=""
    )
    assert [(p.post_id, p.caption) for p in grid][0] == (post, "as post_svc answered it")
    assert grid[0].user.user_id == author and grid[0].user.username == f"user{author}"
    await events.feed_batch_handler(world.feeds)([envelope(made)])
    served = await page(world, reader)
    assert [p.post_id for p in served] == [post, first]
    assert (served[0].caption, [m.media_id for m in served[0].media]) == (
        "as post_svc answered it",
        [7],
    )
    assert (served[0].like_count, served[0].has_liked) == (0, False)
    assert len(world.posts.calls) == calls  # nobody read the post back from post_svc
    assert await world.views.post_of_media(7) == post  # MediaDeleted finds it


async def test_the_bus_skips_what_apply_events_did_for_a_new_post(world: World) -> None:
    author, reader, first = await followed_post(world)
    post = ids.next_id()
    world.posts.posts[post] = author
    made = envelope(created_event(post, author, caption="kept once"))
    versions = [readmodel.grid_version_key(author), readmodel.profile_version_key(author)]
    assert await events.sync_handler(world.feeds)(made)
    after_apply = await world.redis.mget(versions)
    # The bus's one-event delivery: the fan-out still happens, the read model's part does not
    # (a second time would bump the grid's version and drop the author's profile again).
    await events.feed_handler(world.feeds)(made)
    assert await world.redis.mget(versions) == after_apply
    assert [p.post_id for p in await page(world, reader)] == [post, first]
    await events.feed_batch_handler(world.feeds)([made])  # read in a batch: the same
    assert await world.redis.mget(versions) == after_apply
    # Without ApplyEvents before it, the bus's delivery does it all, as ever.
    other = ids.next_id()
    world.posts.posts[other] = author
    await events.feed_handler(world.feeds)(envelope(created_event(other, author, caption="b")))
    assert await world.redis.mget(versions) != after_apply
    grid, _ = await world.feeds.user_posts(
        viewer=author, user_id=author, page_size=10, page_token=""
    )
    assert [p.post_id for p in grid][:2] == [other, post]


async def test_an_event_without_a_copy_is_read_back_as_before(world: World) -> None:
    author, reader, first = await followed_post(world)
    copied, bare, mismatched = ids.next_id(), ids.next_id(), ids.next_id()
    for post in (copied, bare, mismatched):
        world.posts.posts[post] = author
    # A copy of another post (or of another author's) is not trusted: read back.
    wrong = created_event(mismatched, author, caption="not this post's")
    wrong.post.post_id = copied
    await flags_since(world, reader, datetime.now(UTC) - timedelta(minutes=1))
    calls = len(world.posts.calls)
    await events.feed_batch_handler(world.feeds)(
        [
            envelope(created_event(copied, author, caption="copied")),
            envelope(created_event(bare, author)),
            envelope(wrong),
        ]
    )
    served = {p.post_id: p.caption for p in await page(world, reader)}
    assert world.posts.calls[calls:] == [[bare, mismatched]]  # the read asked nothing more
    assert served == {
        copied: "copied",
        bare: f"caption of {bare}",
        mismatched: f"caption of {mismatched}",
        first: f"caption of {first}",
    }
    wrong = created_event(copied, author, caption="x")
    wrong.post.user.user_id = reader
    assert events.shared_post(wrong) is None


async def test_a_post_deleted_before_its_event_arrives_stays_gone(world: World) -> None:
    author, reader, first = await followed_post(world)
    post = ids.next_id()
    world.posts.posts[post] = author
    made = envelope(created_event(post, author, caption="soon gone"))
    apply = events.sync_handler(world.feeds)
    assert await apply(made)
    world.posts.deleted.add(post)
    assert await apply(envelope(post_events_pb2.PostDeleted(post_id=post, author_id=author)))
    # Both deliveries of the PostCreated come late (redelivered, then the bus): the copy they
    # carry never brings the post back over its tombstone.
    assert await apply(made)
    await events.feed_batch_handler(world.feeds)([made])
    await events.feed_handler(world.feeds)(made)
    assert [p.post_id for p in await page(world, reader)] == [first]
    grid, _ = await world.feeds.user_posts(
        viewer=reader, user_id=author, page_size=10, page_token=""
    )
    assert [p.post_id for p in grid] == [first]


async def test_likes_count_exactly_once_and_show_for_the_liker_only(world: World) -> None:
    author, reader, post = await followed_post(world)
    other = world.user()
    await world.follow(other, author)
    event = await like(world, post, reader)
    for _ in range(2):  # redelivered: counted once, the flag unchanged
        await like(world, post, reader, event_id=event)
    [mine] = await page(world, reader)
    [theirs] = await page(world, other)
    assert (mine.like_count, mine.has_liked) == (1, True)
    assert (theirs.like_count, theirs.has_liked) == (1, False)
    await world.feeds.engaged(
        producer="post_svc",
        event_id=ids.next_id(),
        post_id=post,
        author_id=author,
        actor_id=reader,
        likes=-1,
        comments=0,
    )
    [mine] = await page(world, reader)
    assert (mine.like_count, mine.has_liked) == (0, False)
    # The first like delivered once more, late: the unlike's newer version keeps its place.
    await like(world, post, reader, event_id=event)
    [mine] = await page(world, reader)
    assert (mine.like_count, mine.has_liked) == (0, False)


async def test_counts_keep_the_newest_version(world: World) -> None:
    _, reader, post = await followed_post(world)
    await world.views.set_counts(post, version=5, likes=7, comments=2)
    await world.views.set_counts(post, version=4, likes=1, comments=1)  # older: ignored
    [served] = await page(world, reader)
    assert (served.like_count, served.comment_count) == (7, 2)
    await world.views.set_counts(post, version=6, likes=8, comments=2)
    [served] = await page(world, reader)
    assert served.like_count == 8


async def test_reel_views_are_counted_once_per_event_and_served_with_the_post(
    world: World,
) -> None:
    author, reader, post = await followed_post(world)
    handle = events.feed_handler(world.feeds)
    viewed = envelope(
        post_events_pb2.ReelViewed(post_id=post, post_author_id=author, viewer_id=reader)
    )
    await handle(viewed)
    await handle(viewed)  # delivered twice: counted once
    await handle(
        envelope(
            post_events_pb2.ReelViewed(post_id=post, post_author_id=author, viewer_id=world.user())
        )
    )
    [served] = await page(world, reader)
    assert served.view_count == 2
    await world.redis.flushdb()  # read through: the projection kept the views
    [served] = await page(world, reader)
    assert (served.view_count, served.like_count) == (2, 0)


async def test_a_refreshed_post_replaces_a_kept_one_but_never_a_tombstone(world: World) -> None:
    _, reader, post = await followed_post(world)
    [served] = await page(world, reader)
    fresh = post_pb2.Post()
    fresh.CopyFrom(served)
    fresh.caption = "with its whole ladder"
    await world.views.refresh_post(fresh)
    [served] = await page(world, reader)
    assert served.caption == "with its whole ladder"
    await world.views.tombstone(post)
    await world.views.refresh_post(fresh)  # a late refresh does not bring a deleted post back
    assert await page(world, reader) == []
    await world.redis.delete(readmodel.post_key(post))
    await world.views.refresh_post(fresh)  # nor keeps a post nobody kept
    assert await world.redis.get(readmodel.post_key(post)) is None


async def test_counts_kept_before_views_were_counted_still_read(world: World) -> None:
    _, reader, post = await followed_post(world)
    await world.redis.set(readmodel.counts_key(post), f"{9:019d}:3:1")  # no views field
    [served] = await page(world, reader)
    assert (served.like_count, served.comment_count, served.view_count) == (3, 1, 0)


async def test_comments_and_saves_show_on_the_next_read(world: World) -> None:
    author, reader, post = await followed_post(world)
    await world.feeds.engaged(
        producer="post_svc",
        event_id=ids.next_id(),
        post_id=post,
        author_id=author,
        actor_id=reader,
        likes=0,
        comments=1,
    )
    apply = events.sync_handler(world.feeds)
    assert await apply(envelope(post_events_pb2.PostSaved(post_id=post, user_id=reader)))
    [served] = await page(world, reader)
    assert (served.comment_count, served.has_saved, served.has_liked) == (1, True, False)
    assert await apply(envelope(post_events_pb2.PostUnsaved(post_id=post, user_id=reader)))
    [served] = await page(world, reader)
    assert served.has_saved is False


async def test_a_profile_change_shows_on_served_posts(world: World) -> None:
    author, reader, post = await followed_post(world)
    world.posts.users.names[author] = "renamed"
    await world.feeds.profile_changed(user_id=author)
    posts_calls = len(world.posts.calls)
    [served] = await page(world, reader)
    assert served.user.username == "renamed"
    assert len(world.posts.calls) == posts_calls  # one key rewritten; no post read through


async def test_deleted_media_disappears_from_served_posts(world: World) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    await world.read(reader)
    post_id = ids.next_id()
    world.posts.posts[post_id] = author
    world.posts.media[post_id] = [11, 12]
    await world.feeds.post_created(
        post_id=post_id, author_id=author, created_at=datetime.now(UTC), author_is_private=False
    )
    [served] = await page(world, reader)
    assert [m.media_id for m in served.media] == [11, 12]
    world.posts.media[post_id] = [12]
    await world.feeds.media_deleted(media_id=11)
    [served] = await page(world, reader)
    assert [m.media_id for m in served.media] == [12]
    await world.feeds.media_deleted(media_id=11)  # again: nothing changes
    await world.feeds.media_deleted(media_id=999)  # media of no post kept: nothing to do
    [served] = await page(world, reader)
    assert [m.media_id for m in served.media] == [12]


async def test_a_deleted_post_is_gone_on_the_next_read_before_the_feeds_are_cleaned(
    world: World,
) -> None:
    author, reader, post = await followed_post(world)
    kept = await world.post(author)
    world.posts.deleted.add(post)
    apply = events.sync_handler(world.feeds)
    deleted = post_events_pb2.PostDeleted(post_id=post, author_id=author)
    assert await apply(envelope(deleted))  # what post_svc does before answering
    assert await world.cache.feed_ids(reader, before=None, count=10) == [kept, post]
    assert [p.post_id for p in await page(world, reader)] == [kept]
    # The bus delivers it later: the feeds are cleaned, and the read-through never brings it
    # back, even after the post's key expired.
    await world.delete(post)
    assert await world.cache.feed_ids(reader, before=None, count=10) == [kept]
    await world.redis.delete(readmodel.post_key(kept))
    assert [p.post_id for p in await page(world, reader)] == [kept]


async def test_a_block_or_unfollow_applied_through_apply_events_holds_for_the_next_read(
    world: World,
) -> None:
    author, reader, post = await followed_post(world)
    apply = events.sync_handler(world.feeds)
    world.graph.follows.discard((reader, author))
    world.graph.blocks.add((author, reader))
    assert await apply(
        envelope(graph_events_pb2.Blocked(blocker_id=author, blocked_id=reader), producer="graph")
    )
    assert await page(world, reader) == []
    other_author, other_reader, _ = await followed_post(world)
    world.graph.follows.discard((other_reader, other_author))
    assert await apply(
        envelope(
            graph_events_pb2.Unfollowed(follower_id=other_reader, followee_id=other_author),
            producer="graph",
        )
    )
    assert await page(world, other_reader) == []
    # Events feed_svc does not consume are ignored.
    assert not await apply(envelope(post_events_pb2.StoryDeleted(story_id=1), producer="x"))


async def test_reads_after_the_read_model_is_lost_are_the_same(world: World) -> None:
    author, reader, post = await followed_post(world)
    second = await world.post(author)
    other = world.user()
    await like(world, post, reader)
    await like(world, post, other)
    world.posts.saves.add((reader, second))
    await world.feeds.saved(event_id=ids.next_id(), post_id=second, user_id=reader, saved=True)
    world.posts.users.names[author] = "known"
    await world.feeds.profile_changed(user_id=author)
    before = await page(world, reader)
    await world.redis.flushall()
    after = await page(world, reader)
    assert after == before
    assert [(p.post_id, p.like_count, p.has_liked, p.has_saved) for p in after] == [
        (second, 0, False, True),
        (post, 2, True, False),
    ]
    assert after[0].user.username == "known"
    warm = len(world.posts.calls)
    assert await page(world, reader) == before  # refilled: warm again
    assert len(world.posts.calls) == warm


async def test_flags_stay_bounded(data_dir: Path) -> None:
    # Flags asked post by post (no listing), so each read adds its posts to the hash.
    settings = feed_settings(
        data_dir, read_model_flags_max_entries=10, read_model_flags_listed_days=0
    )
    made, engine = await make_world(settings)
    try:
        author, reader = made.user(), made.user()
        await made.follow(reader, author)
        old = []
        for _ in range(15):
            post_id = ids.next_id()
            made.posts.posts[post_id] = author
            old.append(post_id)
        await made.redis.delete(readmodel.likes_key(reader))
        await made.views.posts(reader, old[:8])
        assert await made.redis.hlen(readmodel.likes_key(reader)) == 9  # 8 and the horizon
        await made.views.posts(reader, old[8:])
        # Past 10 fields the hash started again with what the second read learnt.
        assert await made.redis.hlen(readmodel.likes_key(reader)) == 8
        assert await made.redis.ttl(readmodel.likes_key(reader)) > 0
    finally:
        await made.redis.aclose()
        await engine.dispose()  # type: ignore[attr-defined]


class SlowSource:
    """post_svc answering slowly, counting what it is asked."""

    def __init__(self, posts: dict[int, int]) -> None:
        self.posts = posts
        self.asked: list[int] = []

    async def shared_posts(self, post_ids: Sequence[int]) -> list[post_pb2.Post]:
        self.asked.extend(post_ids)
        await asyncio.sleep(0.1)
        return [post_pb2.Post(post_id=p, user={"user_id": self.posts[p]}) for p in post_ids]

    async def viewers_flags(self, wanted: Sequence[FlagsWanted]) -> list[ViewerFlags]:
        return [ViewerFlags(set(), set(), set()) for _ in wanted]


async def test_a_cold_post_is_read_through_once_across_processes(world: World) -> None:
    author = world.user()
    post = ids.next_id()
    source = SlowSource({post: author})
    # The waiters stop waiting as soon as the post is kept; the bounds are generous so that a
    # loaded host (one CI run: all eight asked after a stall over 1 s) does not end the wait.
    limits = Limits(
        post_ttl_seconds=600,
        author_ttl_seconds=600,
        flags_ttl_seconds=600,
        flags_max_entries=100,
        fill_lock_seconds=20.0,
        fill_wait_seconds=10.0,
    )
    # Eight "processes" on one Redis, each with its own client state; viewers whose flags are
    # known (the post is newer than their flags), so only the post itself is missing.
    models = [
        ReadModel(
            world.redis,
            source=source,
            directory=world.posts.users,
            counter=domain.ProjectionCounts(world.feeds._store),
            limits=limits,
            clock=lambda: datetime.now(UTC) - timedelta(minutes=5),
        )
        for _ in range(8)
    ]
    viewers = [world.user() for _ in models]
    for viewer in viewers:
        await flags_since(world, viewer, datetime.now(UTC) - timedelta(minutes=5))
    answers = await asyncio.gather(
        *(m.posts(v, [post]) for m, v in zip(models, viewers, strict=True))
    )
    assert [[p.post_id for p in a] for a in answers] == [[post]] * 8
    assert source.asked == [post]  # one reader asked post_svc; seven waited for it
    assert await world.redis.get(readmodel.lock_key(post)) is None  # released


async def test_a_post_pushed_by_a_fan_out_in_flight_during_a_block_is_never_served(
    world: World,
) -> None:
    author, reader, post = await followed_post(world)
    apply = events.sync_handler(world.feeds)
    world.graph.follows.discard((reader, author))
    world.graph.blocks.add((reader, author))
    block = graph_events_pb2.Blocked(blocker_id=reader, blocked_id=author)
    assert await apply(envelope(block, producer="graph"))
    assert await page(world, reader) == []
    # A fan-out that read the follower list before the block pushes the author's next post
    # after the block's clean-up: the read model still refuses to serve it.
    late = ids.next_id()
    world.posts.posts[late] = author
    for found in await world.posts.batch_get(author, [late]):
        await world.views.store_post(found)
    assert await world.cache.fan_out([reader], late) == 1
    assert await world.cache.feed_ids(reader, before=None, count=10) == [late]
    assert await page(world, reader) == []
    # Lifting the block lifts the hiding (the follow is not restored).
    world.graph.blocks.discard((reader, author))
    unblock = graph_events_pb2.Unblocked(blocker_id=reader, blocked_id=author)
    assert await apply(envelope(unblock, producer="graph"))
    assert await world.redis.smembers(readmodel.hidden_key(reader)) == set()
    assert await world.redis.smembers(readmodel.hidden_key(author)) == set()
    assert [p.post_id for p in await page(world, reader)] == [late]


async def test_post_svc_failing_at_creation_does_not_hold_up_the_fan_out(world: World) -> None:
    author, reader, first = await followed_post(world)
    original = world.posts.batch_get

    async def failing(*_args: object) -> list[post_pb2.Post]:
        raise ConnectionError("post_svc is down")

    world.posts.batch_get = failing  # type: ignore[method-assign,assignment]
    post = await world.post(author)
    assert await world.cache.feed_ids(reader, before=None, count=10) == [post, first]
    world.posts.batch_get = original  # type: ignore[method-assign]
    fills = world.views.fills
    assert [p.post_id for p in await page(world, reader)] == [post, first]
    assert world.views.fills == fills + 1  # the first reader read it through


class SlowPostList:
    """feed_svc's projection of who posted what, answering slowly and counting the asks."""

    def __init__(self, posts: dict[int, list[int]]) -> None:
        self.posts = posts
        self.asked = 0
        self.release = asyncio.Event()
        self.release.set()

    async def author_posts(self, author_id: int, *, before: int | None, limit: int) -> list[int]:
        self.asked += 1
        await self.release.wait()
        await asyncio.sleep(0.05)
        mine = sorted(self.posts.get(author_id, []), reverse=True)
        return [p for p in mine if before is None or p < before][:limit]


def _limits(**extra: Any) -> Limits:
    return Limits(
        post_ttl_seconds=600,
        author_ttl_seconds=600,
        flags_ttl_seconds=600,
        flags_max_entries=100,
        fill_lock_seconds=2.0,
        fill_wait_seconds=1.0,
        grid_posts=20,
        **extra,
    )


def _model(world: World, **parts: object) -> ReadModel:
    return ReadModel(
        world.redis,
        source=world.posts,
        directory=world.posts.users,
        counter=domain.ProjectionCounts(world.feeds._store),
        **{"graph": world.graph, "limits": _limits(), **parts},  # type: ignore[arg-type]
    )


async def test_a_cold_grid_is_filled_once_across_processes(world: World) -> None:
    author = world.user()
    made = [ids.next_id() for _ in range(30)]
    projection = SlowPostList({author: made})
    # Eight "processes" on one Redis ask for the same lost grid at once.
    models = [_model(world, post_list=projection) for _ in range(8)]
    answers = await asyncio.gather(*(m.grid_ids(author, before=None, count=12) for m in models))
    assert answers == [made[::-1][:12]] * 8
    assert projection.asked == 1  # one filler; seven waited for it
    assert sum(m.grid_fills for m in models) == 1
    # Past what the grid keeps (20), pages come from the projection; the end is the end.
    deep = await models[0].grid_ids(author, before=made[::-1][17], count=12)
    assert deep == made[::-1][18:30]
    assert await world.redis.get(readmodel.grid_lock_key(author)) is None  # released


async def test_a_grid_fill_taken_before_a_new_post_is_not_kept(world: World) -> None:
    author = world.user()
    old = ids.next_id()
    projection = SlowPostList({author: [old]})
    model = _model(world, post_list=projection)
    projection.release.clear()
    reading = asyncio.ensure_future(model.grid_ids(author, before=None, count=12))
    while projection.asked == 0:
        await asyncio.sleep(0.01)
    newer = ids.next_id()  # made while the fill read the projection (which missed it)
    projection.posts[author].append(newer)
    await model.grid_changed(author, newer, added=True)
    projection.release.set()
    assert await reading in ([old], [newer, old])  # this one read may be either
    assert await model.grid_ids(author, before=None, count=12) == [newer, old]


@pytest.mark.parametrize("whole_max", [5_000, 0], ids=["ties-whole", "per-account"])
async def test_a_relationship_fill_taken_before_a_block_is_not_kept(
    world: World, whole_max: int
) -> None:
    viewer, author = world.user(), world.user()
    gate = asyncio.Event()
    asked: list[int] = []

    class SlowGraph:
        async def ties(self, viewer_id: int, *, limit: int) -> readmodel.Ties | None:
            answer = await world.graph.ties(viewer_id, limit=limit)  # taken before the block
            asked.append(viewer_id)
            await gate.wait()
            return answer

        async def relations(self, viewer_id: int, user_ids: Sequence[int]) -> dict[int, Any]:
            answer = await world.graph.relations(viewer_id, user_ids)  # taken before the block
            asked.append(viewer_id)
            await gate.wait()
            return answer

    model = _model(world, graph=SlowGraph(), limits=_limits(relations_whole_max=whole_max))
    reading = asyncio.ensure_future(model.access(viewer, [author]))
    while not asked:
        await asyncio.sleep(0.01)
    world.graph.blocks.add((author, viewer))
    await model.relation_changed(author, viewer)  # graph_svc's ApplyEvents, before it answers
    gate.set()
    await reading  # this read raced the block: it may have allowed
    after = (await model.access(viewer, [author]))[author]
    assert after.blocked and not after.can_view
    assert len(asked) == 2  # the stale answer was not kept: graph_svc was asked again


async def test_a_viewers_ties_read_whole_answer_first_looks_at_anyone(world: World) -> None:
    viewer, friend, stranger, hidden, blocker = (world.user() for _ in range(5))
    world.posts.private.update({friend, hidden})
    world.graph.follows.add((viewer, friend))
    model = _model(world)
    first = await model.access(viewer, [friend])
    assert first[friend].can_view and world.graph.calls.count("ties") == 1
    world.graph.blocks.add((blocker, viewer))
    await model.relation_changed(blocker, viewer)  # drops the viewer's ties
    looks = await model.access(viewer, [stranger, hidden, blocker])
    assert looks[stranger].can_view and not looks[stranger].blocked
    assert not looks[hidden].can_view and not looks[hidden].blocked  # private, not followed
    assert looks[blocker].blocked and not looks[blocker].can_view
    assert world.graph.calls.count("ties") == 2 and "relations" not in world.graph.calls
    # Warm: more first looks ask graph_svc nothing.
    others = [world.user() for _ in range(5)]
    assert all(a.can_view for a in (await model.access(viewer, others)).values())
    assert world.graph.calls.count("ties") == 2
    # A follow approved later shows on the next look (the change drops the whole ties).
    world.graph.follows.add((viewer, hidden))
    await model.relation_changed(viewer, hidden, counts=True)
    assert (await model.access(viewer, [hidden]))[hidden].can_view
    # Across processes, after the change, one read filled the ties for all of them.
    assert (await _model(world).access(viewer, [world.user()])).popitem()[1].can_view
    assert world.graph.calls.count("ties") == 3


async def test_a_viewer_with_more_ties_than_the_limit_is_asked_per_account(
    world: World,
) -> None:
    viewer, author, other = world.user(), world.user(), world.user()
    world.graph.follows.update({(viewer, author), (viewer, other)})
    world.posts.private.add(author)
    model = _model(world, limits=_limits(relations_whole_max=1))
    assert (await model.access(viewer, [author]))[author].can_view
    assert world.graph.calls.count("ties") == 1 and world.graph.calls.count("relations") == 1
    assert await world.redis.exists(readmodel.ties_key(viewer)) == 0


async def test_a_cold_start_reads_each_post_once_and_each_readers_flags_once(
    world: World,
) -> None:
    author = world.user()
    readers = [world.user() for _ in range(6)]
    for reader in readers:
        await world.follow(reader, author)
        await world.read(reader)
    posts = [await world.post(author) for _ in range(5)]
    liker, saver = readers[0], readers[1]
    await like(world, posts[0], liker)
    world.posts.saves.add((saver, posts[1]))
    await world.feeds.saved(event_id=ids.next_id(), post_id=posts[1], user_id=saver, saved=True)
    await world.redis.flushall()
    calls, flag_calls = len(world.posts.calls), len(world.posts.flag_calls)
    pages = await asyncio.gather(*(page(world, r) for r in readers))
    for reader, found in zip(readers, pages, strict=True):
        assert [p.post_id for p in found] == posts[::-1]
        assert {p.post_id for p in found if p.has_liked} == (
            {posts[0]} if reader == liker else set()
        )
        assert {p.post_id for p in found if p.has_saved} == (
            {posts[1]} if reader == saver else set()
        )
        assert {p.post_id: p.like_count for p in found}[posts[0]] == 1
    # Each post read through once for all readers; each reader's flags asked once.
    asked = [p for call in world.posts.calls[calls:] for p in call]
    assert sorted(asked) == sorted(posts)
    assert sorted(v for v, _ in world.posts.flag_calls[flag_calls:]) == sorted(readers)
    # The refilled flags are kept: the next reads ask nothing, and an event still changes them.
    warm = len(world.posts.calls)
    await asyncio.gather(*(page(world, r) for r in readers))
    assert len(world.posts.calls) == warm
    assert len(world.posts.flag_calls) == flag_calls + len(readers)
    await world.feeds.engaged(
        producer="post_svc",
        event_id=ids.next_id(),
        post_id=posts[0],
        author_id=author,
        actor_id=liker,
        likes=-1,
        comments=0,
    )
    world.posts.likes.discard((liker, posts[0]))
    await like(world, posts[2], readers[2])
    mine = {p.post_id: p for p in await page(world, liker)}
    assert (mine[posts[0]].has_liked, mine[posts[0]].like_count) == (False, 0)
    theirs = {p.post_id: p for p in await page(world, readers[2])}
    assert theirs[posts[2]].has_liked and theirs[posts[2]].like_count == 1
    assert len(world.posts.flag_calls) == flag_calls + len(readers)


async def test_the_flags_of_viewers_read_at_the_same_moment_are_asked_together(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A window no loaded machine outruns: every reader below asks within it. Calls of at most
    # 4 viewers (post_svc takes 50), so a few readers show how the viewers are split.
    monkeypatch.setattr(readmodel, "FILL_BATCH_SECONDS", 0.5)
    monkeypatch.setattr(readmodel, "FLAGS_VIEWERS_MAX", 4)
    model = ReadModel(
        world.redis,
        source=world.posts,
        directory=world.posts.users,
        counter=domain.ProjectionCounts(world.feeds._store),
        limits=Limits(
            post_ttl_seconds=600,
            author_ttl_seconds=600,
            flags_ttl_seconds=600,
            flags_max_entries=100,
            fill_lock_seconds=2.0,
            fill_wait_seconds=1.0,
        ),
    )
    author = world.user()
    posts = [await world.post(author) for _ in range(3)]
    # One viewer more than a call may carry.
    readers = [world.user() for _ in range(5)]
    liker, reporter = readers[0], readers[1]
    world.posts.likes.add((liker, posts[0]))
    world.posts.reported.add((reporter, posts[1]))
    batches = len(world.posts.flag_batches)
    found = await asyncio.gather(*(model.posts(r, posts) for r in readers))
    for reader, answer in zip(readers, found, strict=True):
        shown = [p.post_id for p in answer]
        assert shown == ([posts[0], posts[2]] if reader == reporter else posts)
        assert {p.post_id for p in answer if p.has_liked} == (
            {posts[0]} if reader == liker else set()
        )
    # Two calls, not one per reader: 4 viewers and the one left over.
    asked = world.posts.flag_batches[batches:]
    assert sorted(len(b) for b in asked) == [1, 4]
    assert sorted(v for b in asked for v in b) == sorted(readers)
    assert model.flag_fills == len(readers)
    # What was asked is kept: the next reads ask nothing, the report still hides the post, and
    # a like after it shows for the liker on their next read.
    again = await asyncio.gather(*(model.posts(r, posts) for r in readers))
    assert len(world.posts.flag_batches) == batches + 2
    assert posts[1] not in {p.post_id for p in again[1]}
    assert await world.redis.smembers(readmodel.hidden_key(reporter)) == {f"p:{posts[1]}".encode()}
    await like(world, posts[2], readers[2])
    mine = {p.post_id: p.has_liked for p in await model.posts(readers[2], posts)}
    assert mine == {posts[0]: False, posts[1]: False, posts[2]: True}


async def test_a_reported_post_stays_hidden_from_its_reporter_after_the_read_model_is_lost(
    world: World,
) -> None:
    author, reader, post = await followed_post(world)
    other = world.user()
    await world.follow(other, author)
    world.posts.reported.add((reader, post))
    await world.feeds.post_hidden(viewer_id=reader, post_id=post)
    assert await page(world, reader) == []
    await world.redis.flushall()
    # The feed is rebuilt from the projection, which still holds the post: the reader's flags
    # fill learns the report and keeps it in the hidden set.
    assert [p.post_id for p in await page(world, other)] == [post]
    assert await page(world, reader) == []
    assert await world.redis.smembers(readmodel.hidden_key(reader)) == {f"p:{post}".encode()}
    assert await page(world, reader) == []


async def test_a_lost_private_post_is_read_once_and_shown_only_to_whom_may_see_it(
    world: World,
) -> None:
    author, outsider, follower = world.user(), world.user(), world.user()
    world.posts.users.private.add(author)
    await world.follow(follower, author)
    post = await world.post(author, private=True)
    await world.redis.flushall()
    calls = len(world.posts.calls)
    # Both read at once after the loss: the post is read through once, as every viewer sees
    # it, and each read applies the privacy rule itself.
    hidden, shown = await asyncio.gather(
        world.views.posts(outsider, [post], check_access=True),
        world.views.posts(follower, [post], check_access=True),
    )
    assert hidden == [] and [p.post_id for p in shown] == [post]
    assert world.posts.calls[calls:] == [[post]]
    with pytest.raises(PostNotFound):
        await world.feeds.get_post(viewer=outsider, post_id=post)
    assert (await world.feeds.get_post(viewer=follower, post_id=post)).post_id == post


async def test_a_warm_page_composed_in_redis_is_the_page_the_read_path_composes(
    world: World,
) -> None:
    author, reader, first = await followed_post(world)
    others = [world.user(), world.user()]
    for other in others:
        await world.follow(reader, other)
    liked, saved, counted, reported, gone = [await world.post(author) for _ in range(5)]
    # A post of an account the reader blocked that a fan-out in flight pushed after the block,
    # and a post the reader reported: in the feed, but hidden from the reader.
    raced = await world.post(others[0])
    await world.redis.sadd(readmodel.hidden_key(reader), f"b:{others[0]}", f"p:{reported}")
    shown = await world.post(others[1])
    await like(world, liked, reader)
    await world.feeds.saved(event_id=ids.next_id(), post_id=saved, user_id=reader, saved=True)
    world.posts.saves.add((reader, saved))
    # Counts past one byte of varint, and a view count (field 15).
    await world.views.set_counts(counted, version=10**6, likes=300, comments=2, views=70_000)
    await world.delete(gone)
    every = [first, liked, saved, counted, reported, gone, raced, shown]
    expected = await world.views.posts(reader, sorted(every, reverse=True))  # the read path
    assert [p.post_id for p in expected] == [shown, counted, saved, liked, first]
    assert [(p.like_count, p.comment_count, p.view_count) for p in expected][1] == (300, 2, 70_000)
    assert [(p.has_liked, p.has_saved) for p in expected][2:4] == [(False, True), (True, False)]
    for _ in range(2):  # the first ranked read ranks, the second reuses the ranking
        for mode in ("chronological", "ranked"):
            served, _ = await world.feeds.home_feed(
                viewer=reader, page_size=20, page_token="", mode=mode
            )
            assert sorted(served, key=lambda p: -p.post_id) == expected
    if not world.views.composes:
        return
    composed = await world.views.home_page(reader, ranked=False, seen_ttl=60, count=21, size=20)
    assert isinstance(composed, readmodel.HomePage) and not composed.more
    assert list(fpb.GetHomeFeedResponse.FromString(composed.posts).posts) == expected
    assert composed.cursor == f"{first:019d}"
    # A post no longer kept (lost, expired): not composed in Redis, read through as before.
    await world.redis.delete(readmodel.post_key(liked))
    lost = await world.views.home_page(reader, ranked=False, seen_ttl=60, count=21, size=20)
    assert not isinstance(lost, readmodel.HomePage)
    fills = world.views.fills
    assert await page(world, reader) == expected
    assert world.views.fills == fills + 1


def home_pages(outcome: str) -> float:
    """Return the chronological home feed pages counted with this outcome so far."""
    found = REGISTRY.get_sample_value(
        "shutter_feed_home_pages_total", {"mode": "chronological", "outcome": outcome}
    )
    return found or 0.0


async def test_a_page_not_composed_in_redis_is_counted_by_what_it_lacked(world: World) -> None:
    if not world.views.composes:
        return
    author, reader, post = await followed_post(world)
    lost = {
        "view": readmodel.post_key(post),
        "author": readmodel.author_key(author),
        "counts": readmodel.counts_key(post),
    }
    for outcome, key in lost.items():
        composed, lacked = home_pages("composed"), home_pages(outcome)
        assert [p.post_id for p in await page(world, reader)] == [post]
        assert home_pages("composed") == composed + 1
        await world.redis.delete(key)
        # Read the slower way, and what it lacked kept again: the next page composes.
        assert [p.post_id for p in await page(world, reader)] == [post]
        assert home_pages(outcome) == lacked + 1
        assert [p.post_id for p in await page(world, reader)] == [post]
        assert home_pages("composed") == composed + 2
    unbuilt = home_pages("unbuilt")
    await world.redis.delete(feed_cache.feed_key(reader))
    assert [p.post_id for p in await page(world, reader)] == [post]
    assert home_pages("unbuilt") == unbuilt + 1


async def test_composed_pages_page_as_before(world: World) -> None:
    author, reader, first = await followed_post(world)
    posts = [first, *[await world.post(author) for _ in range(4)]][::-1]
    for mode in ("chronological", "ranked"):
        for _ in range(2):  # the ranked mode: ranked, then reused (composed in Redis)
            found: list[int] = []
            token = ""
            while True:
                page_posts, token = await world.feeds.home_feed(
                    viewer=reader, page_size=2, page_token=token, mode=mode
                )
                found += [p.post_id for p in page_posts]
                if not token:
                    break
            assert sorted(found, reverse=True) == posts and len(found) == len(posts)


def _older_posts(world: World, author: int, count: int, *, age: timedelta) -> list[int]:
    """Make posts as if published `age` ago (before any flags hash of now), newest first."""
    moment = datetime.now(UTC) - age
    made = [id_at(moment) + i for i in range(count)]
    for post_id in made:
        world.posts.posts[post_id] = author
    return made[::-1]


async def test_a_viewers_first_flags_fill_lists_their_recent_flags_once(world: World) -> None:
    author, reader = world.user(), world.user()
    older = _older_posts(world, author, 8, age=timedelta(days=2))
    world.posts.likes.add((reader, older[1]))
    world.posts.saves.add((reader, older[5]))
    world.posts.reported.add((reader, older[6]))
    model = _model(world)
    first = await model.posts(reader, older[:3])
    assert [(p.post_id, p.has_liked) for p in first] == [
        (older[0], False),
        (older[1], True),
        (older[2], False),
    ]
    assert len(world.posts.flag_calls) == 1
    # The fill listed every flag of the reader's from two days back: posts it did not ask
    # about are known now, and a reported one is never served.
    rest = await model.posts(reader, older[3:])
    assert [(p.post_id, p.has_saved) for p in rest] == [
        (older[3], False),
        (older[4], False),
        (older[5], True),
        (older[7], False),
    ]
    assert len(world.posts.flag_calls) == 1
    # Another process reads the same hashes: nothing to ask either.
    assert [p.post_id for p in await _model(world).posts(reader, older)] == [
        p for p in older if p != older[6]
    ]
    assert len(world.posts.flag_calls) == 1
    # A like after the fill still shows through its event.
    await like(world, older[4], reader)
    assert [p.has_liked for p in await model.posts(reader, [older[4]])] == [True]
    assert len(world.posts.flag_calls) == 1


async def test_flags_older_than_the_listed_time_are_still_asked_post_by_post(
    world: World,
) -> None:
    author, reader = world.user(), world.user()
    recent = _older_posts(world, author, 2, age=timedelta(days=1))
    ancient = _older_posts(world, author, 2, age=timedelta(days=45))
    world.posts.likes.add((reader, ancient[0]))
    model = _model(world)
    await model.posts(reader, recent)
    assert len(world.posts.flag_calls) == 1
    # 45 days back is past the 30 days listed: the hash cannot tell, post_svc is asked.
    found = await model.posts(reader, ancient)
    assert [(p.post_id, p.has_liked) for p in found] == [(ancient[0], True), (ancient[1], False)]
    assert world.posts.flag_calls[1:] == [(reader, ancient)]
    await model.posts(reader, [*recent, *ancient])
    assert len(world.posts.flag_calls) == 2


async def test_without_a_list_from_post_svc_flags_are_asked_post_by_post(world: World) -> None:
    # post_svc with its likes in Cassandra lists nothing (listed_since 0).
    world.posts.lists_flags = False
    author, reader = world.user(), world.user()
    older = _older_posts(world, author, 4, age=timedelta(days=2))
    world.posts.likes.add((reader, older[3]))
    model = _model(world)
    await model.posts(reader, older[:2])
    found = await model.posts(reader, older[2:])
    assert [(p.post_id, p.has_liked) for p in found] == [(older[2], False), (older[3], True)]
    assert world.posts.flag_calls == [(reader, older[:2]), (reader, older[2:])]


async def test_a_like_applied_while_a_listing_fill_is_in_flight_is_kept(world: World) -> None:
    author, reader = world.user(), world.user()
    older = _older_posts(world, author, 3, age=timedelta(days=2))
    asked = world.posts.viewers_flags

    async def like_during_the_fill(wanted: Sequence[FlagsWanted]) -> list[ViewerFlags]:
        answer = await asked(wanted)  # read before the like committed: it is not listed
        await like(world, older[2], reader)
        return answer

    world.posts.viewers_flags = like_during_the_fill  # type: ignore[method-assign]
    model = _model(world)
    await model.posts(reader, older[:1])
    world.posts.viewers_flags = asked  # type: ignore[method-assign]
    assert [p.has_liked for p in await model.posts(reader, [older[2]])] == [True]


async def test_a_listing_lowers_the_horizon_only_of_the_hash_its_reader_saw(world: World) -> None:
    model = _model(world)
    key = readmodel.likes_key(world.user())
    now, lowered = "0" * 10 + "9" * 9, "0" * 10 + "1" * 9
    script = model._flags

    async def fill(seen: str, *pairs: str) -> bytes:
        await script(keys=[key], args=["w", now, 600, 4, seen, lowered, *pairs])
        return bytes(await world.redis.hget(key, readmodel.HORIZON))

    # No hash when read, none now: made with the list's horizon.
    assert await fill("", "7", "1") == lowered.encode()
    # A hash made since the read (by an event): its horizon stays.
    await world.redis.hset(key, readmodel.HORIZON, now)
    assert await fill("", "8", "0") == now.encode()
    # The hash the reader saw: lowered.
    assert await fill(now, "9", "0") == lowered.encode()
    # Past the maximum size the hash starts again: the list's horizon is not taken.
    assert await fill(lowered, "10", "1", "11", "1") == now.encode()
    assert await world.redis.hget(key, "7") is None
