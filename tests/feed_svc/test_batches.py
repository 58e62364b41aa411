"""feed_svc's event batches (what the bus hands it in one go) and unfollows racing a fan-out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message

from feed_svc import cache as keys
from feed_svc import events
from shutter.events.v1 import envelope_pb2, graph_events_pb2
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
