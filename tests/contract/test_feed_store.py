"""feed_svc's store on every backend: event dedupe, the post projection, engagement and affinity
counts that never go below zero, popularity order, and sticky celebrity marks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feed_svc import store
from feed_svc.settings import FeedSettings
from mesh import db
from mesh.services import migrations_dir
from tests.conftest import unique_service

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
A, B, C = 11, 12, 13


@pytest.fixture
async def feed_store(data_dir: Path, database_url: str | None) -> AsyncIterator[store.SqlFeedStore]:
    name = "feed_svc" if database_url is None else unique_service("feed_svc")
    engine = db.create_engine(name, FeedSettings(data_dir=data_dir), database_url)
    await db.migrate(engine, name, migrations_dir("feed_svc"))
    yield store.SqlFeedStore(engine)
    await engine.dispose()


async def _add(s: store.SqlFeedStore, post_id: int, author: int, *, private: bool = False) -> None:
    async with s.transaction() as tx:
        await s.add_post(
            tx, post_id=post_id, author_id=author, created_at=NOW, author_is_private=private
        )


async def test_an_event_is_claimed_once_per_producer(feed_store: store.SqlFeedStore) -> None:
    async with feed_store.transaction() as tx:
        assert await feed_store.claim_event(tx, producer="post_svc", event_id=5)
        assert not await feed_store.claim_event(tx, producer="post_svc", event_id=5)
        assert await feed_store.claim_event(tx, producer="graph_svc", event_id=5)
    with pytest.raises(RuntimeError):
        async with feed_store.transaction() as tx:
            assert await feed_store.claim_event(tx, producer="post_svc", event_id=6)
            raise RuntimeError("rolled back")
    async with feed_store.transaction() as tx:
        assert await feed_store.claim_event(tx, producer="post_svc", event_id=6)


async def test_recent_posts_are_newest_first_live_and_limited(
    feed_store: store.SqlFeedStore,
) -> None:
    for post_id, author in ((1, A), (2, B), (3, A), (4, C), (5, B), (6, A)):
        await _add(feed_store, post_id, author)
    async with feed_store.transaction() as tx:
        await feed_store.delete_post(tx, post_id=5, author_id=B, created_at=NOW)
        # Deleted before its PostCreated arrived: recorded as deleted.
        await feed_store.delete_post(tx, post_id=7, author_id=C, created_at=NOW)
    async with feed_store.transaction() as tx:
        # A late or repeated PostCreated does not bring a deleted post back.
        for post_id, author in ((5, B), (7, C)):
            assert not await feed_store.add_post(
                tx, post_id=post_id, author_id=author, created_at=NOW, author_is_private=False
            )
        assert await feed_store.add_post(
            tx, post_id=6, author_id=A, created_at=NOW, author_is_private=False
        )
    # What a PostCreated asks (once as post_svc answers, once from the bus): the same answers,
    # and whether the author is a celebrity.
    assert await feed_store.record_post(
        post_id=7, author_id=C, created_at=NOW, author_is_private=False
    ) == (False, False)
    assert await feed_store.record_post(
        post_id=8, author_id=C, created_at=NOW, author_is_private=False
    ) == (True, False)
    async with feed_store.transaction() as tx:
        await feed_store.mark_celebrity(tx, author_id=C)
    for _ in range(2):  # a new post, then its repeated delivery
        assert await feed_store.record_post(
            post_id=9, author_id=C, created_at=NOW, author_is_private=False
        ) == (True, True)
    async with feed_store.transaction() as tx:
        recent = await feed_store.recent_posts(tx, author_ids=[A, B], limit=3)
        every = await feed_store.recent_posts(tx, author_ids=[A, B, C], limit=100)
        authors = await feed_store.authors_of(tx, post_ids=[1, 4, 5, 6, 7, 77])
    assert recent == [store.PostRef(6, A), store.PostRef(3, A), store.PostRef(2, B)]
    assert [p.post_id for p in every] == [9, 8, 6, 4, 3, 2, 1]
    assert authors == {1: A, 4: C, 6: A}


async def test_counts_add_up_and_never_go_below_zero(feed_store: store.SqlFeedStore) -> None:
    async with feed_store.transaction() as tx:
        await feed_store.add_engagement(tx, post_id=1, likes=-1, comments=0)
        await feed_store.add_engagement(tx, post_id=1, likes=1, comments=2)
        await feed_store.add_engagement(tx, post_id=1, likes=1, comments=-5)
        await feed_store.add_affinity(tx, viewer_id=A, author_id=B, delta=3)
        await feed_store.add_affinity(tx, viewer_id=A, author_id=B, delta=-1)
        await feed_store.add_affinity(tx, viewer_id=A, author_id=C, delta=-4)
    async with feed_store.transaction() as tx:
        counts = await feed_store.engagement_of(tx, post_ids=[1, 2])
        affinity = await feed_store.affinities_of(tx, viewer_id=A, author_ids=[B, C, 99])
    # Three changes: version 3 (what the read model's copy of the counts is ordered by).
    assert counts == {1: store.Engagement(1, 2, 0, 3)}
    assert affinity == {B: 2, C: 0}


async def test_ranking_facts_join_author_counts_and_affinity_of_live_posts(
    feed_store: store.SqlFeedStore,
) -> None:
    for post_id, author in ((1, B), (2, C), (3, B)):
        await _add(feed_store, post_id, author)
    async with feed_store.transaction() as tx:
        await feed_store.add_engagement(tx, post_id=1, likes=4, comments=1)
        await feed_store.add_affinity(tx, viewer_id=A, author_id=B, delta=2)
        await feed_store.add_affinity(tx, viewer_id=C, author_id=C, delta=9)  # another viewer's
        await feed_store.delete_post(tx, post_id=3, author_id=B, created_at=NOW)
    async with feed_store.transaction() as tx:
        facts = await feed_store.ranking_facts(tx, viewer_id=A, post_ids=[1, 2, 3, 99, 1])
        none = await feed_store.ranking_facts(tx, viewer_id=A, post_ids=[])
    assert facts == {
        1: store.RankingFacts(1, B, like_count=4, comment_count=1, affinity=2),
        2: store.RankingFacts(2, C, like_count=0, comment_count=0, affinity=0),
    }
    assert none == {}
    # The same facts of the primary outside a transaction (a derived ranking's new posts).
    assert await feed_store.current_ranking_facts(viewer_id=A, post_ids=[1, 2, 3, 99]) == facts
    assert await feed_store.current_ranking_facts(viewer_id=A, post_ids=[]) == {}


async def test_popular_posts_are_public_recent_and_most_engaged_first(
    feed_store: store.SqlFeedStore,
) -> None:
    for post_id, author in ((10, A), (20, B), (30, C), (40, A)):
        await _add(feed_store, post_id, author, private=author == C)
    await _add(feed_store, 5, B)  # too old
    async with feed_store.transaction() as tx:
        await feed_store.add_engagement(tx, post_id=10, likes=1, comments=1)  # 3 points
        await feed_store.add_engagement(tx, post_id=20, likes=3, comments=0)  # 3 points
        await feed_store.add_engagement(tx, post_id=30, likes=50, comments=0)  # private
        await feed_store.add_engagement(tx, post_id=5, likes=50, comments=0)
    async with feed_store.transaction() as tx:
        found = await feed_store.popular_posts(tx, since_post_id=10, limit=10)
        top = await feed_store.popular_posts(tx, since_post_id=10, limit=1)
    assert [p.post_id for p in found] == [20, 10, 40]
    assert [p.post_id for p in top] == [20]


async def test_celebrity_marks_are_sticky_and_made_once(feed_store: store.SqlFeedStore) -> None:
    async with feed_store.transaction() as tx:
        assert await feed_store.mark_celebrity(tx, author_id=A)
        assert not await feed_store.mark_celebrity(tx, author_id=A)
        assert await feed_store.celebrities_among(tx, author_ids=[A, B]) == [A]
        assert await feed_store.celebrities_among(tx, author_ids=[]) == []


async def test_long_id_lists_are_asked_in_chunks(feed_store: store.SqlFeedStore) -> None:
    many = list(range(1, 1202))
    async with feed_store.transaction() as tx:
        for post_id in many[:5]:
            await feed_store.add_post(
                tx, post_id=post_id, author_id=post_id, created_at=NOW, author_is_private=False
            )
        await feed_store.mark_celebrity(tx, author_id=1200)
    async with feed_store.transaction() as tx:
        assert len(await feed_store.recent_posts(tx, author_ids=many, limit=800)) == 5
        assert await feed_store.celebrities_among(tx, author_ids=many) == [1200]
        assert len(await feed_store.authors_of(tx, post_ids=many)) == 5


async def test_batched_claims_counts_and_affinities_match_one_at_a_time(
    feed_store: store.SqlFeedStore,
) -> None:
    # Deltas in order: dips below zero must floor where one-at-a-time would.
    likes = {1: [(-1, 0, 0), (1, 0, 0), (1, 1, 0)], 2: [(0, -1, 0), (0, 2, 1)], 3: [(1, 0, 0)]}
    affinity = {(A, B): [-1, 2, -3, 1], (C, B): [1]}
    async with feed_store.transaction() as tx:
        # Post 3 and (C, B) have rows already: the batch adds to them.
        await feed_store.add_engagement(tx, post_id=3, likes=4, comments=2)
        await feed_store.add_affinity(tx, viewer_id=C, author_id=B, delta=3)
        claimed = await feed_store.claim_events(
            tx, events=[("post_svc", 1), ("post_svc", 2), ("post_svc", 1), ("graph_svc", 1)]
        )
        assert claimed == {("post_svc", 1), ("post_svc", 2), ("graph_svc", 1)}
        assert await feed_store.claim_events(tx, events=[("post_svc", 2), ("post_svc", 3)]) == {
            ("post_svc", 3)
        }
        await feed_store.add_engagement_many(tx, deltas=likes)
        await feed_store.add_affinity_many(tx, deltas=affinity)
    async with feed_store.transaction() as tx:
        found = await feed_store.engagement_of(tx, post_ids=[1, 2, 3])
        scores = await feed_store.affinities_of(tx, viewer_id=A, author_ids=[B])
        other = await feed_store.affinities_of(tx, viewer_id=C, author_ids=[B])
    # (likes, comments, views, version): post 1 is 0 -> 0 -> 1 -> 2 likes, 1 comment.
    assert {
        p: (e.like_count, e.comment_count, e.view_count, e.version) for p, e in found.items()
    } == {
        1: (2, 1, 0, 3),
        2: (0, 2, 1, 2),
        3: (5, 2, 0, 2),
    }
    assert scores == {B: 1}  # 0 -> 0 -> 2 -> 0 -> 1
    assert other == {B: 4}


async def test_add_posts_records_many_and_leaves_deleted_ones_deleted(
    feed_store: store.SqlFeedStore,
) -> None:
    async with feed_store.transaction() as tx:
        await feed_store.delete_post(tx, post_id=2, author_id=A, created_at=NOW)
    async with feed_store.transaction() as tx:
        live = await feed_store.add_posts(
            tx, posts_made=[(1, A, NOW, False), (2, A, NOW, False), (3, B, NOW, True)]
        )
        again = await feed_store.add_posts(tx, posts_made=[(1, A, NOW, False)])
        recent = await feed_store.recent_posts(tx, author_ids=[A, B], limit=10)
    assert live == {1, 3}
    assert again == {1}
    assert [p.post_id for p in recent] == [3, 1]


async def test_an_engagement_event_is_counted_once_with_its_affinity(
    feed_store: store.SqlFeedStore,
) -> None:
    async def count(event_id: int, likes: int, comments: int = 0) -> tuple[int, int, int, int]:
        found = await feed_store.count_engagement(
            producer="post_svc",
            event_id=event_id,
            post_id=1,
            likes=likes,
            comments=comments,
            views=0,
            affinity=(B, A, likes + comments),
        )
        assert found is not None
        return (found.version, found.like_count, found.comment_count, found.view_count)

    async def affinity() -> int:
        async with feed_store.transaction() as tx:
            return (await feed_store.affinities_of(tx, viewer_id=B, author_ids=[A])).get(A, 0)

    # Nothing counted yet for the post: nothing to answer for an event seen before.
    assert await count(1, 1) == (1, 1, 0, 0)
    assert await count(1, 1) == (1, 1, 0, 0)  # delivered again: the counts as they are
    assert await affinity() == 1
    assert await count(2, 0, 1) == (2, 1, 1, 0)
    assert await count(3, -1) == (3, 0, 1, 0)
    assert await count(4, -1) == (4, 0, 1, 0)  # never below zero
    assert await count(3, -1) == (4, 0, 1, 0)
    assert await affinity() == 0
    async with feed_store.transaction() as tx:
        # The claims are the ones the batch path checks: a counted event is not new to it.
        assert await feed_store.claim_events(tx, events=[("post_svc", 2), ("post_svc", 9)]) == {
            ("post_svc", 9)
        }
    no_counts = await feed_store.count_engagement(
        producer="post_svc", event_id=1, post_id=2, likes=1, comments=0, views=0, affinity=None
    )
    assert no_counts is None  # an event seen before, about a post without counts


async def test_a_rebuilds_sources_are_its_celebrities_and_the_newest_live_posts(
    feed_store: store.SqlFeedStore,
) -> None:
    viewer, celebrity, stranger = 40, 41, 42
    assert await feed_store.current_feed_sources(viewer_id=viewer, following=[], limit=5) == (
        [],
        [],
    )
    for post_id, author in ((1, A), (2, B), (3, celebrity), (4, stranger), (5, viewer), (6, A)):
        await _add(feed_store, post_id, author)
    await _add(feed_store, 7, B)
    async with feed_store.transaction() as tx:
        await feed_store.delete_post(tx, post_id=7, author_id=B, created_at=NOW)
        assert await feed_store.mark_celebrity(tx, author_id=celebrity)
    celebs, recent = await feed_store.current_feed_sources(
        viewer_id=viewer, following=[A, B, celebrity], limit=3
    )
    # The celebrity's posts are merged at read time, not installed; the stranger's and the
    # deleted post are not the viewer's; the viewer's own are; the newest `limit`, newest first.
    assert celebs == [celebrity]
    assert recent == [store.PostRef(6, A), store.PostRef(5, viewer), store.PostRef(2, B)]
