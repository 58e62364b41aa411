"""feed_svc's event batches (what the bus hands it in one go) and unfollows racing a fan-out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.message import Message

from feed_svc import cache as keys
from feed_svc import events, readmodel
from shutter.events.v1 import envelope_pb2, graph_events_pb2, post_events_pb2
from tests.feed_svc.conftest import World, ids


def _envelope(event: Message, producer: str = "graph_svc") -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(event_id=ids.next_id(), producer=producer)
    envelope.payload.Pack(event)
    return envelope


def followed(follower: int, followee: int) -> envelope_pb2.EventEnvelope:
    return _envelope(graph_events_pb2.Followed(follower_id=follower, followee_id=followee))


def unfollowed(follower: int, followee: int) -> envelope_pb2.EventEnvelope:
    return _envelope(graph_events_pb2.Unfollowed(follower_id=follower, followee_id=followee))


async def feed_of(world: World, user: int) -> list[bytes]:
    return list(await world.redis.zrange(keys.feed_key(user), 0, -1))


async def test_a_batch_of_follows_merges_like_one_by_one_and_again_changes_nothing(
    world: World,
) -> None:
    authors = [world.user() for _ in range(3)]
    readers = [world.user() for _ in range(4)]
    posts = {a: [await world.post(a) for _ in range(2)] for a in authors}
    for reader in readers[:3]:
        await world.read(reader)  # built; readers[3] never read: its feed stays unbuilt
    pairs = [(r, a) for r in readers for a in authors if (r + a) % 3 != 0]
    world.graph.follows.update(pairs)
    batch = [followed(r, a) for r, a in pairs]
    handle_batch = events.feed_batch_handler(world.feeds)
    await handle_batch(batch)
    after_once = {r: await feed_of(world, r) for r in readers}
    await handle_batch(batch)  # the bus delivers the batch again (a consumer died before acking)
    assert {r: await feed_of(world, r) for r in readers} == after_once
    for reader in readers[:3]:
        want = sorted((p for r, a in pairs if r == reader for p in posts[a]), reverse=True)
        assert await world.read(reader) == want
    assert after_once[readers[3]] == []  # nothing written into an unbuilt feed
    assert await world.read(readers[3]) == sorted(
        (p for r, a in pairs if r == readers[3] for p in posts[a]), reverse=True
    )


async def test_a_batch_keeps_the_order_of_events_about_the_same_follow(world: World) -> None:
    author, left, stayed = world.user(), world.user(), world.user()
    post = await world.post(author)
    for reader in (left, stayed):
        await world.read(reader)
    world.graph.follows.add((stayed, author))
    handle_batch = events.feed_batch_handler(world.feeds)
    # Followed then Unfollowed: the unfollow wins; Unfollowed then Followed: the follow wins.
    await handle_batch([followed(left, author), unfollowed(left, author), followed(stayed, author)])
    await handle_batch([unfollowed(stayed, author), followed(stayed, author)])
    assert await world.read(left) == []
    assert await world.read(stayed) == [post]


@pytest.mark.parametrize("celebrity", [False, True], ids=["pushed", "becomes-celebrity"])
async def test_an_unfollow_while_a_fan_out_is_in_flight_keeps_the_post_out(
    world: World, celebrity: bool
) -> None:
    author = world.user()
    followers = [world.user() for _ in range(4)]  # two batches of 2
    for follower in followers:
        await world.follow(follower, author)
        await world.read(follower)
    # Above the threshold (3) the post makes the author a celebrity: followers' feeds are told
    # to pull the author instead of being pushed the post.
    world.graph.counts[author] = 4 if celebrity else 1
    world.graph.pause_before_batch = 0  # the follower list is read, nothing pushed yet
    post_id = ids.next_id()
    world.posts.posts[post_id] = author
    fan_out = asyncio.create_task(
        world.feeds.post_created(
            post_id=post_id, author_id=author, created_at=datetime.now(UTC), author_is_private=False
        )
    )
    await asyncio.wait_for(world.graph.paused.wait(), 10)
    # Two followers leave while the fan-out holds the list that still names them: one in the
    # batch about to be pushed, one in the next.
    await world.unfollow(followers[0], author)
    await world.unfollow(followers[3], author)
    world.graph.resume.set()
    await asyncio.wait_for(fan_out, 10)
    assert await world.read(followers[0]) == []
    assert await world.read(followers[3]) == []
    assert await world.read(followers[1]) == [post_id]
    assert await world.read(followers[2]) == [post_id]


async def test_who_unfollowed_and_followed_again_before_a_fan_out_gets_the_post(
    world: World,
) -> None:
    author, reader = world.user(), world.user()
    await world.follow(reader, author)
    await world.read(reader)
    await world.unfollow(reader, author)
    await world.follow(reader, author)
    post = await world.post(author)  # the fan-out starts after both: the reader follows now
    assert await world.read(reader) == [post]
    assert await world.redis.ttl(keys.separated_key(reader)) > 0  # remembered for a while only


# Engagement batches: every like, unlike, comment and comment deletion of a batch is counted in
# one transaction; what it leaves must be what the handler leaves one event at a time.


def liked(post: int, author: int, liker: int) -> envelope_pb2.EventEnvelope:
    event = post_events_pb2.PostLiked(post_id=post, post_author_id=author, liker_id=liker)
    return _envelope(event, producer="post_svc")


def unliked(post: int, author: int, liker: int) -> envelope_pb2.EventEnvelope:
    event = post_events_pb2.PostUnliked(post_id=post, post_author_id=author, liker_id=liker)
    return _envelope(event, producer="post_svc")


def commented(post: int, author: int, commenter: int) -> envelope_pb2.EventEnvelope:
    event = post_events_pb2.CommentCreated(
        comment_id=ids.next_id(), post_id=post, post_author_id=author, commenter_id=commenter
    )
    return _envelope(event, producer="post_svc")


def uncommented(post: int, commenter: int, replies: int = 0) -> envelope_pb2.EventEnvelope:
    event = post_events_pb2.CommentDeleted(
        comment_id=ids.next_id(),
        post_id=post,
        commenter_id=commenter,
        reply_ids=[ids.next_id() for _ in range(replies)],
    )
    return _envelope(event, producer="post_svc")


def created(post: int, author: int) -> envelope_pb2.EventEnvelope:
    event = post_events_pb2.PostCreated(post_id=post, author_id=author)
    event.created_at.FromDatetime(datetime.now(UTC))
    return _envelope(event, producer="post_svc")


def moved(
    envelope: envelope_pb2.EventEnvelope, post: int, author: int, was: int
) -> envelope_pb2.EventEnvelope:
    """Return the same event (a new id) about another author's post: the twin played one by
    one (the author's own engagement stays the author's own)."""
    kind = envelope.payload.TypeName()
    message = {
        "shutter.events.v1.PostLiked": post_events_pb2.PostLiked,
        "shutter.events.v1.PostUnliked": post_events_pb2.PostUnliked,
        "shutter.events.v1.CommentCreated": post_events_pb2.CommentCreated,
        "shutter.events.v1.CommentDeleted": post_events_pb2.CommentDeleted,
    }[kind]()
    envelope.payload.Unpack(message)
    message.post_id = post
    for field in ("post_author_id", "liker_id", "commenter_id"):
        if message.DESCRIPTOR.fields_by_name.get(field) and getattr(message, field) == was:
            setattr(message, field, author)
    return _envelope(message, producer=envelope.producer)


async def state(world: World, post: int, viewers: list[int], author: int) -> dict[str, object]:
    """Return what feed_svc keeps of a post: projection counts and version, the read model's
    counts, each viewer's like flag in Redis (value only) and affinity to the author."""
    store = world.feeds._store
    async with store.transaction() as tx:
        found = await store.engagement_of(tx, post_ids=[post])
        affinity = {
            v: await store.affinities_of(tx, viewer_id=v, author_ids=[author]) for v in viewers
        }
    row = found[post]
    flags = {}
    for viewer in viewers:
        raw = await world.redis.hget(readmodel.likes_key(viewer), str(post))
        flags[viewer] = None if raw is None else raw.decode().split(":")[1]
    return {
        "counts": (row.version, row.like_count, row.comment_count, row.view_count),
        "rm:n": (await world.redis.get(readmodel.counts_key(post))).decode(),
        "flags": flags,
        "affinity": {v: a.get(author, 0) for v, a in affinity.items()},
    }


async def twins(world: World) -> tuple[int, int, int, list[int]]:
    """Return an author and their post (for the batch), another author's post (played one by
    one: `TWIN` maps the authors) and four readers."""
    author, twin = world.user(), world.user()
    first, second = await world.post(author), await world.post(twin)
    TWIN[author] = twin
    return author, first, second, [world.user() for _ in range(4)]


TWIN: dict[int, int] = {}


async def play_both(
    world: World, batches: list[list[envelope_pb2.EventEnvelope]], first: int, second: int
) -> None:
    """Play the batches on `first` through the batch handler, and the same events about
    `second` one at a time through the handler, in the same order."""
    handle_batch = events.feed_batch_handler(world.feeds)
    handle = events.feed_handler(world.feeds)
    for batch in batches:
        await handle_batch(batch)
    author = world.posts.posts[first]
    # The twins' ids in the same order as the originals' (flags keep the newest event).
    originals = {e.event_id: e for batch in batches for e in batch}
    twin = {i: moved(originals[i], second, TWIN[author], author) for i in sorted(originals)}
    for batch in batches:
        for envelope in batch:
            await handle(twin[envelope.event_id])


async def twin_state(world: World, post: int, viewers: list[int], author: int) -> dict[str, object]:
    """Return `state` of the twin post, keyed as the batch's (its author under `author`)."""
    twin = TWIN[author]
    got = await state(world, post, [twin if v == author else v for v in viewers], twin)
    for name in ("flags", "affinity"):
        values: dict[int, object] = got[name]  # type: ignore[assignment]
        if twin in values:
            values[author] = values.pop(twin)
    return got


def _same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a == b
    counts: tuple[int, int, int, int] = a["counts"]  # type: ignore[assignment]
    assert a["rm:n"] == "{:019d}:{}:{}:{}".format(*counts)


async def test_a_batch_of_engagement_counts_as_one_by_one_and_again_changes_nothing(
    world: World,
) -> None:
    author, first, second, readers = await twins(world)
    a, b, c, d = readers
    batch = [
        liked(first, author, a),
        liked(first, author, b),
        commented(first, author, c),
        liked(first, author, author),  # the author's own like: no affinity
        commented(first, author, a),
        unliked(first, author, b),
        uncommented(first, c, replies=1),
        commented(first, author, d),
    ]
    await play_both(world, [batch], first, second)
    once = await state(world, first, [*readers, author], author)
    _same(once, await twin_state(world, second, [*readers, author], author))
    assert once["counts"] == (8, 2, 1, 0)  # 3 likes - 1, 3 comments - 2 (one with its reply)
    assert once["flags"] == {a: "1", b: "0", c: None, d: None, author: "1"}
    assert once["affinity"] == {a: 2, b: 0, c: 1, d: 1, author: 0}
    # Delivered again whole (a consumer died before acknowledging it), and again with new
    # events after a part of it: what was counted is not counted twice.
    handle_batch = events.feed_batch_handler(world.feeds)
    await handle_batch(batch)
    assert await state(world, first, [*readers, author], author) == once
    later = liked(first, author, c)
    await handle_batch([*batch[5:], later, batch[0]])
    again = await state(world, first, [*readers, author], author)
    assert again["counts"] == (9, 3, 1, 0)
    assert again["rm:n"] == f"{9:019d}:3:1:0"
    assert again["flags"][c] == "1"  # type: ignore[index]


async def test_an_unlike_before_its_like_in_a_batch_floors_as_one_by_one(world: World) -> None:
    author, first, second, readers = await twins(world)
    a, b = readers[:2]
    like, unlike = liked(first, author, a), unliked(first, author, a)
    # Out of order (the unlike's event is newer), and a comment deletion before any comment:
    # one by one each count stops at zero, then the later events add to it.
    batch = [unlike, uncommented(first, b), like, commented(first, author, b)]
    await play_both(world, [batch], first, second)
    got = await state(world, first, readers[:2], author)
    _same(got, await twin_state(world, second, readers[:2], author))
    assert got["counts"] == (4, 1, 1, 0)
    # The newer event (the unlike) wins the flag, whatever the order it came in.
    assert got["flags"] == {a: "0", b: None}
    assert got["affinity"] == {a: 1, b: 1}


async def test_a_like_and_unlike_in_one_batch_leave_no_like(world: World) -> None:
    author, first, second, readers = await twins(world)
    a = readers[0]
    first_like = liked(first, author, a)
    later = [unliked(first, author, a), liked(first, author, a), unliked(first, author, a)]
    await play_both(world, [[first_like], later], first, second)
    got = await state(world, first, [a], author)
    _same(got, await twin_state(world, second, [a], author))
    assert got["counts"] == (4, 0, 0, 0)
    assert got["flags"] == {a: "0"}
    assert got["affinity"] == {a: 0}


async def test_a_newer_count_in_redis_is_not_overwritten_by_a_batch(world: World) -> None:
    author, first, _, readers = await twins(world)
    # Another process already kept a newer answer (version 50): the batch's older one loses.
    await world.views.set_counts(first, version=50, likes=9, comments=9)
    await events.feed_batch_handler(world.feeds)([liked(first, author, readers[0])])
    assert (await world.redis.get(readmodel.counts_key(first))).decode() == f"{50:019d}:9:9:0"


async def test_new_posts_and_their_engagement_in_one_batch(world: World) -> None:
    author, other = world.user(), world.user()
    readers = [world.user() for _ in range(2)]
    for reader in readers:
        world.graph.follows.add((reader, author))
        await world.read(reader)
    post, deleted, third = ids.next_id(), ids.next_id(), ids.next_id()
    for p, who in ((post, author), (deleted, author), (third, other)):
        world.posts.posts[p] = who
    await world.delete(deleted)  # deleted before its PostCreated arrived: never fanned out
    batch = [
        created(post, author),
        liked(post, author, readers[0]),
        created(deleted, author),
        created(third, other),
        followed(readers[1], other),
        commented(post, author, readers[1]),
    ]
    world.graph.follows.add((readers[1], other))
    handle_batch = events.feed_batch_handler(world.feeds)
    await handle_batch(batch)
    await handle_batch(batch)  # again: the same feeds, the same counts
    assert await world.read(readers[0]) == [post]
    assert await world.read(readers[1]) == [third, post]
    async with world.feeds._store.transaction() as tx:
        found = await world.feeds._store.engagement_of(tx, post_ids=[post, third])
    assert (found[post].version, found[post].like_count, found[post].comment_count) == (2, 1, 1)
    assert third not in found
    page, _ = await world.feeds.home_feed(
        viewer=readers[0], page_size=10, page_token="", mode="chronological"
    )
    assert [(p.post_id, p.like_count, p.comment_count, p.has_liked) for p in page] == [
        (post, 1, 1, True)
    ]


async def applied_through_apply_events(
    world: World,
) -> tuple[int, int, int, int, envelope_pb2.EventEnvelope, envelope_pb2.EventEnvelope]:
    """Return an author, their post, two readers, and a like and a comment of theirs on it that
    post_svc's ApplyEvents applied (before it answered)."""
    author, first, _, readers = await twins(world)
    a, b = readers[:2]
    like, comment = liked(first, author, a), commented(first, author, b)
    apply = events.sync_handler(world.feeds)
    for envelope in (like, comment):
        assert await apply(envelope)
    return author, first, a, b, like, comment


async def test_engagement_applied_through_apply_events_is_skipped_by_the_bus(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    author, first, a, b, like, comment = await applied_through_apply_events(world)
    once = await state(world, first, [a, b], author)
    assert once["counts"] == (2, 1, 1, 0)
    assert once["flags"] == {a: "1", b: None}
    store = world.feeds._store
    claimed: list[object] = []
    claim = store.claim_events

    async def counting_claim(tx: object, *, events: list[tuple[str, int]]) -> object:
        claimed.append(events)
        return await claim(tx, events=events)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "claim_events", counting_claim)
    # The bus delivers the same events: applied in full already, so not even claimed again.
    await events.feed_batch_handler(world.feeds)([like, comment])
    assert claimed == []
    assert await state(world, first, [a, b], author) == once
    # A new event in the same delivery is counted as ever.
    await events.feed_batch_handler(world.feeds)([like, liked(first, author, b)])
    assert len(claimed) == 1
    assert (await state(world, first, [a, b], author))["counts"] == (3, 2, 1, 0)


async def test_engagement_whose_apply_events_stopped_before_redis_is_repaired_by_the_bus(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    author, first, _, readers = await twins(world)
    a = readers[0]
    like = liked(first, author, a)

    async def redis_gone(**_: object) -> None:
        raise ConnectionError("Redis went away")

    with monkeypatch.context() as patched:
        patched.setattr(world.views, "set_flag", redis_gone)
        with pytest.raises(ConnectionError):
            await events.sync_handler(world.feeds)(like)  # counted in the database only
    assert (await state(world, first, [a], author))["flags"] == {a: None}
    await events.feed_batch_handler(world.feeds)([like])
    got = await state(world, first, [a], author)
    assert got["counts"] == (1, 1, 0, 0)  # not counted twice
    assert got["flags"] == {a: "1"}  # the like shows for the liker after all


async def test_a_single_bus_delivery_skips_engagement_apply_events_applied(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bus hands an event read alone to the one-event handler, not the batch handler: it
    # must skip what ApplyEvents applied in full as well, and still repair what it did not.
    author, first, a, b, like, comment = await applied_through_apply_events(world)
    once = await state(world, first, [a, b], author)
    store = world.feeds._store
    counted: list[int] = []
    count = store.count_engagement

    async def counting(**kwargs: Any) -> Any:
        counted.append(kwargs["event_id"])
        return await count(**kwargs)

    monkeypatch.setattr(store, "count_engagement", counting)
    deliver = events.feed_handler(world.feeds)
    for envelope in (like, comment):
        await deliver(envelope)
    assert counted == []
    assert await state(world, first, [a, b], author) == once
    # An event ApplyEvents never applied is counted by that same delivery.
    another = liked(first, author, b)
    await deliver(another)
    assert counted == [another.event_id]
    got = await state(world, first, [a, b], author)
    assert got["counts"] == (3, 2, 1, 0)
    assert got["flags"] == {a: "1", b: "1"}
