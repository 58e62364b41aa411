"""Stories over real gRPC beside real user_svc, graph_svc and media_svc: a story from an upload,
codes and reasons of bad input, seen marks, viewers, rings for the tray, privacy and blocks,
events on the bus, and deletion."""

from __future__ import annotations

import asyncio
import time

import grpc

from mesh import bus
from shutter.events.v1 import envelope_pb2, post_events_pb2
from shutter.graph.v1 import graph_service_pb2 as gpb
from shutter.media.v1 import media_service_pb2 as mpb
from shutter.post.v1 import post_pb2
from shutter.post.v1 import post_service_pb2 as ppb
from tests.post_svc import test_servicer
from tests.post_svc.test_servicer import (
    Mesh,
    Person,
    _fails,
    _person,
    _ready_media,
    _start_upload,
)

# The same four real services as test_servicer's tests.
mesh = test_servicer.mesh


async def _stories(mesh: Mesh, viewer: Person | None, owner: Person) -> list[post_pb2.Story]:
    metadata = viewer.md if viewer is not None else mesh.service_md
    found = await mesh.posts.ListUserStories(
        ppb.ListUserStoriesRequest(user_id=owner.user_id), metadata=metadata
    )
    return list(found.stories)


async def test_a_story_from_upload_to_deletion(mesh: Mesh) -> None:
    alice = await _person(mesh, private=True, prefix="alice")
    bob, stranger, blocked = await _person(mesh), await _person(mesh), await _person(mesh)
    await mesh.graph.Follow(gpb.FollowRequest(user_id=alice.user_id), metadata=bob.md)
    await mesh.graph.ApproveFollowRequest(
        gpb.ApproveFollowRequestRequest(user_id=bob.user_id), metadata=alice.md
    )
    await mesh.graph.Block(gpb.BlockRequest(user_id=blocked.user_id), metadata=alice.md)
    received: list[envelope_pb2.EventEnvelope] = []
    event_bus = bus.create_bus(mesh.settings)

    async def collect(envelope: envelope_pb2.EventEnvelope) -> None:
        received.append(envelope)

    consumer = await event_bus.start_consumer(
        group=f"test_stories_{alice.user_id}",
        handler=collect,
        event_types=[post_events_pb2.StoryCreated.DESCRIPTOR.full_name],
    )
    try:
        media_id, spare = await _ready_media(mesh, alice, 2)
        pending = await _start_upload(mesh, alice, complete=False)
        theirs = await _start_upload(mesh, bob, complete=False)
        made = (
            await mesh.posts.CreateStory(
                ppb.CreateStoryRequest(media_id=media_id, caption=f"hi @{bob.username}"),
                metadata=alice.md,
            )
        ).story
        assert made.user.user_id == alice.user_id and made.media.media_id == media_id
        assert made.media.variants.feed.startswith("http") and list(made.mentions) == [bob.username]
        lifetime = made.expires_at.ToDatetime() - made.created_at.ToDatetime()
        assert lifetime.total_seconds() == 24 * 3600 and made.seen

        for request, expected in [
            (
                ppb.CreateStoryRequest(media_id=pending),
                (grpc.StatusCode.FAILED_PRECONDITION, "MEDIA_NOT_READY", []),
            ),
            (
                ppb.CreateStoryRequest(media_id=theirs),
                (grpc.StatusCode.INVALID_ARGUMENT, "MEDIA_NOT_FOUND", ["media_id"]),
            ),
            (
                ppb.CreateStoryRequest(media_id=media_id),
                (grpc.StatusCode.FAILED_PRECONDITION, "MEDIA_ALREADY_POSTED", []),
            ),
            (
                ppb.CreateStoryRequest(media_id=spare, caption="x" * 2201),
                (grpc.StatusCode.INVALID_ARGUMENT, "", ["caption"]),
            ),
        ]:
            code, reason, fields = await _fails(mesh.posts.CreateStory(request, metadata=alice.md))
            assert (code, fields) == (expected[0], expected[2]), request
            assert reason == expected[1] or not expected[1], request

        # A follower sees it unseen, marks it seen (twice: one view), then sees it seen.
        assert [(s.story_id, s.seen) for s in await _stories(mesh, bob, alice)] == [
            (made.story_id, False)
        ]
        for _ in range(2):
            marked = await mesh.posts.MarkStorySeen(
                ppb.MarkStorySeenRequest(story_id=made.story_id), metadata=bob.md
            )
            assert marked.seen
        assert [s.seen for s in await _stories(mesh, bob, alice)] == [True]
        assert [s.view_count for s in await _stories(mesh, alice, alice)] == [1]
        viewers = await mesh.posts.ListStoryViewers(
            ppb.ListStoryViewersRequest(story_id=made.story_id), metadata=alice.md
        )
        assert [v.user.username for v in viewers.viewers] == [bob.username]

        # Strangers, the blocked and services see nothing of a private account's stories.
        for viewer in (stranger, blocked, None):
            code, reason, _ = await _fails(_stories(mesh, viewer, alice))
            assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")
        for who, call, wanted in [
            (
                stranger,
                "MarkStorySeen",
                (grpc.StatusCode.NOT_FOUND, "STORY_NOT_FOUND"),
            ),
            (bob, "ListStoryViewers", (grpc.StatusCode.PERMISSION_DENIED, "NOT_STORY_AUTHOR")),
            (stranger, "ListStoryViewers", (grpc.StatusCode.NOT_FOUND, "STORY_NOT_FOUND")),
            (bob, "DeleteStory", (grpc.StatusCode.PERMISSION_DENIED, "NOT_STORY_AUTHOR")),
            (blocked, "DeleteStory", (grpc.StatusCode.NOT_FOUND, "STORY_NOT_FOUND")),
        ]:
            request_type = getattr(ppb, f"{call}Request")
            rpc = getattr(mesh.posts, call)
            code, reason, _ = await _fails(
                rpc(request_type(story_id=made.story_id), metadata=who.md)
            )
            assert (code, reason) == wanted, call

        # The tray's rings: bob has seen everything, strangers get no ring.
        rings = await mesh.posts.BatchGetStoryRings(
            ppb.BatchGetStoryRingsRequest(
                viewer_id=bob.user_id, author_ids=[stranger.user_id, alice.user_id]
            ),
            metadata=mesh.service_md,
        )
        assert [(r.user_id, r.story_count, r.has_unseen) for r in rings.rings] == [
            (alice.user_id, 1, False)
        ]
        assert rings.rings[0].latest_story_id == made.story_id
        as_stranger = await mesh.posts.BatchGetStoryRings(
            ppb.BatchGetStoryRingsRequest(author_ids=[alice.user_id]), metadata=stranger.md
        )
        assert list(as_stranger.rings) == []
        code, reason, _ = await _fails(
            mesh.posts.BatchGetStoryRings(
                ppb.BatchGetStoryRingsRequest(viewer_id=stranger.user_id, author_ids=[1]),
                metadata=bob.md,
            )
        )
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_VIEWER")
        code, _, fields = await _fails(
            mesh.posts.BatchGetStoryRings(
                ppb.BatchGetStoryRingsRequest(author_ids=list(range(1, 502))),
                metadata=mesh.service_md,
            )
        )
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["author_ids"])

        archive = await mesh.posts.ListStoryArchive(
            ppb.ListStoryArchiveRequest(), metadata=alice.md
        )
        assert list(archive.stories) == []  # nothing has expired yet

        await mesh.posts.DeleteStory(
            ppb.DeleteStoryRequest(story_id=made.story_id), metadata=alice.md
        )
        assert await _stories(mesh, bob, alice) == []
        code, reason, _ = await _fails(
            mesh.posts.MarkStorySeen(
                ppb.MarkStorySeenRequest(story_id=made.story_id), metadata=bob.md
            )
        )
        assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "STORY_NOT_FOUND")
        # The media goes too, after the deletion committed (post_svc's clean-up consumer).
        deadline = time.monotonic() + 10
        while (
            await mesh.media.BatchGetMedia(
                mpb.BatchGetMediaRequest(media_ids=[media_id]), metadata=alice.md
            )
        ).media:
            assert time.monotonic() < deadline, "the story's media was not deleted"
            await asyncio.sleep(0.05)

        deadline = time.monotonic() + 10
        while not received:
            assert time.monotonic() < deadline, "StoryCreated did not arrive"
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
        await event_bus.close()
    created = bus.unpack(received[0], post_events_pb2.StoryCreated)
    assert (created.story_id, created.author_id) == (made.story_id, alice.user_id)
    assert list(created.mentioned_user_ids) == [bob.user_id] and created.author_is_private


async def test_close_friends_stories(mesh: Mesh) -> None:
    alice, friend, other = await _person(mesh), await _person(mesh), await _person(mesh)
    added = await mesh.posts.AddCloseFriend(
        ppb.AddCloseFriendRequest(user_id=friend.user_id), metadata=alice.md
    )
    assert added.user_id == friend.user_id
    code, _, fields = await _fails(
        mesh.posts.AddCloseFriend(
            ppb.AddCloseFriendRequest(user_id=alice.user_id), metadata=alice.md
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["user_id"])
    listed = await mesh.posts.ListCloseFriends(ppb.ListCloseFriendsRequest(), metadata=alice.md)
    assert [u.user_id for u in listed.users] == [friend.user_id]

    (media_id,) = await _ready_media(mesh, alice, 1)
    made = (
        await mesh.posts.CreateStory(
            ppb.CreateStoryRequest(media_id=media_id, close_friends_only=True), metadata=alice.md
        )
    ).story
    assert made.close_friends_only
    assert [s.story_id for s in await _stories(mesh, friend, alice)] == [made.story_id]
    assert await _stories(mesh, other, alice) == []
    rings = await mesh.posts.BatchGetStoryRings(
        ppb.BatchGetStoryRingsRequest(viewer_id=friend.user_id, author_ids=[alice.user_id]),
        metadata=mesh.service_md,
    )
    assert [(r.user_id, r.close_friends, r.has_unseen) for r in rings.rings] == [
        (alice.user_id, True, True)
    ]
    code, reason, _ = await _fails(
        mesh.posts.MarkStorySeen(
            ppb.MarkStorySeenRequest(story_id=made.story_id), metadata=other.md
        )
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "STORY_NOT_FOUND")

    await mesh.posts.RemoveCloseFriend(
        ppb.RemoveCloseFriendRequest(user_id=friend.user_id), metadata=alice.md
    )
    assert await _stories(mesh, friend, alice) == []
