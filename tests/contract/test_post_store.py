"""The post and engagement stores, run against every backend: embedded SQLite and PostgreSQL, and
for engagement also Cassandra when SHUTTER_TEST_CASSANDRA_HOSTS names a reachable cluster (these
machines have none: those runs skip, saying so)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.ids import IdGenerator, id_at
from post_svc import geo, store
from post_svc.settings import PostSettings
from tests.post_svc.conftest import cassandra_engagement, make_stores

ids = IdGenerator(shard=9)


class Stores:
    def __init__(
        self, posts: store.SqlPostStore, engagement: store.EngagementStore, engine: AsyncEngine
    ) -> None:
        self.posts = posts
        self.engagement = engagement
        self.engine = engine

    async def settle(self) -> None:
        """Wait for the undos a rollback started (Cassandra runs them in the background)."""
        settle = getattr(self.engagement, "settle", None)
        if settle is not None:
            await settle()


SHARDS = 16


@pytest.fixture
async def stores(data_dir: Path, database_url: str | None) -> AsyncIterator[Stores]:
    posts, engagement, engine = await make_stores(
        PostSettings(data_dir=data_dir), database_url, shards=SHARDS
    )
    yield Stores(posts, engagement, engine)
    await engine.dispose()


@pytest.fixture(params=["relational", "cassandra"])
async def engaged(
    request: pytest.FixtureRequest, stores: Stores, data_dir: Path
) -> AsyncIterator[Stores]:
    """Return the stores with each engagement backend: the relational one, then Cassandra (on
    the relational store's transactions, which it undoes its writes with on rollback)."""
    if request.param == "relational":
        yield stores
        return
    settings = PostSettings(data_dir=data_dir)
    async with cassandra_engagement(settings, shards=SHARDS) as engagement:
        yield Stores(stores.posts, engagement, stores.engine)


def _post(author: int, **changes: object) -> store.PostRecord:
    record = store.PostRecord(
        post_id=ids.next_id(),
        author_id=author,
        caption="",
        hashtags=(),
        mentions=(),
        media_ids=(ids.next_id(),),
        location=None,
        place_id=None,
        created_at=datetime.now(UTC).replace(microsecond=0),
        request_hash="h",
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def _at(name: str, lat: float, lng: float) -> store.Location:
    return store.Location(name, geo.Point(lat, lng))


async def _insert(stores: Stores, post: store.PostRecord) -> store.PostRecord:
    async with stores.posts.transaction() as tx:
        if post.location is not None:
            place_id = await stores.posts.place_for(
                tx, location=post.location, new_place_id=ids.next_id()
            )
            post = replace(post, place_id=place_id)
        await stores.posts.insert_post(tx, post=post)
    return post


async def test_a_post_reads_back_whole_and_counts_for_its_author(stores: Stores) -> None:
    author = ids.next_id()
    post = await _insert(
        stores,
        _post(
            author,
            caption="Café #Paris with @Bob ✨",
            hashtags=("paris",),
            mentions=(store.Mention(42, "Bob"),),
            media_ids=(ids.next_id(), ids.next_id()),
            location=_at("Café de Flore", 48.8541, 2.3326),
            idempotency_key="k-1",
        ),
    )
    assert post.place_id is not None
    async with stores.posts.transaction() as tx:
        assert await stores.posts.get_post(tx, post_id=post.post_id) == post
        assert await stores.posts.get_posts(tx, post_ids=[post.post_id, 1]) == {post.post_id: post}
        assert await stores.posts.get_post_by_key(tx, author_id=author, idempotency_key="k-1") == (
            post,
            False,
        )
        assert await stores.posts.get_post_by_key(tx, author_id=1, idempotency_key="k-1") is None
    # What CreatePost asks first, outside a transaction: the same answer.
    by_key = stores.posts.current_post_by_key
    assert await by_key(author_id=author, idempotency_key="k-1") == (post, False)
    assert await by_key(author_id=1, idempotency_key="k-1") is None
    async with stores.posts.transaction() as tx:
        assert await stores.posts.posted_media(tx, media_ids=[*post.media_ids, 7]) == set(
            post.media_ids
        )
        assert await stores.posts.post_counts(tx, user_ids=[author, 5]) == {author: 1}
        tag = await stores.posts.get_hashtag(tx, tag="paris")
        assert tag == store.HashtagRecord("paris", 1)
    # The like's and comment's first read, outside a transaction, reads the same post.
    assert await stores.posts.current_post(post_id=post.post_id) == post
    assert await stores.posts.current_post(post_id=1) is None


async def test_a_taken_key_or_media_is_a_conflict_and_nothing_is_kept(stores: Stores) -> None:
    author = ids.next_id()
    first = await _insert(stores, _post(author, idempotency_key="same", hashtags=("x",)))
    with pytest.raises(store.Conflict) as caught:
        await _insert(stores, _post(author, idempotency_key="same", hashtags=("x",)))
    assert caught.value.what == "idempotency_key"
    with pytest.raises(store.Conflict) as caught:
        await _insert(stores, _post(author, media_ids=(ids.next_id(), first.media_ids[0])))
    assert caught.value.what == "media"
    other = await _insert(stores, _post(ids.next_id(), idempotency_key="same"))  # per author
    async with stores.posts.transaction() as tx:
        assert await stores.posts.post_counts(tx, user_ids=[author]) == {author: 1}
        assert (await stores.posts.get_hashtag(tx, tag="x")) == store.HashtagRecord("x", 1)
        assert await stores.posts.get_post(tx, post_id=other.post_id) == other


async def test_a_post_in_one_statement_is_whole_or_not_at_all(stores: Stores) -> None:
    """Where the store writes a new post in one statement (PostgreSQL), the post, its media, its
    hashtags, its author's count and its event go together, and a media id already in a post or
    a story, or a taken key, writes none of it. Elsewhere it declines (the transaction path)."""
    posts, outbox = stores.posts, stores.posts.outbox
    author = ids.next_id()
    post = _post(
        author,
        caption="#one #two",
        hashtags=("one", "two"),
        media_ids=(ids.next_id(), ids.next_id()),
        alt_texts=("a", "b"),
        idempotency_key="k",
    )
    _, row = outbox.detached_row(aggregate_id=post.post_id, event=Timestamp(seconds=1))
    taken = await posts.publish_now(post=post, event=row)
    if taken is None:
        assert stores.engine.dialect.name != "postgresql"
        return
    assert taken == set()
    in_story = ids.next_id()
    async with posts.transaction() as tx:
        assert await posts.get_post(tx, post_id=post.post_id) == post
        assert await posts.posted_media(tx, media_ids=post.media_ids) == set(post.media_ids)
        assert await posts.post_counts(tx, user_ids=[author]) == {author: 1}
        assert await posts.get_hashtag(tx, tag="two") == store.HashtagRecord("two", 1)
        at = datetime.now(UTC)
        story = store.StoryRecord(ids.next_id(), author, in_story, "", (), at, at + timedelta(1))
        await store.SqlStoryStore(stores.engine).insert_story(tx, story=story)
    refused = [
        _post(author, media_ids=(ids.next_id(), post.media_ids[1]), hashtags=("two",)),
        _post(author, media_ids=(in_story,), hashtags=("two",)),
    ]
    for other, media_id in zip(refused, [post.media_ids[1], in_story], strict=True):
        _, unused = outbox.detached_row(aggregate_id=other.post_id, event=Timestamp(seconds=2))
        assert await posts.publish_now(post=other, event=unused) == {media_id}
    with pytest.raises(store.Conflict) as caught:
        again = _post(author, idempotency_key="k", hashtags=("two",))
        _, unused = outbox.detached_row(aggregate_id=again.post_id, event=Timestamp(seconds=3))
        await posts.publish_now(post=again, event=unused)
    assert caught.value.what == "idempotency_key"
    async with posts.transaction() as tx:
        assert await posts.post_counts(tx, user_ids=[author]) == {author: 1}
        assert await posts.get_hashtag(tx, tag="two") == store.HashtagRecord("two", 1)
        for other in [*refused, again]:
            assert await posts.get_post(tx, post_id=other.post_id) is None
        written = list(
            await tx.scalars(
                select(store.outbox.c.event_id).where(
                    store.outbox.c.aggregate_id.in_([p.post_id for p in [post, *refused, again]])
                )
            )
        )
    assert written == [row["event_id"]]


async def test_deleting_takes_a_post_out_of_every_index_and_count(stores: Stores) -> None:
    author, saver = ids.next_id(), ids.next_id()
    spot = _at("Louvre", 48.8606, 2.3376)
    kept = await _insert(stores, _post(author, hashtags=("art",), location=spot))
    gone = await _insert(stores, _post(author, hashtags=("art", "paris"), location=spot))
    async with stores.posts.transaction() as tx:
        await stores.posts.add_save(
            tx, user_id=saver, post_id=gone.post_id, save_id=ids.next_id(), at=datetime.now(UTC)
        )
        await stores.posts.delete_post(tx, post=gone)
    area = geo.area(spot.point, 1.0)
    assert await stores.posts.current_post(post_id=gone.post_id) is None
    assert await stores.posts.current_post(post_id=kept.post_id) == kept
    async with stores.posts.transaction() as tx:
        assert await stores.posts.get_post(tx, post_id=gone.post_id) is None
        assert await stores.posts.get_post_by_key(tx, author_id=author, idempotency_key="x") is None
        assert await stores.posts.post_counts(tx, user_ids=[author]) == {author: 1}
        assert await stores.posts.get_hashtag(tx, tag="art") == store.HashtagRecord("art", 1)
        assert await stores.posts.get_hashtag(tx, tag="paris") == store.HashtagRecord("paris", 0)
        assert await stores.posts.search_hashtags(tx, prefix="pa", after=None, limit=5) == []
        for read in (
            stores.posts.list_user_posts(tx, author_id=author, before=None, limit=5),
            stores.posts.list_hashtag_posts(tx, tag="art", before=None, limit=5),
            stores.posts.list_place_posts(tx, place_ids=[kept.place_id or 0], before=None, limit=5),
            stores.posts.nearby_posts(tx, area=area, before=None, limit=5),
        ):
            assert [p.post_id for p in await read] == [kept.post_id]
        places = await stores.posts.search_places(tx, prefix="louvre", after=None, limit=5)
        assert [(p.place_id, p.post_count) for p in places] == [(kept.place_id, 1)]
        assert await stores.posts.list_saves(tx, user_id=saver, before=None, limit=5) == []


async def test_lists_page_newest_first(stores: Stores) -> None:
    author = ids.next_id()
    made = [await _insert(stores, _post(author, hashtags=("walk",))) for _ in range(5)]
    newest = [p.post_id for p in reversed(made)]
    async with stores.posts.transaction() as tx:
        first = await stores.posts.list_user_posts(tx, author_id=author, before=None, limit=3)
        rest = await stores.posts.list_user_posts(
            tx, author_id=author, before=first[-1].post_id, limit=3
        )
        tagged = await stores.posts.list_hashtag_posts(tx, tag="walk", before=newest[1], limit=10)
    assert [p.post_id for p in first + rest] == newest
    assert [p.post_id for p in tagged] == newest[2:]


async def test_hashtag_search_ranks_by_count_and_treats_wildcards_as_text(stores: Stores) -> None:
    author = ids.next_id()
    for tags in [("cat", "cats"), ("cats",), ("cats", "catwalk"), ("c_t",), ("c%t",)]:
        await _insert(stores, _post(author, hashtags=tags))
    async with stores.posts.transaction() as tx:
        found = await stores.posts.search_hashtags(tx, prefix="cat", after=None, limit=2)
        assert [(h.tag, h.post_count) for h in found] == [("cats", 3), ("cat", 1)]
        more = await stores.posts.search_hashtags(tx, prefix="cat", after=(1, "cat"), limit=2)
        assert [h.tag for h in more] == ["catwalk"]
        assert [
            h.tag for h in await stores.posts.search_hashtags(tx, prefix="c_", after=None, limit=9)
        ] == ["c_t"]
        assert [
            h.tag for h in await stores.posts.search_hashtags(tx, prefix="c%", after=None, limit=9)
        ] == ["c%t"]


async def test_places_merge_by_name_and_spot_ignoring_case(stores: Stores) -> None:
    author = ids.next_id()
    a = await _insert(stores, _post(author, location=_at("Blue Bottle", 37.77610, -122.42330)))
    b = await _insert(stores, _post(author, location=_at("BLUE BOTTLE", 37.776104, -122.423301)))
    c = await _insert(stores, _post(author, location=_at("Blue Bottle", 40.7, -74.0)))
    d = await _insert(stores, _post(author, location=_at("Blue Bottle", 40.7, -74.0)))
    assert a.place_id == b.place_id and c.place_id == d.place_id and a.place_id != c.place_id
    await _insert(stores, _post(author, location=_at("Blue Bottle", 40.7, -74.0)))
    async with stores.posts.transaction() as tx:
        found = await stores.posts.search_places(tx, prefix="blue b", after=None, limit=1)
        assert [(p.place_id, p.name, p.post_count) for p in found] == [
            (c.place_id, "Blue Bottle", 3)
        ]
        last = found[-1]
        more = await stores.posts.search_places(
            tx, prefix="BLUE", after=(last.post_count, "blue bottle", last.place_id), limit=5
        )
        assert [(p.place_id, p.post_count) for p in more] == [(a.place_id, 2)]


async def test_nearby_reads_cell_ranges_across_the_antimeridian(stores: Stores) -> None:
    author = ids.next_id()
    east = await _insert(stores, _post(author, location=_at("Taveuni east", -16.8, 179.99)))
    west = await _insert(stores, _post(author, location=_at("Taveuni west", -16.8, -179.99)))
    await _insert(stores, _post(author, location=_at("Far away", -16.8, 170.0)))
    for radius in (3.0, 50.0):  # the fine grid, then the coarse one
        area = geo.area(geo.Point(-16.8, 180.0), radius)
        assert len(area.lng_ranges) == 2
        async with stores.posts.transaction() as tx:
            found = await stores.posts.nearby_posts(tx, area=area, before=None, limit=10)
        assert [p.post_id for p in found] == [west.post_id, east.post_id]


async def test_saves_are_idempotent_and_listed_most_recent_first(stores: Stores) -> None:
    user, posts = ids.next_id(), [ids.next_id() for _ in range(3)]
    async with stores.posts.transaction() as tx:
        for post_id in posts:
            at = datetime.now(UTC)
            assert await stores.posts.add_save(
                tx, user_id=user, post_id=post_id, save_id=ids.next_id(), at=at
            )
        assert not await stores.posts.add_save(
            tx, user_id=user, post_id=posts[0], save_id=ids.next_id(), at=datetime.now(UTC)
        )
        listed = await stores.posts.list_saves(tx, user_id=user, before=None, limit=10)
        assert [p for _, p in listed] == posts[::-1]
        assert await stores.posts.remove_save(tx, user_id=user, post_id=posts[1])
        assert not await stores.posts.remove_save(tx, user_id=user, post_id=posts[1])
        assert await stores.posts.saved_among(tx, user_id=user, post_ids=posts) == {
            posts[0],
            posts[2],
        }


async def test_likes_are_idempotent_and_counted_exactly(engaged: Stores) -> None:
    post_id, users = ids.next_id(), [ids.next_id() for _ in range(3)]
    engagement = engaged.engagement
    async with engaged.posts.transaction() as tx:
        for user in users:
            at = datetime.now(UTC)
            assert await engagement.add_like(
                tx, post_id=post_id, user_id=user, like_id=ids.next_id(), at=at
            )
        assert not await engagement.add_like(
            tx, post_id=post_id, user_id=users[0], like_id=ids.next_id(), at=datetime.now(UTC)
        )
        assert await engagement.remove_like(tx, post_id=post_id, user_id=users[1])
        assert not await engagement.remove_like(tx, post_id=post_id, user_id=users[1])
        assert await engagement.counts(tx, post_ids=[post_id, 5]) == {post_id: store.Counts(2, 0)}
        assert await engagement.liked_among(tx, user_id=users[0], post_ids=[post_id, 5]) == {
            post_id
        }
        page = await engagement.list_likers(tx, post_id=post_id, before=None, limit=1)
        assert [u for _, u in page] == [users[2]]
        rest = await engagement.list_likers(tx, post_id=post_id, before=page[0][0], limit=5)
        assert [u for _, u in rest] == [users[0]]


async def test_a_like_or_comment_in_one_statement_writes_its_event_with_it(
    engaged: Stores,
) -> None:
    """Where the store writes a like or a top-level comment in one statement (PostgreSQL), the
    row, its count and its event go together; a repeated like writes nothing and still answers
    the count. Elsewhere it declines and the transaction path (tested above) is used."""
    post_id, users = ids.next_id(), [ids.next_id() for _ in range(3)]
    engagement, outbox = engaged.engagement, engaged.posts.outbox
    made = []
    expected = [(True, 1), (True, 2), (True, 3), (False, 3)]
    for user, answer in zip([*users, users[0]], expected, strict=True):
        _, row = outbox.detached_row(aggregate_id=post_id, event=Timestamp(seconds=user % 1000))
        made.append(row["event_id"])
        done = await engagement.like_now(
            post_id=post_id, user_id=user, like_id=ids.next_id(), at=datetime.now(UTC), event=row
        )
        if done is None:  # SQLite or Cassandra: the transaction path
            assert engaged.engine.dialect.name != "postgresql" or not engagement.in_post_database
            return
        assert done == answer
    comment = _comment(post_id, users[1])
    _, row = outbox.detached_row(aggregate_id=post_id, event=Timestamp(seconds=1))
    assert await engagement.comment_now(comment=comment, event=row)
    reply = _comment(post_id, users[2], comment.comment_id)
    _, unused = outbox.detached_row(aggregate_id=post_id, event=Timestamp(seconds=2))
    assert not await engagement.comment_now(comment=reply, event=unused)  # replies lock a parent
    async with engaged.posts.transaction() as tx:
        assert await engagement.counts(tx, post_ids=[post_id]) == {post_id: store.Counts(3, 1)}
        assert await engagement.get_comment(tx, comment_id=comment.comment_id) == comment
        assert await engagement.get_comment(tx, comment_id=reply.comment_id) is None
        written = set(
            await tx.scalars(
                select(store.outbox.c.event_id).where(store.outbox.c.aggregate_id == post_id)
            )
        )
    # The three new likes' events and the comment's; not the repeated like's, nor the reply's.
    assert written == {*made[:3], row["event_id"]}


def _comment(post_id: int, author: int, parent: int = 0) -> store.CommentRecord:
    return store.CommentRecord(
        comment_id=ids.next_id(),
        post_id=post_id,
        author_id=author,
        parent_comment_id=parent,
        text="nice",
        mentions=(store.Mention(7, "seven"),),
        created_at=datetime.now(UTC).replace(microsecond=0),
    )


async def test_comments_threads_counts_and_deletion_with_replies(engaged: Stores) -> None:
    post_id, author = ids.next_id(), ids.next_id()
    engagement = engaged.engagement
    top = [_comment(post_id, author) for _ in range(3)]
    async with engaged.posts.transaction() as tx:
        for comment in top:
            await engagement.add_comment(tx, comment=comment)
        replies = [_comment(post_id, author, top[0].comment_id) for _ in range(2)]
        for reply in replies:
            await engagement.add_comment(tx, comment=reply)
    async with engaged.posts.transaction() as tx:
        assert await engagement.get_comment(tx, comment_id=replies[0].comment_id) == replies[0]
        listed = await engagement.list_comments(
            tx, post_id=post_id, parent_comment_id=0, after=top[0].comment_id, limit=5
        )
        assert listed == top[1:]
        thread = await engagement.list_comments(
            tx, post_id=post_id, parent_comment_id=top[0].comment_id, after=None, limit=5
        )
        assert thread == replies
        assert await engagement.reply_counts(
            tx, post_id=post_id, comment_ids=[c.comment_id for c in top]
        ) == {top[0].comment_id: 2}
        assert (await engagement.counts(tx, post_ids=[post_id]))[post_id].comment_count == 5
    async with engaged.posts.transaction() as tx:
        gone = await engagement.delete_comment(tx, comment=top[0])
        assert gone == [r.comment_id for r in replies]
        assert await engagement.delete_comment(tx, comment=replies[0]) == []  # gone already
        assert await engagement.delete_comment(tx, comment=top[1]) == []
    async with engaged.posts.transaction() as tx:
        assert (await engagement.counts(tx, post_ids=[post_id]))[post_id].comment_count == 1
        await engagement.purge_post(tx, post_id=post_id)
        assert await engagement.counts(tx, post_ids=[post_id]) == {}
        assert await engagement.get_comment(tx, comment_id=top[2].comment_id) is None


async def test_a_storm_of_likes_and_unlikes_on_one_post_counts_exactly(engaged: Stores) -> None:
    """1000 distinct users like one post at once; a third of them take it back and a fifth like
    twice, all interleaved. The count must equal the set of likers."""
    post_id = ids.next_id()
    users = [ids.next_id() for _ in range(1000)]
    engagement = engaged.engagement

    async def like(user: int) -> None:
        async with engaged.posts.transaction() as tx:
            await engagement.add_like(
                tx, post_id=post_id, user_id=user, like_id=ids.next_id(), at=datetime.now(UTC)
            )

    async def unlike(user: int) -> None:
        async with engaged.posts.transaction() as tx:
            await engagement.remove_like(tx, post_id=post_id, user_id=user)

    async def act(i: int, user: int) -> None:
        await like(user)
        if i % 5 == 0:
            await like(user)
        if i % 3 == 0:
            await unlike(user)

    await asyncio.gather(*(act(i, user) for i, user in enumerate(users)))
    expected = {user for i, user in enumerate(users) if i % 3 != 0}
    async with engaged.posts.transaction() as tx:
        counts = await engagement.counts(tx, post_ids=[post_id])
        likers = await engagement.list_likers(tx, post_id=post_id, before=None, limit=2000)
        if isinstance(engagement, store.SqlEngagementStore):
            rows = await tx.scalar(
                select(func.count()).where(store.post_counters.c.post_id == post_id)
            )
        else:
            rows = len(await engagement._run("counts_get", post_id))  # type: ignore[attr-defined]
    assert {user for _, user in likers} == expected
    assert counts[post_id].like_count == len(expected)
    # The likes went to many counter rows, not one hot row.
    assert rows == SHARDS


async def test_a_rolled_back_transaction_keeps_no_engagement(engaged: Stores) -> None:
    """Likes, unlikes, comments and deletions made in a transaction that rolls back (its outbox
    event with it) are all taken back, whatever the backend."""
    post_id, liker, newcomer = ids.next_id(), ids.next_id(), ids.next_id()
    engagement = engaged.engagement
    kept = _comment(post_id, liker)
    async with engaged.posts.transaction() as tx:
        await engagement.add_like(
            tx, post_id=post_id, user_id=liker, like_id=ids.next_id(), at=datetime.now(UTC)
        )
        await engagement.add_comment(tx, comment=kept)
    fresh = _comment(post_id, newcomer)
    with pytest.raises(RuntimeError, match="outbox"):
        async with engaged.posts.transaction() as tx:
            assert await engagement.add_like(
                tx, post_id=post_id, user_id=newcomer, like_id=ids.next_id(), at=datetime.now(UTC)
            )
            await engagement.add_comment(tx, comment=fresh)
            assert await engagement.remove_like(tx, post_id=post_id, user_id=liker)
            assert await engagement.delete_comment(tx, comment=kept) == []
            raise RuntimeError("the outbox write failed")
    await engaged.settle()
    async with engaged.posts.transaction() as tx:
        counts = await engagement.counts(tx, post_ids=[post_id])
        assert counts.get(post_id, store.Counts()) == store.Counts(1, 1)
        assert await engagement.liked_among(tx, user_id=newcomer, post_ids=[post_id]) == set()
        assert await engagement.liked_among(tx, user_id=liker, post_ids=[post_id]) == {post_id}
        likers = await engagement.list_likers(tx, post_id=post_id, before=None, limit=5)
        assert [u for _, u in likers] == [liker]
        assert await engagement.get_comment(tx, comment_id=fresh.comment_id) is None
        assert await engagement.get_comment(tx, comment_id=kept.comment_id) == kept
        listed = await engagement.list_comments(
            tx, post_id=post_id, parent_comment_id=0, after=None, limit=5
        )
        assert listed == [kept]


async def test_cassandra_repairs_recount_a_post_a_failure_left_off(data_dir: Path) -> None:
    """A counter that missed writes and a likers row whose like never went in (both what a
    failed write leaves) are found by a repair pass, corrected, and the next pass finds the post
    exact."""
    async with cassandra_engagement(PostSettings(data_dir=data_dir)) as engagement:
        post_id, users = ids.next_id(), [ids.next_id() for _ in range(3)]
        posts, _, engine = await make_stores(PostSettings(data_dir=data_dir), None)
        try:
            async with posts.transaction() as tx:
                for user in users:
                    await engagement.add_like(
                        tx,
                        post_id=post_id,
                        user_id=user,
                        like_id=ids.next_id(),
                        at=datetime.now(UTC),
                    )
                await engagement.add_comment(tx, comment=_comment(post_id, users[0]))
            # A counter update that landed twice, and a row older than any write in flight.
            await engagement._run("count_add", 2, -1, post_id, 3)
            stale_id = id_at(datetime.now(UTC) - timedelta(minutes=10))
            await engagement._run(
                "like_row_add", post_id, stale_id, ids.next_id(), datetime.now(UTC)
            )
            assert not await engagement.repair_post(post_id)
            assert await engagement.repair_post(post_id)
            async with posts.transaction() as tx:
                assert await engagement.counts(tx, post_ids=[post_id]) == {
                    post_id: store.Counts(3, 1)
                }
                likers = await engagement.list_likers(tx, post_id=post_id, before=None, limit=9)
            assert [u for _, u in likers] == users[::-1]
        finally:
            await engine.dispose()


async def test_tags_and_places_count_live_posts_per_author(stores: Stores) -> None:
    """What search needs to count only the posts a viewer may see (issue 15)."""
    one, two = ids.next_id(), ids.next_id()
    spot = _at("Quay " + str(one), 51.5, -0.1)
    await _insert(stores, _post(one, hashtags=("quay", "x"), location=spot))
    await _insert(stores, _post(one, hashtags=("quay",), location=spot))
    gone = await _insert(stores, _post(two, hashtags=("quay",), location=spot))
    kept = await _insert(stores, _post(two, hashtags=("x",), location=spot))
    async with stores.posts.transaction() as tx:
        await stores.posts.delete_post(tx, post=gone)
    async with stores.posts.transaction() as tx:
        assert await stores.posts.hashtag_authors(tx, tags=["quay", "x", "none"]) == {
            "quay": {one: 2},
            "x": {one: 1, two: 1},
        }
        assert await stores.posts.hashtag_authors(tx, tags=[]) == {}
        place = kept.place_id or 0
        assert await stores.posts.place_authors(tx, place_ids=[place, 1]) == {
            place: {one: 2, two: 1}
        }
        assert await stores.posts.place_authors(tx, place_ids=[]) == {}
