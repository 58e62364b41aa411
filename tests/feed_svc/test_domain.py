"""The feed rules: ranking, merging, fan-out, celebrities, consistency, rebuilds, paging."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from feed_svc import cache as keys
from feed_svc import domain, events
from feed_svc.errors import SnapshotExpired
from mesh.bus import EmbeddedBus
from mesh.config import MeshSettings
from mesh.errors import InvalidArgument
from mesh.ids import id_at
from shutter.events.v1 import envelope_pb2, post_events_pb2
from tests.feed_svc.conftest import World, feed_settings, ids, make_world

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def candidate(hours_old: float, likes: int = 0, comments: int = 0, affinity: int = 0):
    post_id = id_at(NOW - timedelta(hours=hours_old)) + ids.next_id() % 1000
    return domain.Candidate(post_id, 1, likes, comments, affinity)


# Ranking and merging


def test_newer_posts_rank_higher_when_all_else_is_equal() -> None:
    old, new = candidate(48), candidate(1)
    assert domain.rank([old, new], now=NOW) == [new.post_id, old.post_id]


def test_recency_halves_every_half_life() -> None:
    fresh, day_old = candidate(0), candidate(domain.RECENCY_HALF_LIFE_HOURS)
    ratio = domain.score(day_old, now=NOW) / domain.score(fresh, now=NOW)
    assert ratio == pytest.approx(0.5, rel=1e-3)


def test_engagement_lifts_an_older_post_over_a_newer_one() -> None:
    popular, quiet = candidate(6, likes=100, comments=20), candidate(1)
    assert domain.rank([quiet, popular], now=NOW) == [popular.post_id, quiet.post_id]


def test_comments_weigh_more_than_likes() -> None:
    liked, commented = candidate(2, likes=5), candidate(2, comments=5)
    assert domain.score(commented, now=NOW) > domain.score(liked, now=NOW)


def test_affinity_to_the_author_lifts_a_post() -> None:
    stranger, friend = candidate(3), candidate(3, affinity=10)
    assert domain.rank([stranger, friend], now=NOW)[0] == friend.post_id


def test_a_post_from_the_future_is_not_scored_above_fresh() -> None:
    future = candidate(-5)
    assert domain.score(future, now=NOW) == pytest.approx(1.0)


def test_equal_scores_put_the_newer_post_first() -> None:
    base = id_at(NOW)
    a, b = domain.Candidate(base + 1, 1, 0, 0, 0), domain.Candidate(base + 2, 1, 0, 0, 0)
    assert domain.rank([a, b], now=NOW) == [base + 2, base + 1]


def test_placing_posts_in_a_ranking_orders_them_as_rank_does() -> None:
    base = id_at(NOW)
    tied = [domain.Candidate(base + n, 1, 0, 0, 0) for n in (1, 5, 9)]  # equal scores
    others = [candidate(h, likes=h % 4, comments=h % 3, affinity=h % 2) for h in range(1, 13)]
    everyone = [*tied, *others]
    kept, new = everyone[::2], everyone[1::2]
    ranked = [str(p) for p in domain.rank(kept, now=NOW)]
    scores = sorted((domain.score(c, now=NOW) for c in kept), reverse=True)
    for post_score, post_id in domain.scored(new, now=NOW):
        domain.place(ranked, scores, post_id, post_score)
    assert [int(p) for p in ranked] == domain.rank(everyone, now=NOW)
    assert scores == sorted(scores, reverse=True)


def test_merge_newest_dedupes_and_limits() -> None:
    assert domain.merge_newest([[9, 5, 1], [8, 5, 2]], count=4) == [9, 8, 5, 2]
    assert domain.merge_newest([[], []], count=3) == []


# Fan-out on write


async def test_a_post_reaches_active_followers_and_skips_inactive_and_muting_ones(
    world: World,
) -> None:
    author, active, inactive, muting = (world.user() for _ in range(4))
    for follower in (active, inactive, muting):
        await world.follow(follower, author)
    world.graph.mutes.add((muting, author))
    for reader in (active, muting):
        await world.read(reader)  # active now, feed built
    await world.feeds.ensure_built(inactive)  # built but never read: inactive
    post = await world.post(author)
    members = {
        who: await world.redis.zrange(keys.feed_key(who), 0, -1)
        for who in (active, inactive, muting)
    }
    assert keys.member(post).encode() in members[active]
    assert members[inactive] == []  # dropped, to be rebuilt when they return
    assert keys.member(post).encode() not in members[muting]
    # The inactive follower comes back: the rebuild brings the post.
    assert await world.read(inactive) == [post]


async def test_a_feed_keeps_the_newest_max_length_posts(world: World) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    await world.read(reader)
    posts = [await world.post(author) for _ in range(33)]
    stored = await world.redis.zrange(keys.feed_key(reader), 0, -1)
    assert len(stored) == 30 + 1  # the newest 30 and the sentinel
    assert await world.read(reader) == sorted(posts, reverse=True)[:30]


async def test_fan_out_twice_lands_once(world: World) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    await world.read(reader)
    post = await world.post(author)
    await world.feeds.post_created(
        post_id=post, author_id=author, created_at=NOW, author_is_private=False
    )
    assert await world.read(reader) == [post]


async def test_celebrities_are_merged_at_read_time_not_fanned_out(world: World) -> None:
    star, reader = world.user(), world.user()
    fans = [world.user() for _ in range(3)]
    for fan in [reader, *fans]:
        await world.follow(fan, star)  # 4 followers: above the threshold of 3
    await world.read(reader)
    first = await world.post(star)  # crosses the threshold: marked a celebrity
    second = await world.post(star)
    stored = await world.redis.zrange(keys.feed_key(reader), 0, -1)
    assert keys.member(second).encode() not in stored
    assert await world.read(reader) == [second, first]
    # A rebuild keeps pulling, and a lost recent-posts list is rebuilt from the store.
    await world.redis.flushall()
    assert await world.read(reader) == [second, first]
    assert keys.member(second).encode() not in await world.redis.zrange(
        keys.feed_key(reader), 0, -1
    )


async def test_an_author_below_the_threshold_is_fanned_out(world: World) -> None:
    author, reader = world.user(), world.user()
    world.graph.counts[author] = 3  # exactly the threshold: still ordinary
    await world.follow(reader, author)
    await world.read(reader)
    post = await world.post(author)
    assert keys.member(post).encode() in await world.redis.zrange(keys.feed_key(reader), 0, -1)


# Consistency


async def test_follow_merges_recent_posts_and_unfollow_takes_them_out(world: World) -> None:
    author, other, reader = world.user(), world.user(), world.user()
    older = [await world.post(author) for _ in range(3)]
    await world.follow(reader, other)
    kept = await world.post(other)
    await world.read(reader)
    await world.follow(reader, author)
    assert await world.read(reader) == sorted([*older, kept], reverse=True)
    await world.unfollow(reader, author)
    assert await world.read(reader) == [kept]


async def test_block_and_mute_take_posts_out_of_feeds(world: World) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    await world.follow(author, reader)
    await world.read(reader)
    await world.read(author)
    theirs, mine = await world.post(author), await world.post(reader)
    await world.feeds.separated(viewer_id=reader, author_id=author)  # a mute
    assert await world.read(reader) == [mine]
    await world.feeds.forget(viewer_id=reader)  # the unmute drops the feed: rebuilt in full
    assert await world.read(reader) == [mine, theirs]
    world.graph.blocks.add((reader, author))
    world.graph.follows -= {(reader, author), (author, reader)}
    await world.feeds.separated(viewer_id=reader, author_id=author)
    await world.feeds.separated(viewer_id=author, author_id=reader)
    assert await world.read(reader) == [mine]
    assert await world.read(author) == [theirs]


async def test_a_deleted_post_disappears_from_every_feed(world: World) -> None:
    author = world.user()
    readers = [world.user() for _ in range(3)]
    for reader in readers:
        await world.follow(reader, author)
        await world.read(reader)
    post = await world.post(author)
    await world.delete(post)
    for reader in [*readers, author]:
        assert keys.member(post).encode() not in await world.redis.zrange(
            keys.feed_key(reader), 0, -1
        )
        assert await world.read(reader) == []
    await world.redis.flushall()
    assert await world.read(readers[0]) == []  # and a rebuild does not bring it back
    # A PostCreated delivered again after the deletion fans nothing out.
    await world.feeds.post_created(
        post_id=post, author_id=author, created_at=NOW, author_is_private=False
    )
    assert keys.member(post).encode() not in await world.redis.zrange(
        keys.feed_key(readers[1]), 0, -1
    )


async def test_a_private_authors_posts_show_only_to_approved_followers(world: World) -> None:
    author, follower = world.user(), world.user()
    await world.follow(follower, author)
    await world.read(follower)
    post = await world.post(author)
    world.posts.private.add(author)
    assert await world.read(follower) == [post]
    # Removed as a follower: graph_svc applies the Unfollowed event through ApplyEvents before
    # it answers (warm reads no longer ask post_svc, so that is what takes the post out).
    await world.unfollow(follower, author)
    assert await world.read(follower) == []


# Rebuilds


async def test_a_flushed_feed_is_rebuilt_the_same(world: World) -> None:
    authors = [world.user() for _ in range(3)]
    reader = world.user()
    for author in authors:
        await world.follow(reader, author)
    await world.read(reader)
    for _ in range(4):
        for author in authors:
            await world.post(author)
    before = await world.read(reader)
    assert len(before) == 12
    await world.redis.flushall()
    assert not await world.cache.is_built(reader)
    assert await world.redis.dbsize() == 0
    assert await world.read(reader) == before


async def test_concurrent_reads_of_a_missing_feed_rebuild_it_once(world: World) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    post = await world.post(author)
    world.feeds.rebuild_count = 0
    pages = await asyncio.gather(
        *(
            world.feeds.home_feed(viewer=reader, page_size=10, page_token="", mode="chronological")
            for _ in range(8)
        )
    )
    assert all([p.post_id for p in page] == [post] for page, _ in pages)
    assert world.feeds.rebuild_count == 1


async def test_a_rebuild_waits_for_another_process_holding_the_lock(world: World) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    post = await world.post(author)
    assert await world.cache.try_lock(reader, "other", ttl_seconds=5)
    world.feeds.rebuild_count = 0
    reading = asyncio.ensure_future(world.read(reader))
    await asyncio.sleep(0.15)
    assert not reading.done()
    await world.feeds.rebuild(reader)  # the other process finishes its rebuild
    await world.cache.unlock(reader, "other")
    assert await reading == [post]
    assert world.feeds.rebuild_count == 1


async def test_a_lost_feed_is_rebuilt_once_from_the_sources_and_its_lock_released(
    world: World,
) -> None:
    kept, left, muted, reader = world.user(), world.user(), world.user(), world.user()
    for author in (kept, left, muted):
        await world.follow(reader, author)
    shown = await world.post(kept)
    gone = await world.post(kept)
    await world.post(left)
    await world.post(muted)
    await world.read(reader)
    await world.unfollow(reader, left)
    world.graph.mutes.add((reader, muted))
    await world.delete(gone)
    await world.redis.flushall()
    world.feeds.rebuild_count = 0
    # Readers of the lost feed at once: one rebuild, from the follow list as it is now (no
    # unfollowed or muted account) and the projection (no deleted post); its install released
    # the lock, so the next reader after a further loss rebuilds without waiting for it.
    pages = await asyncio.gather(*(world.read(reader) for _ in range(4)))
    assert pages == [[shown]] * 4 and world.feeds.rebuild_count == 1
    assert await world.redis.exists(keys.lock_key(reader)) == 0
    await world.cache.drop([reader])
    assert await world.read(reader) == [shown] and world.feeds.rebuild_count == 2


async def test_a_cold_read_pages_the_rebuilt_feed_as_a_warm_one_would(world: World) -> None:
    # The rebuilding reader pages what it installed (not read back from Redis): the same pages,
    # cursors and merged celebrity posts as a warm read, in both modes.
    star, first, second, reader = world.user(), world.user(), world.user(), world.user()
    for fan in [reader, *(world.user() for _ in range(3))]:
        await world.follow(fan, star)
    for author in (first, second):
        await world.follow(reader, author)
    await world.read(reader)
    for _ in range(20):  # 40 posts: more than the feed keeps (30)
        for author in (first, second):
            await world.post(author)
    for _ in range(3):
        await world.post(star)
    warm = {
        mode: await world.read(reader, mode=mode, size=7) for mode in ("chronological", "ranked")
    }
    assert len(warm["chronological"]) == 33
    # Chronological, the feed lost before every page: each page is a cold read after a cursor.
    cold: list[int] = []
    token = ""
    world.feeds.rebuild_count = 0
    for _ in range(10):
        await world.redis.flushall()
        page, token = await world.feeds.home_feed(
            viewer=reader, page_size=7, page_token=token, mode="chronological"
        )
        cold.extend(p.post_id for p in page)
        if not token:
            break
    assert cold == warm["chronological"] and world.feeds.rebuild_count == 5
    await world.redis.flushall()
    ranked = await world.read(reader, mode="ranked", size=7)
    # Ranked afresh a moment later: the same posts, each once.
    assert sorted(ranked) == sorted(warm["ranked"]) and len(set(ranked)) == len(ranked)


# Pagination


async def test_chronological_pages_have_no_duplicates_or_gaps_while_posts_arrive(
    data_dir: Path,
) -> None:
    world, engine = await make_world(feed_settings(data_dir, feed_max_length=400))
    try:
        authors = [world.user() for _ in range(5)]
        reader = world.user()
        for author in authors:
            await world.follow(reader, author)
        await world.read(reader)
        posted = [await world.post(authors[i % 5]) for i in range(200)]
        seen: list[int] = []
        token = ""
        arrived: list[int] = []
        while True:
            page, token = await world.feeds.home_feed(
                viewer=reader, page_size=17, page_token=token, mode="chronological"
            )
            seen.extend(p.post_id for p in page)
            if not token:
                break
            arrived.append(await world.post(authors[len(arrived) % 5]))
        assert len(seen) == len(set(seen))
        assert seen == sorted(posted, reverse=True)
        fresh, _ = await world.feeds.home_feed(
            viewer=reader, page_size=50, page_token="", mode="chronological"
        )
        assert [p.post_id for p in fresh][: len(arrived)] == sorted(arrived, reverse=True)
    finally:
        await world.redis.aclose()
        await engine.dispose()  # type: ignore[attr-defined]


async def test_ranked_pages_come_from_one_snapshot(world: World) -> None:
    author, fan, reader = world.user(), world.user(), world.user()
    await world.follow(reader, author)
    await world.read(reader, mode="ranked")
    posts = [await world.post(author) for _ in range(12)]
    liked = posts[0]
    for n in range(5):
        await world.feeds.engaged(
            producer="post_svc",
            event_id=1000 + n,
            post_id=liked,
            author_id=author,
            actor_id=fan,
            likes=1,
            comments=0,
        )
    first, token = await world.feeds.home_feed(
        viewer=reader, page_size=5, page_token="", mode="ranked"
    )
    assert first[0].post_id == liked  # the oldest, lifted by its likes
    late = await world.post(author)
    seen = [p.post_id for p in first]
    while token:
        page, token = await world.feeds.home_feed(
            viewer=reader, page_size=5, page_token=token, mode="ranked"
        )
        seen.extend(p.post_id for p in page)
    assert sorted(seen) == sorted(posts)  # every post once, the late one not mixed in
    assert late not in seen


async def test_a_ranked_token_outliving_its_snapshot_is_refused(world: World) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    for _ in range(3):
        await world.post(author)
    _, token = await world.feeds.home_feed(viewer=reader, page_size=1, page_token="", mode="ranked")
    await world.redis.flushall()
    with pytest.raises(SnapshotExpired):
        await world.feeds.home_feed(viewer=reader, page_size=1, page_token=token, mode="ranked")
    with pytest.raises(InvalidArgument, match="another mode"):
        await world.feeds.home_feed(
            viewer=reader, page_size=1, page_token=token, mode="chronological"
        )


async def test_page_size_and_token_limits(world: World) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    for _ in range(25):
        await world.post(author)
    page, _ = await world.feeds.home_feed(
        viewer=reader, page_size=0, page_token="", mode="chronological"
    )
    assert len(page) == domain.PAGE_DEFAULT == 20
    world_settings = world.feeds._settings
    assert world_settings.feed_max_length == 30
    calls, flag_calls = len(world.posts.calls), len(world.posts.flag_calls)
    page, token = await world.feeds.home_feed(
        viewer=reader, page_size=51, page_token="", mode="chronological"
    )
    assert len(page) == 25 and token == ""  # clamped to 50; only 25 exist
    # No call to post_svc: the posts are kept, and the first page's flags fill listed every
    # flag of the reader's on recent posts, so the 5 posts it did not show (made before the
    # reader's flags existed) are known too.
    assert len(world.posts.calls) == calls
    assert world.posts.flag_calls[flag_calls:] == []
    page, token = await world.feeds.home_feed(
        viewer=reader, page_size=51, page_token="", mode="chronological"
    )
    assert len(page) == 25 and len(world.posts.calls) == calls
    assert len(world.posts.flag_calls) == flag_calls
    page, _ = await world.feeds.home_feed(viewer=reader, page_size=50, page_token="", mode="ranked")
    assert len(page) == 25
    with pytest.raises(InvalidArgument, match="page_size"):
        await world.feeds.home_feed(viewer=reader, page_size=-1, page_token="", mode="ranked")
    with pytest.raises(InvalidArgument, match="page_token"):
        await world.feeds.home_feed(viewer=reader, page_size=1, page_token="nope", mode="ranked")
    with pytest.raises(InvalidArgument, match="mode"):
        await world.feeds.home_feed(viewer=reader, page_size=1, page_token="", mode="random")


# Engagement


async def test_engagement_events_count_once(world: World) -> None:
    author, fan = world.user(), world.user()
    post = await world.post(author)
    for _ in range(3):  # the same like delivered three times
        await world.feeds.engaged(
            producer="post_svc",
            event_id=77,
            post_id=post,
            author_id=author,
            actor_id=fan,
            likes=1,
            comments=0,
        )
    await world.feeds.engaged(
        producer="other",
        event_id=77,
        post_id=post,
        author_id=author,
        actor_id=fan,
        likes=0,
        comments=1,
    )
    async with world.feeds._store.transaction() as tx:
        counts = await world.feeds._store.engagement_of(tx, post_ids=[post])
        affinity = await world.feeds._store.affinities_of(tx, viewer_id=fan, author_ids=[author])
    assert (counts[post].like_count, counts[post].comment_count) == (1, 1)
    assert affinity == {author: 2}


# Explore


async def test_explore_shows_popular_public_posts_of_strangers(world: World) -> None:
    viewer = world.user()
    followed, blocked, muted, private, stranger, quiet = (world.user() for _ in range(6))
    world.graph.follows.add((viewer, followed))
    world.graph.blocks.add((blocked, viewer))
    world.graph.mutes.add((viewer, muted))
    for author in (followed, blocked, muted):
        await world.post(author)
    await world.post(private, private=True)
    await world.post(viewer)
    popular = await world.post(stranger)
    calm = await world.post(quiet)
    await world.feeds.engaged(
        producer="post_svc",
        event_id=1,
        post_id=popular,
        author_id=stranger,
        actor_id=viewer,
        likes=1,
        comments=0,
    )
    page, token = await world.feeds.explore(viewer=viewer, page_size=1, page_token="")
    assert [p.post_id for p in page] == [popular]
    page, token = await world.feeds.explore(viewer=viewer, page_size=1, page_token=token)
    assert [p.post_id for p in page] == [calm] and token == ""
    with pytest.raises(InvalidArgument, match="page_token"):
        await world.feeds.explore(viewer=viewer, page_size=1, page_token="e30")


# The consumer


def _created(post_id: int, author: int) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(
        event_id=post_id, producer="post_svc", aggregate_id=post_id
    )
    envelope.payload.Pack(post_events_pb2.PostCreated(post_id=post_id, author_id=author))
    return envelope


async def test_a_consumer_killed_mid_fan_out_delivers_exactly_once_after_restart(
    world: World, data_dir: Path
) -> None:
    author = world.user()
    followers = [world.user() for _ in range(7)]  # 4 batches of 2
    for follower in followers:
        await world.follow(follower, author)
        await world.read(follower)
    world.graph.counts[author] = 1  # an ordinary author whatever the follow count
    settings = MeshSettings(data_dir=data_dir, bus_retry_backoff_seconds=0)
    bus = EmbeddedBus(data_dir / "bus.db", settings)
    try:
        world.graph.pause_before_batch = 2
        consumer = await bus.start_consumer(
            group=events.GROUP,
            handler=events.feed_handler(world.feeds),
            event_types=events.CONSUMED,
        )
        post = ids.next_id()
        world.posts.posts[post] = author
        await bus.publish([_created(post, author)])
        await asyncio.wait_for(world.graph.paused.wait(), 5)
        reached = [
            f
            for f in followers
            if keys.member(post).encode() in await world.redis.zrange(keys.feed_key(f), 0, -1)
        ]
        assert reached == followers[:4]  # two batches done when it died
        await consumer.stop()  # killed in the middle of the third batch
        world.graph.pause_before_batch = None
        consumer = await bus.start_consumer(
            group=events.GROUP,
            handler=events.feed_handler(world.feeds),
            event_types=events.CONSUMED,
        )
        for _ in range(200):
            stored = [await world.redis.zrange(keys.feed_key(f), 0, -1) for f in followers]
            if all(keys.member(post).encode() in s for s in stored):
                break
            await asyncio.sleep(0.02)
        await consumer.stop()
        for follower in followers:
            assert await world.read(follower) == [post]
    finally:
        await bus.close()


async def test_a_follow_leaves_an_unbuilt_feed_alone_and_its_rebuild_has_the_posts(
    world: World,
) -> None:
    author, reader = world.user(), world.user()
    post = await world.post(author)
    world.graph.follows.add((reader, author))
    world.graph.calls.clear()
    await world.feeds.followed(follower_id=reader, followee_id=author)
    assert await world.redis.exists(keys.feed_key(reader)) == 0  # nothing written, no rebuild
    assert world.graph.calls == []
    assert await world.read(reader) == [post]  # the rebuild on read brings the post


def count_rankings(world: World) -> list[list[int]]:
    """Record the ranking-fact queries the store answers from now on: the post ids of each."""
    calls: list[list[int]] = []
    store = world.feeds._store
    for name in ("ranking_facts", "current_ranking_facts"):
        original = getattr(store, name)

        async def counted(*args: object, _original: Any = original, **kwargs: Any) -> object:
            calls.append(list(kwargs["post_ids"]))
            return await _original(*args, **kwargs)

        setattr(store, name, counted)
    return calls


async def test_a_ranking_is_reused_while_its_candidates_stay_the_same(world: World) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    posts = [await world.post(author) for _ in range(3)]
    rankings = count_rankings(world)
    first = await world.read(reader, mode="ranked", size=2)
    assert first == posts[::-1] and len(rankings) == 1  # no engagement yet: newest first
    for _ in range(5):  # much engagement on the oldest post: its rank would change
        await world.feeds.engaged(
            producer="post_svc",
            event_id=ids.next_id(),
            post_id=posts[0],
            author_id=author,
            actor_id=world.user(),
            likes=1,
            comments=1,
        )
    assert await world.read(reader, mode="ranked", size=2) == first  # reused: the same order
    assert len(rankings) == 1
    newest = await world.post(author)  # a new candidate: placed at once, only its facts read
    again = await world.read(reader, mode="ranked", size=2)
    assert rankings[1:] == [[newest]]
    assert again == [newest, *first]  # the counts of the others refresh with the next ranking


async def test_a_deleted_post_leaves_the_next_ranked_page_without_a_new_ranking(
    world: World,
) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    posts = [await world.post(author) for _ in range(3)]
    rankings = count_rankings(world)
    assert await world.read(reader, mode="ranked") == posts[::-1]
    await world.delete(posts[1])  # the candidates change (checked in Redis)
    assert await world.read(reader, mode="ranked") == [posts[2], posts[0]]
    assert len(rankings) == 1  # dropped from the latest ranking: no facts to read
    assert world.feeds.derived_rankings == 1
    # The derived ranking is the latest now: the next read reuses it as it is.
    assert await world.read(reader, mode="ranked") == [posts[2], posts[0]]
    assert len(rankings) == 1 and world.feeds.derived_rankings == 1


async def test_the_oldest_post_leaving_a_full_feed_leaves_the_derived_ranking(
    world: World,
) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    await world.read(reader)
    posts = [await world.post(author) for _ in range(30)]  # feed_max_length
    assert await world.read(reader, mode="ranked") == posts[::-1]
    rankings = count_rankings(world)
    newest = await world.post(author)  # trims the oldest out of the feed
    assert await world.read(reader, mode="ranked") == [newest, *posts[:0:-1]]
    assert rankings == [[newest]] and world.feeds.derived_rankings == 1


async def test_a_ranking_kept_without_scores_ranks_everything_afresh(world: World) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    posts = [await world.post(author) for _ in range(3)]
    await world.read(reader, mode="ranked")
    # A ranking as an older layout kept it: snapshot, ids and candidates, no scores.
    key = keys.ranking_key(reader)
    value = (await world.redis.get(key)).split(b"|")
    await world.redis.set(key, b"|".join(value[:3]), ex=30)
    rankings = count_rankings(world)
    newest = await world.post(author)
    assert await world.read(reader, mode="ranked") == [newest, *posts[::-1]]
    assert [sorted(r) for r in rankings] == [sorted([*posts, newest])]
    assert world.feeds.derived_rankings == 0


async def engage(world: World, post_id: int, *, likes: int, comments: int = 0) -> None:
    """Play `likes` likes and `comments` comments on a post, each by another user."""
    author = world.posts.posts[post_id]
    for n in range(max(likes, comments)):
        await world.feeds.engaged(
            producer="post_svc",
            event_id=ids.next_id(),
            post_id=post_id,
            author_id=author,
            actor_id=world.user(),
            likes=int(n < likes),
            comments=int(n < comments),
        )


async def test_a_post_made_after_a_ranked_page_shows_at_its_ranked_place_on_the_next(
    world: World,
) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    posts = [await world.post(author) for _ in range(6)]
    await engage(world, posts[0], likes=5, comments=5)
    first = await world.read(reader, mode="ranked", size=4)
    assert first == [posts[0], *posts[:0:-1]]  # the engaged one first, then newest first
    rankings = count_rankings(world)
    late = await world.post(author)
    await engage(world, late, likes=1)  # read, not assumed zero: it lifts the post...
    await engage(world, posts[3], likes=50)  # ...while a kept post's counts wait for reuse
    pages: list[list[int]] = []
    token = ""
    while True:
        page, token = await world.feeds.home_feed(
            viewer=reader, page_size=4, page_token=token, mode="ranked"
        )
        pages.append([p.post_id for p in page])
        if not token:
            break
        await world.post(author)  # a later post never mixes into the pages being read
    assert pages[0] == [posts[0], late, posts[5], posts[4]]
    assert [p for page in pages for p in page] == [posts[0], late, *posts[:0:-1]]
    assert rankings == [[late]] and world.feeds.derived_rankings == 1


async def test_a_derived_ranking_orders_as_a_full_ranking_at_its_reference_time(
    world: World,
) -> None:
    author, other, reader = world.user(), world.user(), world.user()
    for followed in (author, other):
        await world.follow(reader, followed)
    kept = [await world.post(author if n % 2 else other) for n in range(8)]
    for n, post_id in enumerate(kept):
        await engage(world, post_id, likes=(n * 7) % 5, comments=n % 3)
    await engage(world, kept[5], likes=0, comments=2)
    await world.read(reader, mode="ranked")
    await world.delete(kept[2])
    added = [await world.post(other if n % 2 else author) for n in range(4)]
    for n, post_id in enumerate(added):
        await engage(world, post_id, likes=3 * n, comments=n % 2)
    derived = await world.read(reader, mode="ranked")
    assert world.feeds.derived_rankings == 1 and kept[2] not in derived
    _, _, _, latest = await world.cache.read_with_ranking(
        reader, before=None, count=40, seen_ttl=60, ranking=True
    )
    assert latest is not None
    reference = datetime.fromtimestamp(latest.reference / 1_000_000, UTC)
    candidates = await world.feeds._facts(reader, [*kept, *added])
    assert derived == domain.rank(candidates, now=reference)


async def test_a_ranking_past_its_reuse_time_ranks_everything_afresh(world: World) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    posts = [await world.post(author) for _ in range(3)]
    await world.read(reader, mode="ranked")
    _, _, _, latest = await world.cache.read_with_ranking(
        reader, before=None, count=40, seen_ttl=60, ranking=True
    )
    assert latest is not None
    expires = datetime.fromtimestamp(latest.expires / 1_000_000, UTC)
    await engage(world, posts[0], likes=20)
    rankings = count_rankings(world)
    # One second of reuse left: a new post is placed in the latest ranking.
    world.feeds._clock = lambda: expires - timedelta(seconds=1)
    newer = await world.post(author)
    assert await world.read(reader, mode="ranked") == [newer, *posts[::-1]]
    assert rankings == [[newer]]
    # Past it: every candidate ranks again, with the counts as they are now.
    world.feeds._clock = lambda: expires + timedelta(microseconds=1)
    newest = await world.post(author)
    assert await world.read(reader, mode="ranked") == [posts[0], newest, newer, *posts[:0:-1]]
    assert len(rankings) == 2 and sorted(rankings[1]) == sorted([*posts, newer, newest])
    assert world.feeds.derived_rankings == 1


async def test_a_ranking_with_celebrities_is_reused_while_its_candidates_stay_the_same(
    world: World,
) -> None:
    star, friend, reader = world.user(), world.user(), world.user()
    for fan in [reader, *(world.user() for _ in range(3))]:
        await world.follow(fan, star)  # above the threshold of 3: pulled at read time
    await world.follow(reader, friend)
    await world.read(reader)
    pulled, pushed = await world.post(star), await world.post(friend)
    rankings = count_rankings(world)
    first = await world.read(reader, mode="ranked")
    assert first == [pushed, pulled] and len(rankings) == 1
    assert await world.read(reader, mode="ranked") == first  # reused
    assert len(rankings) == 1
    newer = await world.post(star)  # a new pulled post changes the candidates: ranked afresh
    assert await world.read(reader, mode="ranked") == [newer, pushed, pulled]
    assert len(rankings) == 2


async def test_rankings_made_together_do_not_all_expire_together(world: World) -> None:
    author = world.user()
    readers = [world.user() for _ in range(12)]
    for reader in readers:
        await world.follow(reader, author)
    await world.post(author)
    for reader in readers:
        await world.read(reader, mode="ranked")
    reuse = world.feeds._settings.ranking_reuse_seconds
    lifetimes = [await world.redis.ttl(keys.ranking_key(reader)) for reader in readers]
    # Each lives 80-100 % of the reuse time, spread at random: no synchronized re-ranking.
    assert all(reuse * 0.8 - 1 <= ttl <= reuse for ttl in lifetimes), lifetimes
    assert len(set(lifetimes)) > 1


async def test_ranking_on_every_first_page_when_reuse_is_off(data_dir: Path) -> None:
    made, engine = await make_world(feed_settings(data_dir, ranking_reuse_seconds=0))
    try:
        author, reader = made.user(), made.user()
        await made.follow(reader, author)
        await made.post(author)
        rankings = count_rankings(made)
        for _ in range(3):
            await made.read(reader, mode="ranked")
        assert len(rankings) == 3
    finally:
        await made.redis.aclose()
        await engine.dispose()  # type: ignore[attr-defined]
