"""PostService over real gRPC beside real user_svc, graph_svc and media_svc.

Uploads become a carousel; codes and reasons; profile post counts; events on the bus; media deleted
with the post; and the privacy matrix: owner, approved follower, stranger, blocked and anonymous
viewers against every read path.
"""

from __future__ import annotations

import asyncio
import io
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from PIL import Image

from graph_svc.servicer import create_graph_service
from graph_svc.settings import GraphSettings
from media_svc.servicer import create_media_service
from media_svc.settings import MediaSettings
from mesh import auth, bus, status
from mesh.launcher import free_port
from mesh.server import Service
from post_svc.servicer import create_post_service
from post_svc.settings import PostSettings
from shutter.events.v1 import envelope_pb2, post_events_pb2
from shutter.graph.v1 import graph_service_pb2 as gpb
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.media.v1 import media_pb2, media_service_pb2_grpc
from shutter.media.v1 import media_service_pb2 as mpb
from shutter.post.v1 import post_pb2, post_service_pb2_grpc
from shutter.post.v1 import post_service_pb2 as ppb
from shutter.user.v1 import user_service_pb2 as upb
from shutter.user.v1 import user_service_pb2_grpc
from tests.identity import service_md
from user_svc.servicer import create_user_service
from user_svc.settings import UserSettings

# How long processing one small photo may take on a busy machine before a test gives up.
READY_TIMEOUT_SECONDS = 60.0


@dataclass
class Person:
    user_id: int
    username: str
    token: str

    @property
    def md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"), *service_md())


@dataclass
class Mesh:
    users: user_service_pb2_grpc.UserServiceStub
    graph: graph_service_pb2_grpc.GraphServiceStub
    media: media_service_pb2_grpc.MediaServiceStub
    posts: post_service_pb2_grpc.PostServiceStub
    service_md: tuple[tuple[str, str], ...]
    data_dir: Path
    settings: PostSettings


def _common(data_dir: Path, addresses: dict[str, str]) -> dict[str, Any]:
    return {
        "data_dir": data_dir,
        "bus_poll_interval_seconds": 0.05,
        "relay_poll_interval_seconds": 0.05,
        **addresses,
    }


@pytest.fixture
async def mesh(data_dir: Path) -> AsyncIterator[Mesh]:
    names = ("user_svc", "graph_svc", "media_svc", "post_svc")
    addresses = {f"{n}_addr": f"127.0.0.1:{free_port()}" for n in names}
    common = _common(data_dir, addresses)
    post_settings = PostSettings(**common)
    services: list[Service] = []
    try:
        services.append(
            await create_user_service(
                UserSettings(**common, argon2_memory_kib=1024, argon2_time_cost=1)
            )
        )
        # No privacy cache: a test that turns an account private sees it at once.
        services.append(
            await create_graph_service(GraphSettings(**common, user_cache_ttl_seconds=0))
        )
        services.append(
            await create_media_service(
                MediaSettings(**common, media_poll_interval_seconds=0.2, transcode_video=False)
            )
        )
        services.append(await create_post_service(post_settings))
        token = auth.TokenIssuer(post_settings).service_token("feed_svc")
        channels = [grpc.aio.insecure_channel(s.address) for s in services]
        yield Mesh(
            users=user_service_pb2_grpc.UserServiceStub(channels[0]),
            graph=graph_service_pb2_grpc.GraphServiceStub(channels[1]),
            media=media_service_pb2_grpc.MediaServiceStub(channels[2]),
            posts=post_service_pb2_grpc.PostServiceStub(channels[3]),
            service_md=(("authorization", f"Bearer {token}"),),
            data_dir=data_dir,
            settings=post_settings,
        )
        for channel in channels:
            await channel.close()
    finally:
        for service in reversed(services):
            await service.stop(0)


_names = iter(range(10**6))


async def _person(mesh: Mesh, *, private: bool = False, prefix: str = "p") -> Person:
    name = f"{prefix}{next(_names)}_{random.randrange(10**6)}"
    signed = await mesh.users.Register(
        upb.RegisterRequest(username=name, email=f"{name}@example.com", password="pass word 1")
    )
    person = Person(signed.user.user_id, name, signed.access_token)
    if private:
        await mesh.users.UpdateProfile(
            upb.UpdateProfileRequest(user_id=person.user_id, is_private=True), metadata=person.md
        )
    return person


def _png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(out, format="PNG")
    return out.getvalue()


async def _start_upload(mesh: Mesh, person: Person, *, complete: bool = True) -> int:
    """Upload a small photo through the client-streaming Upload RPC; return its media id."""
    data = _png((random.randrange(256), 90, 160))
    created = await mesh.media.CreateUpload(
        mpb.CreateUploadRequest(content_type="image/png", size_bytes=len(data)),
        metadata=person.md,
    )
    upload_id = created.upload.upload_id

    async def chunks() -> AsyncIterator[mpb.UploadRequest]:
        yield mpb.UploadRequest(upload_id=upload_id, chunk=data[: len(data) // 2])
        yield mpb.UploadRequest(chunk=data[len(data) // 2 :])

    await mesh.media.Upload(chunks(), metadata=person.md)
    if complete:
        await mesh.media.CompleteUpload(
            mpb.CompleteUploadRequest(upload_id=upload_id, filter="clarendon"), metadata=person.md
        )
    return int(created.upload.media_id)


async def _ready_media(mesh: Mesh, person: Person, count: int) -> list[int]:
    """Upload photos and wait until media_svc made their variants."""
    media_ids = [await _start_upload(mesh, person) for _ in range(count)]
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        found = await mesh.media.BatchGetMedia(
            mpb.BatchGetMediaRequest(media_ids=media_ids), metadata=person.md
        )
        states = [m.status for m in found.media]
        assert media_pb2.MEDIA_STATUS_FAILED not in states
        if states == [media_pb2.MEDIA_STATUS_READY] * count:
            return media_ids
        assert time.monotonic() < deadline, f"media not ready in time: {states}"
        await asyncio.sleep(0.1)


async def _fails(call: Any) -> tuple[grpc.StatusCode, str, list[str]]:
    """Await a call that must fail; return its code, ErrorInfo reason and violated fields."""
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


async def _post_count(mesh: Mesh, viewer: Person, owner: Person) -> int:
    profile = await mesh.users.GetUser(
        upb.GetUserRequest(user_id=owner.user_id), metadata=viewer.md
    )
    return int(profile.user.post_count)


async def test_a_profile_change_shows_on_new_posts_once_the_bus_brought_it(mesh: Mesh) -> None:
    # post_svc remembers its authors' summaries (60 s by default) for new posts and reads; every
    # replica forgets an account as soon as the bus brings its change, long before that.
    author = await _person(mesh)
    media_ids = await _ready_media(mesh, author, 2)
    first = (
        await mesh.posts.CreatePost(
            ppb.CreatePostRequest(media_ids=media_ids[:1]), metadata=author.md
        )
    ).post
    assert first.user.user_id == author.user_id and first.user.full_name == ""
    await mesh.users.UpdateProfile(
        upb.UpdateProfileRequest(user_id=author.user_id, full_name="Renamed Author"),
        metadata=author.md,
    )
    deadline = time.monotonic() + 10
    while True:
        read = await mesh.posts.GetPost(
            ppb.GetPostRequest(post_id=first.post_id), metadata=author.md
        )
        if read.post.user.full_name == "Renamed Author":
            break
        assert time.monotonic() < deadline, "the profile change never reached post_svc"
        await asyncio.sleep(0.05)
    second = (
        await mesh.posts.CreatePost(
            ppb.CreatePostRequest(media_ids=media_ids[1:]), metadata=author.md
        )
    ).post
    assert second.user.full_name == "Renamed Author"


async def test_a_carousel_from_uploads_to_deletion(mesh: Mesh) -> None:
    author, friend, other = await _person(mesh), await _person(mesh), await _person(mesh)
    received: list[envelope_pb2.EventEnvelope] = []
    event_bus = bus.create_bus(mesh.settings)
    consumer = await event_bus.start_consumer(
        group=f"test_{author.user_id}",
        handler=lambda envelope: _collect(received, envelope),
        event_types=[
            post_events_pb2.PostCreated.DESCRIPTOR.full_name,
            post_events_pb2.UserMentioned.DESCRIPTOR.full_name,
            post_events_pb2.PostDeleted.DESCRIPTOR.full_name,
        ],
    )
    try:
        media_ids = await _ready_media(mesh, author, 2)
        pending = await _start_upload(mesh, author, complete=False)
        theirs = await _start_upload(mesh, other, complete=False)
        request = ppb.CreatePostRequest(
            media_ids=media_ids,
            caption=f"Golden hour #Sunset #café with @{friend.username.upper()} and @nobody_here",
            location=post_pb2.Location(name="Ocean Beach", lat=37.7594, lng=-122.5107),
            idempotency_key="carousel-1",
        )
        made = (await mesh.posts.CreatePost(request, metadata=author.md)).post
        again = (await mesh.posts.CreatePost(request, metadata=author.md)).post
        assert again.post_id == made.post_id
        assert [m.media_id for m in made.media] == media_ids
        assert all(
            m.variants.feed.startswith("http") and m.filter == "clarendon" for m in made.media
        )
        assert made.user.username == author.username and made.user.user_id == author.user_id
        assert list(made.hashtags) == ["sunset", "café"] and list(made.mentions) == [
            friend.username
        ]
        assert made.location.name == "Ocean Beach" and made.place_id > 0
        assert await _post_count(mesh, friend, author) == 1

        for call, expected in [
            (
                mesh.posts.CreatePost(
                    ppb.CreatePostRequest(media_ids=[pending]), metadata=author.md
                ),
                (grpc.StatusCode.FAILED_PRECONDITION, "MEDIA_NOT_READY", []),
            ),
            (
                mesh.posts.CreatePost(
                    ppb.CreatePostRequest(media_ids=[theirs]), metadata=author.md
                ),
                (grpc.StatusCode.INVALID_ARGUMENT, "MEDIA_NOT_FOUND", ["media_ids[0]"]),
            ),
            (
                mesh.posts.CreatePost(
                    ppb.CreatePostRequest(media_ids=media_ids[:1]), metadata=author.md
                ),
                (grpc.StatusCode.FAILED_PRECONDITION, "MEDIA_ALREADY_POSTED", []),
            ),
            (
                mesh.posts.CreatePost(
                    ppb.CreatePostRequest(
                        media_ids=[pending],
                        location=post_pb2.Location(name="x", lat=-91, lng=0),
                    ),
                    metadata=author.md,
                ),
                (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", ["location.lat"]),
            ),
            (
                mesh.posts.CreatePost(ppb.CreatePostRequest(media_ids=media_ids)),
                (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING", []),
            ),
            (
                mesh.posts.CreatePost(
                    ppb.CreatePostRequest(media_ids=media_ids), metadata=mesh.service_md
                ),
                (grpc.StatusCode.PERMISSION_DENIED, "USER_REQUIRED", []),
            ),
            (
                mesh.posts.DeletePost(
                    ppb.DeletePostRequest(post_id=made.post_id), metadata=other.md
                ),
                (grpc.StatusCode.PERMISSION_DENIED, "NOT_POST_AUTHOR", []),
            ),
            (
                mesh.posts.GetPost(ppb.GetPostRequest(post_id=made.post_id + 1), metadata=other.md),
                (grpc.StatusCode.NOT_FOUND, "POST_NOT_FOUND", []),
            ),
        ]:
            assert await _fails(call) == expected

        liked = await mesh.posts.LikePost(
            ppb.LikePostRequest(post_id=made.post_id), metadata=friend.md
        )
        assert (liked.like_count, liked.has_liked) == (1, True)
        seen = (
            await mesh.posts.GetPost(ppb.GetPostRequest(post_id=made.post_id), metadata=friend.md)
        ).post
        assert seen.has_liked and seen.like_count == 1 and not seen.has_saved

        await mesh.posts.DeletePost(ppb.DeletePostRequest(post_id=made.post_id), metadata=author.md)
        assert (
            await _fails(
                mesh.posts.GetPost(ppb.GetPostRequest(post_id=made.post_id), metadata=author.md)
            )
        )[1] == "POST_NOT_FOUND"
        assert await _post_count(mesh, friend, author) == 0
        # The media goes too, after the deletion committed (post_svc's clean-up consumer).
        deadline = time.monotonic() + 10
        while (
            await mesh.media.BatchGetMedia(
                mpb.BatchGetMediaRequest(media_ids=media_ids), metadata=author.md
            )
        ).media:
            assert time.monotonic() < deadline, "the post's media was not deleted"
            await asyncio.sleep(0.05)

        deadline = time.monotonic() + 10
        while len(received) < 3:
            assert time.monotonic() < deadline, f"events did not arrive: {received}"
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
        await event_bus.close()
    kinds = [bus.event_type(e).rsplit(".", 1)[1] for e in received]
    assert kinds == ["PostCreated", "UserMentioned", "PostDeleted"]
    created = bus.unpack(received[0], post_events_pb2.PostCreated)
    mentioned = bus.unpack(received[1], post_events_pb2.UserMentioned)
    assert created.post_id == made.post_id and list(created.media_ids) == media_ids
    assert (mentioned.mentioned_user_id, mentioned.post_author_id) == (
        friend.user_id,
        author.user_id,
    )


async def _collect(
    into: list[envelope_pb2.EventEnvelope], envelope: envelope_pb2.EventEnvelope
) -> None:
    into.append(envelope)


async def test_batch_get_users_by_username(mesh: Mesh) -> None:
    one, two = await _person(mesh), await _person(mesh)
    found = await mesh.users.BatchGetUsers(
        upb.BatchGetUsersRequest(
            user_ids=[one.user_id], usernames=[two.username.upper(), one.username, "nobody_x"]
        ),
        metadata=one.md,
    )
    assert [u.user_id for u in found.users] == [one.user_id, two.user_id]
    too_many = upb.BatchGetUsersRequest(user_ids=[one.user_id] * 50, usernames=["a"] * 51)
    code, _, fields = await _fails(mesh.users.BatchGetUsers(too_many, metadata=one.md))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and fields == ["usernames"]


async def test_several_viewers_flags_in_one_call_services_only(mesh: Mesh) -> None:
    one, two = await _person(mesh), await _person(mesh)
    entry = ppb.BatchGetViewerFlagsRequest
    found = await mesh.posts.BatchGetViewersFlags(
        ppb.BatchGetViewersFlagsRequest(
            viewers=[entry(viewer_id=one.user_id, post_ids=[7, 7, 8]), entry(viewer_id=two.user_id)]
        ),
        metadata=mesh.service_md,
    )
    # One answer per entry, in order (no flags on posts that do not exist).
    assert [list(f.liked_post_ids) + list(f.hidden_post_ids) for f in found.viewers] == [[], []]
    most = [entry(viewer_id=one.user_id, post_ids=range(1, 101))] * 50
    found = await mesh.posts.BatchGetViewersFlags(
        ppb.BatchGetViewersFlagsRequest(viewers=most), metadata=mesh.service_md
    )
    assert len(found.viewers) == 50
    for bad, field in (
        ([*most, entry(viewer_id=two.user_id)], "viewers"),
        ([entry(viewer_id=one.user_id, post_ids=range(1, 102))], "viewers[0].post_ids"),
        ([entry(viewer_id=one.user_id), entry(viewer_id=0)], "viewers[1].viewer_id"),
    ):
        call = mesh.posts.BatchGetViewersFlags(
            ppb.BatchGetViewersFlagsRequest(viewers=bad), metadata=mesh.service_md
        )
        code, _, fields = await _fails(call)
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
    # With since_post_id: the posts asked (in the order asked), then every one from since up
    # the viewer likes or saves, highest first; listed_since_post_id says from where.
    media_ids = await _ready_media(mesh, one, 3)
    p = [
        (
            await mesh.posts.CreatePost(
                ppb.CreatePostRequest(media_ids=[media_id]), metadata=one.md
            )
        ).post.post_id
        for media_id in media_ids
    ]
    for post_id in (p[0], p[1], p[2]):
        await mesh.posts.LikePost(ppb.LikePostRequest(post_id=post_id), metadata=two.md)
    await mesh.posts.SavePost(ppb.SavePostRequest(post_id=p[0]), metadata=two.md)
    found = await mesh.posts.BatchGetViewersFlags(
        ppb.BatchGetViewersFlagsRequest(
            viewers=[
                entry(viewer_id=two.user_id, post_ids=[p[0]], since_post_id=p[1]),
                entry(viewer_id=two.user_id, post_ids=[p[1]], since_post_id=-1),
            ]
        ),
        metadata=mesh.service_md,
    )
    listed = [
        (list(f.liked_post_ids), list(f.saved_post_ids), f.listed_since_post_id)
        for f in found.viewers
    ]
    assert listed == [([p[0], p[2], p[1]], [p[0]], p[1]), ([p[1]], [], 0)]
    one_viewer = await mesh.posts.BatchGetViewerFlags(
        entry(viewer_id=two.user_id, post_ids=[p[0]], since_post_id=p[1]),
        metadata=mesh.service_md,
    )
    assert one_viewer == found.viewers[0]
    # A user's own token is refused: a viewer's flags are not theirs to ask about others.
    user_md = (("authorization", f"Bearer {one.token}"),)
    call = mesh.posts.BatchGetViewersFlags(
        ppb.BatchGetViewersFlagsRequest(viewers=[entry(viewer_id=two.user_id, post_ids=[1])]),
        metadata=user_md,
    )
    assert (await _fails(call))[0] == grpc.StatusCode.PERMISSION_DENIED


PATHS = (
    "get",
    "batch",
    "grid",
    "likers",
    "comments",
    "hashtag",
    "nearby",
    "tag_search",
    "place_search",
)


async def _what_sees(
    mesh: Mesh, md: tuple[tuple[str, str], ...], viewer_id: int, post: post_pb2.Post, tag: str
) -> dict[str, bool]:
    """Return, for every read path, whether the viewer gets to the post through it."""
    post_id = post.post_id

    async def ok(call: Any) -> bool:
        try:
            await call
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
            return False
        return True

    async def listed(call: Any) -> bool:
        try:
            answer = await call
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
            return False
        return post_id in [p.post_id for p in answer.posts]

    batch = mesh.posts.BatchGetPosts(
        ppb.BatchGetPostsRequest(viewer_id=viewer_id, post_ids=[post_id]), metadata=mesh.service_md
    )
    where = post.location
    return {
        "get": await ok(mesh.posts.GetPost(ppb.GetPostRequest(post_id=post_id), metadata=md)),
        "batch": await listed(batch),
        "grid": await listed(
            mesh.posts.ListUserPosts(
                ppb.ListUserPostsRequest(user_id=post.user.user_id), metadata=md
            )
        ),
        "likers": await ok(
            mesh.posts.ListLikers(ppb.ListLikersRequest(post_id=post_id), metadata=md)
        ),
        "comments": await ok(
            mesh.posts.ListComments(ppb.ListCommentsRequest(post_id=post_id), metadata=md)
        ),
        "hashtag": await listed(
            mesh.posts.ListPostsByHashtag(ppb.ListPostsByHashtagRequest(tag=tag), metadata=md)
        ),
        "nearby": await listed(
            mesh.posts.ListPostsNearLocation(
                ppb.ListPostsNearLocationRequest(lat=where.lat, lng=where.lng, radius_km=0.5),
                metadata=md,
            )
        ),
        "tag_search": await listed(
            mesh.posts.SearchPosts(ppb.SearchPostsRequest(query=tag, type="hashtag"), metadata=md)
        ),
        "place_search": await listed(
            mesh.posts.SearchPosts(
                ppb.SearchPostsRequest(query=where.name, type="location"), metadata=md
            )
        ),
    }


async def test_the_privacy_matrix(mesh: Mesh) -> None:
    public, private = (
        await _person(mesh, prefix="pub"),
        await _person(mesh, private=True, prefix="priv"),
    )
    follower, stranger, blocked = await _person(mesh), await _person(mesh), await _person(mesh)
    # follower follows both (the private account approves); both authors block `blocked`.
    await mesh.graph.Follow(gpb.FollowRequest(user_id=public.user_id), metadata=follower.md)
    await mesh.graph.Follow(gpb.FollowRequest(user_id=private.user_id), metadata=follower.md)
    await mesh.graph.ApproveFollowRequest(
        gpb.ApproveFollowRequestRequest(user_id=follower.user_id), metadata=private.md
    )
    for author in (public, private):
        await mesh.graph.Block(gpb.BlockRequest(user_id=blocked.user_id), metadata=author.md)
    tag = f"matrix{random.randrange(10**9)}"
    media = await asyncio.gather(_ready_media(mesh, public, 1), _ready_media(mesh, private, 1))
    posts = {}
    for author, media_ids in zip((public, private), media, strict=True):
        where = post_pb2.Location(
            name=f"Spot {tag} {author.username}",
            lat=random.uniform(-60, 60),
            lng=random.uniform(-170, 170),
        )
        request = ppb.CreatePostRequest(media_ids=media_ids, caption=f"#{tag}", location=where)
        posts[author.username] = (await mesh.posts.CreatePost(request, metadata=author.md)).post

    viewers = {
        "owner": None,
        "follower": follower,
        "stranger": stranger,
        "blocked": blocked,
        "anonymous": "service",
    }
    expected_public = {
        "owner": True,
        "follower": True,
        "stranger": True,
        "blocked": False,
        "anonymous": True,
    }
    expected_private = {
        "owner": True,
        "follower": True,
        "stranger": False,
        "blocked": False,
        "anonymous": False,
    }
    for author, expected in ((public, expected_public), (private, expected_private)):
        post = posts[author.username]
        for role, who in viewers.items():
            if who is None:
                md, viewer_id = author.md, author.user_id
            elif who == "service":  # a service viewing for nobody in particular
                md, viewer_id = mesh.service_md, 0
            else:
                assert isinstance(who, Person)
                md, viewer_id = who.md, who.user_id
            sees = await _what_sees(mesh, md, viewer_id, post, tag)
            assert sees == dict.fromkeys(PATHS, expected[role]), (author.username, role, sees)
        # Without any token, nothing at all (GetPost, ListUserPosts and ListPostsByHashtag are
        # internal now: clients read them through feed_svc's read model).
        for call in (
            mesh.posts.GetPost(ppb.GetPostRequest(post_id=post.post_id)),
            mesh.posts.ListUserPosts(ppb.ListUserPostsRequest(user_id=author.user_id)),
            mesh.posts.ListPostsByHashtag(ppb.ListPostsByHashtagRequest(tag=tag)),
        ):
            assert (await _fails(call))[0] == grpc.StatusCode.PERMISSION_DENIED
        for call in (mesh.posts.SearchHashtags(ppb.SearchHashtagsRequest(query=tag)),):
            assert (await _fails(call))[0] == grpc.StatusCode.UNAUTHENTICATED

    # Blocked accounts cannot like, comment or save; hidden posts answer NOT_FOUND.
    for post in posts.values():
        for call in (
            mesh.posts.LikePost(ppb.LikePostRequest(post_id=post.post_id), metadata=blocked.md),
            mesh.posts.CreateComment(
                ppb.CreateCommentRequest(post_id=post.post_id, text="hi"), metadata=blocked.md
            ),
            mesh.posts.SavePost(ppb.SavePostRequest(post_id=post.post_id), metadata=blocked.md),
        ):
            assert (await _fails(call))[:2] == (grpc.StatusCode.NOT_FOUND, "POST_NOT_FOUND")

    # Someone the follower blocked: their like and comment vanish for the follower only.
    public_post = posts[public.username]
    chatty = await _person(mesh)
    await mesh.posts.LikePost(ppb.LikePostRequest(post_id=public_post.post_id), metadata=chatty.md)
    await mesh.posts.CreateComment(
        ppb.CreateCommentRequest(post_id=public_post.post_id, text="first!"), metadata=chatty.md
    )
    await mesh.graph.Block(gpb.BlockRequest(user_id=chatty.user_id), metadata=follower.md)
    for who, expected_ids in ((follower, []), (public, [chatty.user_id])):
        likers = await mesh.posts.ListLikers(
            ppb.ListLikersRequest(post_id=public_post.post_id), metadata=who.md
        )
        comments = await mesh.posts.ListComments(
            ppb.ListCommentsRequest(post_id=public_post.post_id), metadata=who.md
        )
        assert [u.user_id for u in likers.users] == expected_ids
        assert [c.user.user_id for c in comments.comments] == expected_ids

    # A saved post of a private account leaves the saved list when the follower is removed.
    private_post = posts[private.username]
    await mesh.posts.SavePost(
        ppb.SavePostRequest(post_id=private_post.post_id), metadata=follower.md
    )
    saved = await mesh.posts.ListSavedPosts(ppb.ListSavedPostsRequest(), metadata=follower.md)
    assert [p.post_id for p in saved.posts] == [private_post.post_id] and saved.posts[0].has_saved
    await mesh.graph.RemoveFollower(
        gpb.RemoveFollowerRequest(user_id=follower.user_id), metadata=private.md
    )
    saved = await mesh.posts.ListSavedPosts(ppb.ListSavedPostsRequest(), metadata=follower.md)
    assert list(saved.posts) == []


async def test_profiles_are_served_without_post_svc(tmp_path: Path) -> None:
    """A user_svc whose post_svc is unreachable still answers profiles, with no post count."""
    addresses = {
        "user_svc_addr": f"127.0.0.1:{free_port()}",
        "graph_svc_addr": f"127.0.0.1:{free_port()}",
        "post_svc_addr": f"127.0.0.1:{free_port()}",
    }
    service = await create_user_service(
        UserSettings(**_common(tmp_path, addresses), argon2_memory_kib=1024, argon2_time_cost=1)
    )
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            users = user_service_pb2_grpc.UserServiceStub(channel)
            signed = await users.Register(
                upb.RegisterRequest(
                    username="alone", email="alone@example.com", password="pass word 1"
                )
            )
            started = time.monotonic()
            profile = await users.GetUser(
                upb.GetUserRequest(user_id=signed.user.user_id),
                metadata=(("authorization", f"Bearer {signed.access_token}"), *service_md()),
            )
            assert time.monotonic() - started < 3
            assert profile.user.username == "alone" and profile.user.post_count == 0
    finally:
        await service.stop(0)


async def test_moderation_rpcs_describe_hide_and_remove_through_the_owners_paths(
    mesh: Mesh,
) -> None:
    author, reporter, other = await _person(mesh), await _person(mesh), await _person(mesh)
    stranger = await _person(mesh, private=True)
    [media_id] = await _ready_media(mesh, author, 1)
    post = (
        await mesh.posts.CreatePost(
            ppb.CreatePostRequest(media_ids=[media_id], caption="look"), metadata=author.md
        )
    ).post
    comment = (
        await mesh.posts.CreateComment(
            ppb.CreateCommentRequest(post_id=post.post_id, text="hello"), metadata=other.md
        )
    ).comment
    POST, COMMENT = "REPORT_TARGET_TYPE_POST", "REPORT_TARGET_TYPE_COMMENT"

    described = await mesh.posts.GetModerationTarget(
        ppb.GetModerationTargetRequest(
            target_type=COMMENT, target_id=comment.comment_id, viewer_id=reporter.user_id
        ),
        metadata=reporter.md,
    )
    assert described.owner_id == other.user_id
    # Not found alike when it does not exist or the viewer cannot see it (private, blocked).
    [private_media] = await _ready_media(mesh, stranger, 1)
    private_post = (
        await mesh.posts.CreatePost(
            ppb.CreatePostRequest(media_ids=[private_media]), metadata=stranger.md
        )
    ).post
    for target_type, target_id in ((POST, private_post.post_id), (POST, 99), (COMMENT, 99)):
        code, _, _ = await _fails(
            mesh.posts.GetModerationTarget(
                ppb.GetModerationTargetRequest(
                    target_type=target_type, target_id=target_id, viewer_id=reporter.user_id
                ),
                metadata=reporter.md,
            )
        )
        assert code == grpc.StatusCode.NOT_FOUND, (target_type, target_id)

    # Hidden from the reporter only, twice is once.
    for _ in range(2):
        await mesh.posts.HideFromViewer(
            ppb.HideFromViewerRequest(
                target_type=COMMENT, target_id=comment.comment_id, viewer_id=reporter.user_id
            ),
            metadata=reporter.md,
        )
    await mesh.posts.HideFromViewer(
        ppb.HideFromViewerRequest(
            target_type=POST, target_id=post.post_id, viewer_id=reporter.user_id
        ),
        metadata=reporter.md,
    )
    code, reason, _ = await _fails(
        mesh.posts.GetPost(ppb.GetPostRequest(post_id=post.post_id), metadata=reporter.md)
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "POST_NOT_FOUND")
    seen = await mesh.posts.GetPost(ppb.GetPostRequest(post_id=post.post_id), metadata=other.md)
    assert seen.post.comment_count == 1
    comments = await mesh.posts.ListComments(
        ppb.ListCommentsRequest(post_id=post.post_id), metadata=author.md
    )
    assert [c.comment_id for c in comments.comments] == [comment.comment_id]
    grid = await mesh.posts.ListUserPosts(
        ppb.ListUserPostsRequest(user_id=author.user_id), metadata=reporter.md
    )
    assert list(grid.posts) == []

    # Removed through the author's delete path: gone for everyone; again is a no-op.
    removed = await mesh.posts.RemoveContent(
        ppb.RemoveContentRequest(target_type=POST, target_id=post.post_id), metadata=other.md
    )
    assert removed.owner_id == author.user_id
    code, _, _ = await _fails(
        mesh.posts.GetPost(ppb.GetPostRequest(post_id=post.post_id), metadata=author.md)
    )
    assert code == grpc.StatusCode.NOT_FOUND
    again = await mesh.posts.RemoveContent(
        ppb.RemoveContentRequest(target_type=POST, target_id=post.post_id), metadata=other.md
    )
    assert again.owner_id == 0
