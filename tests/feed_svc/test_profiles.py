"""Profiles from the read model (FeedService.GetUser): a warm read asks no other service; every
change of the profile, its counts or the viewer's relationship to it (as graph_svc, post_svc and
user_svc apply them through ApplyEvents before answering) shows on the next read; a block hides
the profile at once; a lost Redis, or a fill that raced a change, still reads right."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google.protobuf import any_pb2

from feed_svc import events, readmodel
from feed_svc.errors import AuthorNotFound
from shutter.events.v1 import envelope_pb2, graph_events_pb2, user_events_pb2
from shutter.user.v1 import user_pb2
from tests.feed_svc.conftest import World, ids


def envelope(event: object, producer: str) -> envelope_pb2.EventEnvelope:
    payload = any_pb2.Any()
    payload.Pack(event)  # type: ignore[arg-type]
    return envelope_pb2.EventEnvelope(
        event_id=ids.next_id(), producer=producer, aggregate_id=1, payload=payload
    )


async def apply(world: World, *changes: object, producer: str = "graph_svc") -> None:
    """Apply events as their owner does before answering (ApplyEvents)."""
    handle = events.sync_handler(world.feeds)
    for change in changes:
        await handle(envelope(change, producer))


async def profile(world: World, viewer: int, owner: int) -> user_pb2.User:
    return await world.feeds.get_user(viewer=viewer, user_id=owner, username="")


def counts(user: user_pb2.User) -> tuple[int, int, int]:
    return (user.follower_count, user.following_count, user.post_count)


def flags(user: user_pb2.User) -> dict[str, bool]:
    relation = user.relationship
    return {
        f.name: getattr(relation, f.name)
        for f in relation.DESCRIPTOR.fields
        if getattr(relation, f.name)
    }


async def test_a_warm_profile_read_asks_no_other_service(world: World) -> None:
    owner, viewer, fan = world.user(), world.user(), world.user()
    world.graph.follows |= {(viewer, owner), (fan, owner), (owner, viewer)}
    await world.post(owner)
    first = await profile(world, viewer, owner)
    assert first.username == f"user{owner}" and counts(first) == (2, 1, 1)
    assert flags(first) == {"following": True, "followed_by": True}
    assert not first.email
    asked = len(world.profiles.calls), len(world.graph.calls)
    for _ in range(3):
        assert await profile(world, viewer, owner) == first
    assert (len(world.profiles.calls), len(world.graph.calls)) == asked
    # Another viewer shares the kept profile: only their relationship is asked.
    seen = await profile(world, fan, owner)
    assert counts(seen) == (2, 1, 1) and flags(seen) == {"following": True}
    assert len(world.profiles.calls) == asked[0]


async def test_the_owner_sees_the_email_and_no_relationship(world: World) -> None:
    owner, viewer = world.user(), world.user()
    seen = await profile(world, viewer, owner)  # kept without the email
    assert not seen.email and seen.HasField("relationship")
    own = await profile(world, owner, owner)
    assert own.email == f"user{owner}@example.com" and not own.HasField("relationship")
    assert (await profile(world, viewer, owner)).email == ""  # never shown to others
    calls = len(world.profiles.calls)
    assert (await profile(world, owner, owner)).email  # the kept one carries it now
    assert len(world.profiles.calls) == calls
    # A service reading for no viewer: no relationship, no email.
    nobody = await profile(world, 0, owner)
    assert not nobody.email and not nobody.HasField("relationship")


async def test_follows_requests_and_mutes_show_on_the_next_read_of_both(world: World) -> None:
    owner, viewer = world.user(), world.user()
    assert counts(await profile(world, viewer, owner)) == (0, 0, 0)
    assert counts(await profile(world, viewer, viewer)) == (0, 0, 0)
    world.graph.follows.add((viewer, owner))
    await apply(world, graph_events_pb2.Followed(follower_id=viewer, followee_id=owner))
    seen = await profile(world, viewer, owner)
    assert counts(seen) == (1, 0, 0) and flags(seen) == {"following": True}
    assert counts(await profile(world, viewer, viewer)) == (0, 1, 0)
    assert flags(await profile(world, owner, viewer)) == {"followed_by": True}
    world.graph.follows.discard((viewer, owner))
    await apply(world, graph_events_pb2.Unfollowed(follower_id=viewer, followee_id=owner))
    seen = await profile(world, viewer, owner)
    assert counts(seen) == (0, 0, 0) and flags(seen) == {}
    # A request to a private account, then its end.
    world.graph.requests.add((viewer, owner))
    await apply(world, graph_events_pb2.FollowRequested(requester_id=viewer, target_id=owner))
    assert flags(await profile(world, viewer, owner)) == {"requested": True}
    assert flags(await profile(world, owner, viewer)) == {"incoming_request": True}
    world.graph.requests.discard((viewer, owner))
    await apply(world, graph_events_pb2.FollowRequestEnded(requester_id=viewer, target_id=owner))
    assert flags(await profile(world, viewer, owner)) == {}
    assert flags(await profile(world, owner, viewer)) == {}
    # Approval: FollowApproved and Followed, as graph_svc writes them.
    world.graph.requests.add((viewer, owner))
    await apply(world, graph_events_pb2.FollowRequested(requester_id=viewer, target_id=owner))
    world.graph.requests.discard((viewer, owner))
    world.graph.follows.add((viewer, owner))
    await apply(
        world,
        graph_events_pb2.FollowApproved(requester_id=viewer, target_id=owner),
        graph_events_pb2.Followed(follower_id=viewer, followee_id=owner),
    )
    seen = await profile(world, viewer, owner)
    assert counts(seen) == (1, 0, 0) and flags(seen) == {"following": True}
    world.graph.mutes.add((viewer, owner))
    await apply(world, graph_events_pb2.Muted(muter_id=viewer, muted_id=owner))
    assert flags(await profile(world, viewer, owner)) == {"following": True, "muting": True}


async def test_follows_delivered_in_a_batch_change_the_next_read(world: World) -> None:
    owner, fans = world.user(), [world.user() for _ in range(3)]
    assert counts(await profile(world, fans[0], owner)) == (0, 0, 0)
    world.graph.follows |= {(fan, owner) for fan in fans}
    handle = events.feed_batch_handler(world.feeds)
    await handle(
        [
            envelope(graph_events_pb2.Followed(follower_id=fan, followee_id=owner), "graph_svc")
            for fan in fans
        ]
    )
    seen = await profile(world, fans[0], owner)
    assert counts(seen) == (3, 0, 0) and flags(seen) == {"following": True}


async def test_posts_and_profile_edits_show_on_the_next_read(world: World) -> None:
    owner, viewer = world.user(), world.user()
    assert counts(await profile(world, viewer, owner)) == (0, 0, 0)
    post = await world.post(owner)
    assert counts(await profile(world, viewer, owner)) == (0, 0, 1)
    await world.delete(post)
    assert counts(await profile(world, viewer, owner)) == (0, 0, 0)
    world.profiles.bios[owner] = "new bio"
    world.posts.users.names[owner] = "renamed"
    await apply(world, user_events_pb2.UserProfileUpdated(user_id=owner), producer="user_svc")
    seen = await profile(world, viewer, owner)
    assert (seen.bio, seen.username) == ("new bio", "renamed")


async def test_a_block_holds_on_the_next_read_either_way(world: World) -> None:
    owner, viewer = world.user(), world.user()
    world.graph.follows |= {(viewer, owner), (owner, viewer)}
    await world.post(owner)
    assert counts(await profile(world, viewer, owner)) == (1, 1, 1)
    assert counts(await profile(world, owner, viewer)) == (1, 1, 0)
    world.graph.follows -= {(viewer, owner), (owner, viewer)}
    world.graph.blocks.add((owner, viewer))
    await apply(world, graph_events_pb2.Blocked(blocker_id=owner, blocked_id=viewer))
    with pytest.raises(AuthorNotFound):
        await profile(world, viewer, owner)  # blocked by the owner: not found
    # The blocker sees only the id, the username and the relationship.
    assert await profile(world, owner, viewer) == user_pb2.User(
        user_id=viewer,
        username=f"user{viewer}",
        relationship=user_pb2.UserRelationship(blocking=True),
    )
    world.graph.blocks.clear()
    await apply(world, graph_events_pb2.Unblocked(blocker_id=owner, blocked_id=viewer))
    seen = await profile(world, viewer, owner)
    assert counts(seen) == (0, 0, 1) and flags(seen) == {}  # the block ended the follows


async def test_suspended_and_deleted_accounts_are_not_found_on_the_next_read(
    world: World,
) -> None:
    owner, viewer = world.user(), world.user()
    await profile(world, viewer, owner)
    world.profiles.suspended.add(owner)
    await apply(world, user_events_pb2.AccountSuspended(user_id=owner), producer="user_svc")
    with pytest.raises(AuthorNotFound):
        await profile(world, viewer, owner)
    world.profiles.suspended.discard(owner)
    await apply(world, user_events_pb2.AccountUnsuspended(user_id=owner), producer="user_svc")
    assert (await profile(world, viewer, owner)).user_id == owner
    world.profiles.suspended.add(owner)  # deleted: user_svc no longer knows it
    await apply(world, user_events_pb2.AccountDeleted(user_id=owner), producer="user_svc")
    with pytest.raises(AuthorNotFound):
        await profile(world, viewer, owner)


async def test_reads_after_the_read_model_is_lost_are_the_same(world: World) -> None:
    owner, viewer = world.user(), world.user()
    world.graph.follows.add((viewer, owner))
    world.graph.requests.add((owner, viewer))
    await world.post(owner)
    before = await profile(world, viewer, owner)
    assert flags(before) == {"following": True, "incoming_request": True}
    await world.redis.flushall()
    calls = len(world.profiles.calls)
    assert await profile(world, viewer, owner) == before
    assert len(world.profiles.calls) == calls + 1  # read through once
    world.graph.blocks.add((owner, viewer))
    await world.redis.flushall()
    with pytest.raises(AuthorNotFound):
        await profile(world, viewer, owner)


async def test_relationships_kept_with_four_flags_are_read_again(world: World) -> None:
    owner, viewer = world.user(), world.user()
    world.graph.follows.add((owner, viewer))
    # As kept before profiles moved here: following, blocking, blocked by, muting.
    await world.redis.hset(readmodel.relations_key(viewer), str(owner), "0000")
    assert flags(await profile(world, viewer, owner)) == {"followed_by": True}
    assert len(await world.redis.hget(readmodel.relations_key(viewer), str(owner))) == 7


async def test_a_profile_fill_taken_before_a_follow_is_not_kept(world: World) -> None:
    owner, viewer = world.user(), world.user()
    gate = asyncio.Event()
    asked: list[int] = []
    real = world.profiles.profile

    async def slow(**request: Any) -> user_pb2.User:
        answer = await real(**request)  # taken before the follow
        asked.append(request["user_id"])
        await gate.wait()
        return answer

    world.profiles.profile = slow  # type: ignore[method-assign]
    reading = asyncio.ensure_future(profile(world, viewer, owner))
    while not asked:
        await asyncio.sleep(0.01)
    world.graph.follows.add((viewer, owner))
    await apply(world, graph_events_pb2.Followed(follower_id=viewer, followee_id=owner))
    gate.set()
    assert counts(await reading) in ((0, 0, 0), (1, 0, 0))  # this read raced the follow
    assert counts(await profile(world, viewer, owner)) == (1, 0, 0)
    assert len(asked) == 2  # the stale answer was not kept: user_svc was asked again


async def test_by_username_reads_user_svc_for_the_viewer(world: World) -> None:
    owner, viewer = world.user(), world.user()
    world.posts.users.names[owner] = "alice"
    found = await world.feeds.get_user(viewer=viewer, user_id=0, username="alice")
    assert found.user_id == owner and world.profiles.calls[-1] == (0, "alice", viewer)
    world.graph.blocks.add((owner, viewer))
    with pytest.raises(AuthorNotFound):
        await world.feeds.get_user(viewer=viewer, user_id=0, username="alice")
