"""notify_svc's event batches: runs of follows written in one step, with the same result as one
by one, once however often the batch comes, in the order the events came."""

from __future__ import annotations

from google.protobuf.message import Message

from notify_svc import events
from notify_svc.domain import Kind
from shutter.events.v1 import envelope_pb2, graph_events_pb2
from tests.notify_svc.conftest import World
from tests.notify_svc.test_domain import ALICE, BOB, CAROL, DAVE, ERIN, actor_ids, listed


def _envelope(world: World, event: Message) -> envelope_pb2.EventEnvelope:
    key = world.key("graph_svc")
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
