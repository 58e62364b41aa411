"""notify_svc's event batches: runs of events that notify written in one step, with the same
result as one by one, once however often the batch comes, in the order the events came."""

from __future__ import annotations

from google.protobuf.message import Message

from notify_svc import events
from notify_svc.domain import Kind
from shutter.events.v1 import envelope_pb2, graph_events_pb2, post_events_pb2
from tests.notify_svc.conftest import World
from tests.notify_svc.test_domain import ALICE, BOB, CAROL, DAVE, ERIN, actor_ids, listed


def _envelope(
    world: World, event: Message, producer: str = "graph_svc"
) -> envelope_pb2.EventEnvelope:
    key = world.key(producer)
    envelope = envelope_pb2.EventEnvelope(event_id=key.event_id, producer=key.producer)
    envelope.occurred_at.FromDatetime(world.clock())
    envelope.payload.Pack(event)
    return envelope


def followed(world: World, follower: int, followee: int) -> envelope_pb2.EventEnvelope:
    return _envelope(world, graph_events_pb2.Followed(follower_id=follower, followee_id=followee))


async def test_a_batch_of_follows_notifies_each_once_and_asks_about_relationships_once(
    world: World,
) -> None:
    world.relationships.blocks.add((ALICE, ERIN))  # ERIN's follow of ALICE notifies nobody
    batch = [followed(world, u, ALICE) for u in (BOB, CAROL, ERIN)] + [
        followed(world, ALICE, DAVE),
        followed(world, ALICE, ALICE),  # never about yourself
    ]
    handle_batch = events.batch_handler(world.n)
    await handle_batch(batch)
    assert len(world.relationships.asked) == 1
    await handle_batch(batch)  # delivered again (the consumer died before acknowledging)
    alice = await listed(world, ALICE)
    assert sorted((v.record.kind, *actor_ids(v)) for v in alice) == [
        (Kind.FOLLOWED, BOB),
        (Kind.FOLLOWED, CAROL),
    ]
    [dave] = await listed(world, DAVE)
    assert (dave.record.kind, actor_ids(dave)) == (Kind.FOLLOWED, [ALICE])


async def test_a_batch_keeps_event_order_for_the_same_pair(world: World) -> None:
    # A request, then the follow that settles it: the follow's notification replaces it.
    requested = _envelope(
        world, graph_events_pb2.FollowRequested(requester_id=BOB, target_id=ALICE)
    )
    await events.batch_handler(world.n)([requested, followed(world, BOB, ALICE)])
    [only] = await listed(world, ALICE)
    assert (only.record.kind, actor_ids(only)) == (Kind.FOLLOWED, [BOB])


def liked(world: World, liker: int, author: int, post_id: int) -> envelope_pb2.EventEnvelope:
    event = post_events_pb2.PostLiked(post_id=post_id, post_author_id=author, liker_id=liker)
    return _envelope(world, event, "post_svc")


async def test_a_batch_of_likes_and_comments_is_one_question_and_aggregates_as_one_by_one(
    world: World,
) -> None:
    world.relationships.mutes.add((ALICE, ERIN))  # ERIN's like never reaches ALICE
    comment = post_events_pb2.CommentCreated(
        comment_id=7, post_id=100, post_author_id=ALICE, commenter_id=DAVE, text="nice"
    )
    batch = [
        liked(world, BOB, ALICE, 100),
        liked(world, ERIN, ALICE, 100),
        _envelope(world, comment, "post_svc"),
        liked(world, CAROL, ALICE, 100),  # joins BOB's like of the same post
        liked(world, BOB, ALICE, 100),  # a second like event of BOB's: counted once
        liked(world, ALICE, BOB, 200),
    ]
    handle_batch = events.batch_handler(world.n)
    await handle_batch(batch)
    assert len(world.relationships.asked) == 1
    await handle_batch(batch)  # delivered again: nothing changes
    alice = await listed(world, ALICE)
    assert [(v.record.kind, v.record.actor_count, actor_ids(v)) for v in alice] == [
        (Kind.LIKE, 2, [CAROL, BOB]),
        (Kind.COMMENT, 1, [DAVE]),
    ]
    [bob] = await listed(world, BOB)
    assert (bob.record.kind, actor_ids(bob)) == (Kind.LIKE, [ALICE])


async def test_an_unlike_in_a_batch_applies_between_the_likes_around_it(world: World) -> None:
    unliked = post_events_pb2.PostUnliked(post_id=100, post_author_id=ALICE, liker_id=BOB)
    batch = [
        liked(world, BOB, ALICE, 100),
        _envelope(world, unliked, "post_svc"),
        liked(world, CAROL, ALICE, 100),
    ]
    await events.batch_handler(world.n)(batch)
    [only] = await listed(world, ALICE)
    assert (only.record.actor_count, actor_ids(only)) == (1, [CAROL])
