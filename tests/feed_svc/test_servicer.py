"""FeedService over gRPC in an in-process mesh (every service, real peers, no edge), with a
celebrity threshold of 1 so the pull path runs end to end: auth, errors, push and pull merged."""

from __future__ import annotations

import asyncio
import io
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2
from PIL import Image

from feed_svc import cache as keys
from feed_svc.settings import FeedSettings
from mesh import auth, status
from mesh.launcher import RunningMesh, start_mesh
from mesh.redis import create_redis
from mesh.services import MESH
from shutter.events.v1 import envelope_pb2, post_events_pb2
from shutter.feed.v1 import feed_pb2, feed_service_pb2_grpc
from shutter.feed.v1 import feed_service_pb2 as fpb
from shutter.graph.v1 import graph_service_pb2 as gpb
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.media.v1 import media_pb2, media_service_pb2_grpc
from shutter.media.v1 import media_service_pb2 as mpb
from shutter.post.v1 import post_service_pb2 as ppb
from shutter.post.v1 import post_service_pb2_grpc
from shutter.user.v1 import user_service_pb2 as upb
from shutter.user.v1 import user_service_pb2_grpc
from tests.identity import service_md

# How long an event may take to go from a post to a feed on a busy machine.
EVENTUAL_SECONDS = 30.0


@dataclass
class Person:
    user_id: int
    token: str

    @property
    def md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"), *service_md())


@dataclass
class Stubs:
    users: user_service_pb2_grpc.UserServiceStub
    graph: graph_service_pb2_grpc.GraphServiceStub
    media: media_service_pb2_grpc.MediaServiceStub
    posts: post_service_pb2_grpc.PostServiceStub
    feed: feed_service_pb2_grpc.FeedServiceStub
    settings: FeedSettings
    service_md: tuple[tuple[str, str], ...]


@pytest.fixture
async def mesh(data_dir: Path) -> AsyncIterator[Stubs]:
    overrides: dict[str, Any] = {
        "data_dir": data_dir,
        "bus_poll_interval_seconds": 0.05,
        "relay_poll_interval_seconds": 0.05,
        "celebrity_follower_threshold": 1,
        "user_cache_ttl_seconds": 0,
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
        "transcode_video": False,
        **{f"{spec.name}_addr": "127.0.0.1:0" for spec in MESH},
    }
    running: RunningMesh = await start_mesh(overrides=overrides, with_edge=False)
    channels: list[grpc.aio.Channel] = []
    try:

        def channel(name: str) -> grpc.aio.Channel:
            made = grpc.aio.insecure_channel(running.addresses[name])
            channels.append(made)
            return made

        settings = FeedSettings(
            **{k: v for k, v in overrides.items() if k in FeedSettings.model_fields}
        )
        token = auth.TokenIssuer(settings).service_token("test")
        yield Stubs(
            users=user_service_pb2_grpc.UserServiceStub(channel("user_svc")),
            graph=graph_service_pb2_grpc.GraphServiceStub(channel("graph_svc")),
            media=media_service_pb2_grpc.MediaServiceStub(channel("media_svc")),
            posts=post_service_pb2_grpc.PostServiceStub(channel("post_svc")),
            feed=feed_service_pb2_grpc.FeedServiceStub(channel("feed_svc")),
            settings=settings,
            service_md=(("authorization", f"Bearer {token}"),),
        )
    finally:
        for made in channels:
            await made.close()
        await running.stop(0)


_names = iter(range(10**6))


async def _person(mesh: Stubs) -> Person:
    name = f"f{next(_names)}_{random.randrange(10**6)}"
    signed = await mesh.users.Register(
        upb.RegisterRequest(username=name, email=f"{name}@example.com", password="pass word 1")
    )
    return Person(signed.user.user_id, signed.access_token)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 120), (random.randrange(256), 90, 160)).save(out, format="PNG")
    return out.getvalue()


async def _post(mesh: Stubs, person: Person) -> int:
    """Upload a photo, wait until it is ready, post it; return the post id."""
    data = _png()
    created = await mesh.media.CreateUpload(
        mpb.CreateUploadRequest(content_type="image/png", size_bytes=len(data)), metadata=person.md
    )

    async def chunks() -> AsyncIterator[mpb.UploadRequest]:
        yield mpb.UploadRequest(upload_id=created.upload.upload_id, chunk=data)

    await mesh.media.Upload(chunks(), metadata=person.md)
    await mesh.media.CompleteUpload(
        mpb.CompleteUploadRequest(upload_id=created.upload.upload_id), metadata=person.md
    )
    media_id = created.upload.media_id

    async def ready() -> bool:
        found = await mesh.media.BatchGetMedia(
            mpb.BatchGetMediaRequest(media_ids=[media_id]), metadata=person.md
        )
        return [m.status for m in found.media] == [media_pb2.MEDIA_STATUS_READY]

    await _eventually(ready)
    post = await mesh.posts.CreatePost(
        ppb.CreatePostRequest(media_ids=[media_id]), metadata=person.md
    )
    return int(post.post.post_id)


async def _eventually(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + EVENTUAL_SECONDS
    while not await check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.05)


async def _feed(
    mesh: Stubs, who: Person, mode: feed_pb2.FeedMode = feed_pb2.FEED_MODE_CHRONOLOGICAL
) -> list[int]:
    page = await mesh.feed.GetHomeFeed(fpb.GetHomeFeedRequest(mode=mode), metadata=who.md)
    return [p.post_id for p in page.posts]


async def _lose_feeds(redis: Any, *, real: bool) -> None:
    """Lose the feed cache: FLUSHALL on the embedded Redis; on a real server, which other tests
    and this mesh's bus share, delete only feed_svc's keys."""
    if not real:
        await redis.flushall()
        return
    for pattern in ("feed:*", "recent:*"):
        async for key in redis.scan_iter(match=pattern, count=1000):
            await redis.unlink(key)


async def _fails(call: Any) -> tuple[grpc.StatusCode, str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    error = caught.value
    rich = status.status_from_metadata(
        error.code(), error.details() or "", error.trailing_metadata()
    )
    reason, fields = "", []
    for detail in rich.details:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(bad):
            fields = [v.field for v in bad.field_violations]
    return error.code(), reason, fields


async def test_pushed_and_pulled_posts_merge_in_one_feed(mesh: Stubs) -> None:
    reader, ordinary, star, fan = [await _person(mesh) for _ in range(4)]
    assert await _feed(mesh, reader) == []  # reading makes the reader active
    for followee in (ordinary, star):
        await mesh.graph.Follow(gpb.FollowRequest(user_id=followee.user_id), metadata=reader.md)
    await mesh.graph.Follow(gpb.FollowRequest(user_id=star.user_id), metadata=fan.md)
    pushed = await _post(mesh, ordinary)
    pulled = await _post(mesh, star)  # 2 followers > threshold 1: a celebrity

    async def both() -> bool:
        return await _feed(mesh, reader) == [pulled, pushed]

    await _eventually(both)
    ranked = await _feed(mesh, reader, feed_pb2.FEED_MODE_RANKED)
    assert sorted(ranked) == sorted([pulled, pushed])
    redis = create_redis(mesh.settings)
    try:
        stored = await redis.zrange(keys.feed_key(reader.user_id), 0, -1)
        assert keys.member(pushed).encode() in stored
        assert keys.member(pulled).encode() not in stored  # merged at read time only
        await _lose_feeds(redis, real=mesh.settings.redis_url is not None)
        assert not await redis.exists(keys.feed_key(reader.user_id))
        assert await _feed(mesh, reader) == [pulled, pushed]  # rebuilt, the same
    finally:
        await redis.aclose()


async def test_calls_are_checked(mesh: Stubs) -> None:
    reader = await _person(mesh)
    call = mesh.feed.GetHomeFeed
    assert (await _fails(call(fpb.GetHomeFeedRequest())))[:2] == (
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_MISSING",
    )
    assert (await _fails(call(fpb.GetHomeFeedRequest(), metadata=mesh.service_md)))[:2] == (
        grpc.StatusCode.PERMISSION_DENIED,
        "USER_REQUIRED",
    )
    assert await _fails(call(fpb.GetHomeFeedRequest(page_size=-1), metadata=reader.md)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        ["page_size"],
    )
    assert (
        await _fails(
            call(
                fpb.GetHomeFeedRequest(mode=cast(feed_pb2.FeedMode, 9)),
                metadata=reader.md,
            )
        )
    )[2] == ["mode"]
    assert (await _fails(call(fpb.GetHomeFeedRequest(page_token="x!"), metadata=reader.md)))[2] == [
        "page_token"
    ]
    explore = await mesh.feed.GetExplore(fpb.GetExploreRequest(page_size=50), metadata=reader.md)
    assert explore.next_page_token == ""
    assert (
        await _fails(mesh.feed.GetExplore(fpb.GetExploreRequest(page_size=-5), metadata=reader.md))
    )[2] == ["page_size"]


async def test_apply_events_is_for_services_and_takes_1_to_50_events(mesh: Stubs) -> None:
    reader = await _person(mesh)
    payload = any_pb2.Any()
    payload.Pack(post_events_pb2.StoryDeleted(story_id=1, author_id=reader.user_id))
    event = envelope_pb2.EventEnvelope(event_id=1, producer="test", payload=payload)
    apply = mesh.feed.ApplyEvents
    assert (await _fails(apply(fpb.ApplyEventsRequest(events=[event]), metadata=reader.md)))[
        :2
    ] == (grpc.StatusCode.PERMISSION_DENIED, "SERVICE_REQUIRED")
    for count in (0, 51):
        request = fpb.ApplyEventsRequest(events=[event] * count)
        assert await _fails(apply(request, metadata=mesh.service_md)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["events"],
        )
    # 50 events of a type feed_svc does not consume: taken, none applied.
    answer = await apply(fpb.ApplyEventsRequest(events=[event] * 50), metadata=mesh.service_md)
    assert answer.applied_count == 0
