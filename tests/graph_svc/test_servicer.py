"""GraphService over real gRPC, beside a real user_svc: codes, reasons, who may call what, profile
counts in user_svc, and the profile-change consumer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from graph_svc.servicer import create_graph_service
from graph_svc.settings import GraphSettings
from mesh import auth, status
from mesh.launcher import free_port
from mesh.server import Service
from shutter.graph.v1 import graph_service_pb2 as gpb
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.user.v1 import user_service_pb2 as upb
from shutter.user.v1 import user_service_pb2_grpc
from tests.identity import service_md
from user_svc.servicer import create_user_service
from user_svc.settings import UserSettings


@dataclass
class Mesh:
    graph: graph_service_pb2_grpc.GraphServiceStub
    users: user_service_pb2_grpc.UserServiceStub
    service_token: str


@dataclass
class Person:
    user_id: int
    token: str

    @property
    def md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"), *service_md())


def _settings(data_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "data_dir": data_dir,
        "bus_poll_interval_seconds": 0.05,
        "relay_poll_interval_seconds": 0.05,
        **extra,
    }


@pytest.fixture
async def mesh(data_dir: Path) -> AsyncIterator[Mesh]:
    addresses = {
        "user_svc_addr": f"127.0.0.1:{free_port()}",
        "graph_svc_addr": f"127.0.0.1:{free_port()}",
    }
    # Profiles here wait long for graph_svc: a loaded CI machine once stalled past the 1 s default,
    # and what runs out then is a deadline these tests are not about.
    user_settings = UserSettings(
        **_settings(data_dir, **addresses),
        argon2_memory_kib=1024,
        argon2_time_cost=1,
        peer_deadline_seconds=10,
    )
    graph_settings = GraphSettings(**_settings(data_dir, **addresses))
    services: list[Service] = [await create_user_service(user_settings)]
    services.append(await create_graph_service(graph_settings))
    token = auth.TokenIssuer(graph_settings).service_token("feed_svc")
    async with (
        grpc.aio.insecure_channel(services[0].address) as user_channel,
        grpc.aio.insecure_channel(services[1].address) as graph_channel,
    ):
        yield Mesh(
            graph=graph_service_pb2_grpc.GraphServiceStub(graph_channel),
            users=user_service_pb2_grpc.UserServiceStub(user_channel),
            service_token=token,
        )
    for service in reversed(services):
        await service.stop(0)


_names = iter(range(10**6))


async def _person(mesh: Mesh, *, private: bool = False) -> Person:
    name = f"p{next(_names)}"
    signed = await mesh.users.Register(
        upb.RegisterRequest(username=name, email=f"{name}@example.com", password="pass word 1")
    )
    person = Person(signed.user.user_id, signed.access_token)
    if private:
        await mesh.users.UpdateProfile(
            upb.UpdateProfileRequest(user_id=person.user_id, is_private=True), metadata=person.md
        )
    return person


def _service(mesh: Mesh) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {mesh.service_token}"),)


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


async def test_follow_shows_in_profiles_lists_and_relationships(mesh: Mesh) -> None:
    alice, bob = await _person(mesh), await _person(mesh)
    followed = await mesh.graph.Follow(gpb.FollowRequest(user_id=bob.user_id), metadata=alice.md)
    assert followed.relationship.user_id == bob.user_id and followed.relationship.following
    bobs = await mesh.users.GetUser(upb.GetUserRequest(user_id=bob.user_id), metadata=alice.md)
    assert (bobs.user.follower_count, bobs.user.following_count) == (1, 0)
    assert bobs.user.relationship.following and not bobs.user.relationship.followed_by
    own = await mesh.users.GetUser(upb.GetUserRequest(user_id=alice.user_id), metadata=alice.md)
    assert own.user.following_count == 1 and not own.user.HasField("relationship")
    followers = await mesh.graph.ListFollowers(
        gpb.ListFollowersRequest(user_id=bob.user_id), metadata=bob.md
    )
    [entry] = followers.followers
    assert entry.user.user_id == alice.user_id and entry.user.username.startswith("p")
    assert entry.relationship.followed_by and not entry.relationship.following
    assert entry.followed_at.seconds > 0 and followers.next_page_token == ""
    seen = await mesh.graph.GetRelationship(
        gpb.GetRelationshipRequest(user_id=alice.user_id), metadata=bob.md
    )
    assert seen.relationship.followed_by


async def test_callers_and_bad_input_get_clear_codes(mesh: Mesh) -> None:
    alice = await _person(mesh)
    request = gpb.FollowRequest(user_id=alice.user_id)
    code, reason, _ = await _fails(mesh.graph.Follow(request))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")
    code, reason, _ = await _fails(mesh.graph.Follow(request, metadata=_service(mesh)))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "USER_REQUIRED")
    code, reason, fields = await _fails(mesh.graph.Follow(request, metadata=alice.md))
    assert (code, reason, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "CANNOT_TARGET_SELF",
        ["user_id"],
    )
    code, reason, _ = await _fails(
        mesh.graph.Follow(gpb.FollowRequest(user_id=123456789), metadata=alice.md)
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")
    code, reason, _ = await _fails(
        mesh.graph.GetRelationships(
            gpb.GetRelationshipsRequest(viewer_id=alice.user_id + 1, user_ids=[1]),
            metadata=alice.md,
        )
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_VIEWER")
    code, reason, fields = await _fails(
        mesh.graph.GetRelationships(
            gpb.GetRelationshipsRequest(user_ids=list(range(1, 102))), metadata=alice.md
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["user_ids"])
    code, reason, fields = await _fails(
        mesh.graph.ListFollowers(
            gpb.ListFollowersRequest(user_id=alice.user_id, page_size=-1), metadata=alice.md
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_size"])
    stream = mesh.graph.StreamFollowerIds(
        gpb.StreamFollowerIdsRequest(user_id=alice.user_id), metadata=alice.md
    )
    code, reason, _ = await _fails(stream.read())
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SERVICE_REQUIRED")


async def test_get_relationships_answers_100_accounts_in_one_call(mesh: Mesh) -> None:
    alice, bob, carol = await _person(mesh), await _person(mesh), await _person(mesh)
    await mesh.graph.Follow(gpb.FollowRequest(user_id=bob.user_id), metadata=alice.md)
    await mesh.graph.Mute(gpb.MuteRequest(user_id=carol.user_id), metadata=alice.md)
    await mesh.graph.Block(gpb.BlockRequest(user_id=alice.user_id), metadata=carol.md)
    others = [bob.user_id, carol.user_id, *range(1, 99)]
    answer = await mesh.graph.GetRelationships(
        gpb.GetRelationshipsRequest(viewer_id=alice.user_id, user_ids=others),
        metadata=_service(mesh),
    )
    assert [r.user_id for r in answer.relationships] == others
    assert answer.relationships[0].following
    assert answer.relationships[1].muting and answer.relationships[1].blocked_by
    assert not any(r.following or r.muting for r in answer.relationships[2:])
    # A user asking for themselves (viewer 0 = the caller) gets the same answer.
    own = await mesh.graph.GetRelationships(
        gpb.GetRelationshipsRequest(user_ids=others), metadata=alice.md
    )
    assert own == answer


async def test_many_follow_lists_come_in_one_call_each_as_its_own_call_gives_it(
    mesh: Mesh,
) -> None:
    # The rebuilds of many feeds at once (the read model lost) ask for their lists together.
    a, b, c, d, e = [await _person(mesh) for _ in range(5)]
    for follower, followees in ((a, [b, c, d]), (b, [a]), (c, [a, b, c, d, e][3:])):
        for followee in followees:
            await mesh.graph.Follow(
                gpb.FollowRequest(user_id=followee.user_id), metadata=follower.md
            )
    await mesh.graph.Mute(gpb.MuteRequest(user_id=c.user_id), metadata=a.md)
    asked = [a.user_id, b.user_id, e.user_id, c.user_id, a.user_id, 424242]
    answer = await mesh.graph.BatchGetFollowingIds(
        gpb.BatchGetFollowingIdsRequest(user_ids=asked, exclude_muted=True),
        metadata=_service(mesh),
    )
    found = [(f.user_id, list(f.followee_ids), f.more) for f in answer.following]
    assert found == [
        (a.user_id, sorted([b.user_id, d.user_id]), False),  # c muted: left out
        (b.user_id, [a.user_id], False),
        (e.user_id, [], False),
        (c.user_id, sorted([d.user_id, e.user_id]), False),
        (424242, [], False),
    ]
    for owner, ids, _ in found:  # the same lists as one call per account
        alone = await mesh.graph.GetFollowingIds(
            gpb.GetFollowingIdsRequest(user_id=owner, exclude_muted=True), metadata=_service(mesh)
        )
        assert list(alone.user_ids) == ids
    # A page too short for a list says so (the caller streams it); muted ones are kept unless
    # left out.
    short = await mesh.graph.BatchGetFollowingIds(
        gpb.BatchGetFollowingIdsRequest(user_ids=[a.user_id, b.user_id], page_size=2),
        metadata=_service(mesh),
    )
    assert [(list(f.followee_ids), f.more) for f in short.following] == [
        (sorted([b.user_id, c.user_id, d.user_id])[:2], True),
        ([a.user_id], False),
    ]
    # The limits: 100 accounts (101 refused), a negative page refused, services only.
    full = await mesh.graph.BatchGetFollowingIds(
        gpb.BatchGetFollowingIdsRequest(user_ids=range(1, 101), page_size=5000),
        metadata=_service(mesh),
    )
    assert len(full.following) == 100
    code, _, fields = await _fails(
        mesh.graph.BatchGetFollowingIds(
            gpb.BatchGetFollowingIdsRequest(user_ids=range(1, 102)), metadata=_service(mesh)
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["user_ids"])
    code, _, fields = await _fails(
        mesh.graph.BatchGetFollowingIds(
            gpb.BatchGetFollowingIdsRequest(user_ids=[a.user_id], page_size=-1),
            metadata=_service(mesh),
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_size"])
    code, _, _ = await _fails(
        mesh.graph.BatchGetFollowingIds(
            gpb.BatchGetFollowingIdsRequest(user_ids=[a.user_id]), metadata=a.md
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_who_each_account_should_not_hear_from_comes_in_one_call(mesh: Mesh) -> None:
    # notify_svc keeps, per recipient, the accounts blocked either way or muted by it.
    a, b, c, d, e = [await _person(mesh) for _ in range(5)]
    await mesh.graph.Block(gpb.BlockRequest(user_id=b.user_id), metadata=a.md)
    await mesh.graph.Block(gpb.BlockRequest(user_id=a.user_id), metadata=c.md)
    await mesh.graph.Mute(gpb.MuteRequest(user_id=d.user_id), metadata=a.md)
    await mesh.graph.Mute(gpb.MuteRequest(user_id=b.user_id), metadata=a.md)  # blocked too: once
    await mesh.graph.Mute(gpb.MuteRequest(user_id=a.user_id), metadata=e.md)  # e's, not a's
    await mesh.graph.Follow(gpb.FollowRequest(user_id=a.user_id), metadata=d.md)
    asked = [a.user_id, e.user_id, d.user_id, a.user_id, 424242]
    answer = await mesh.graph.BatchGetSilencedIds(
        gpb.BatchGetSilencedIdsRequest(user_ids=asked), metadata=_service(mesh)
    )
    found = [(s.user_id, list(s.silenced_ids), s.more) for s in answer.silenced]
    assert found == [
        (a.user_id, sorted([b.user_id, c.user_id, d.user_id]), False),
        (e.user_id, [a.user_id], False),
        (d.user_id, [], False),  # muted by a, following a: nothing d should not hear
        (424242, [], False),
    ]
    short = await mesh.graph.BatchGetSilencedIds(
        gpb.BatchGetSilencedIdsRequest(user_ids=[a.user_id], page_size=2), metadata=_service(mesh)
    )
    assert [(list(s.silenced_ids), s.more) for s in short.silenced] == [
        (sorted([b.user_id, c.user_id, d.user_id])[:2], True)
    ]
    await mesh.graph.Unblock(gpb.UnblockRequest(user_id=b.user_id), metadata=a.md)
    await mesh.graph.Unmute(gpb.UnmuteRequest(user_id=b.user_id), metadata=a.md)
    after = await mesh.graph.BatchGetSilencedIds(
        gpb.BatchGetSilencedIdsRequest(user_ids=[a.user_id]), metadata=_service(mesh)
    )
    assert list(after.silenced[0].silenced_ids) == sorted([c.user_id, d.user_id])
    # The limits: 100 accounts (101 refused), a negative page refused, services only.
    code, _, fields = await _fails(
        mesh.graph.BatchGetSilencedIds(
            gpb.BatchGetSilencedIdsRequest(user_ids=range(1, 102)), metadata=_service(mesh)
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["user_ids"])
    code, _, fields = await _fails(
        mesh.graph.BatchGetSilencedIds(
            gpb.BatchGetSilencedIdsRequest(user_ids=[a.user_id], page_size=-1),
            metadata=_service(mesh),
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_size"])
    code, _, _ = await _fails(
        mesh.graph.BatchGetSilencedIds(
            gpb.BatchGetSilencedIdsRequest(user_ids=[a.user_id]), metadata=a.md
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_going_public_approves_pending_requests_through_the_bus(mesh: Mesh) -> None:
    alice, carol = await _person(mesh), await _person(mesh, private=True)
    requested = await mesh.graph.Follow(gpb.FollowRequest(user_id=carol.user_id), metadata=alice.md)
    assert requested.relationship.requested and not requested.relationship.following
    pending = await mesh.graph.ListFollowRequests(
        gpb.ListFollowRequestsRequest(), metadata=carol.md
    )
    assert [r.user.user_id for r in pending.follow_requests] == [alice.user_id]
    code, reason, _ = await _fails(
        mesh.graph.ListFollowers(gpb.ListFollowersRequest(user_id=carol.user_id), metadata=alice.md)
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "PRIVATE_ACCOUNT")
    carols = await mesh.users.GetUser(upb.GetUserRequest(user_id=carol.user_id), metadata=alice.md)
    assert carols.user.relationship.requested and carols.user.follower_count == 0

    await mesh.users.UpdateProfile(
        upb.UpdateProfileRequest(user_id=carol.user_id, is_private=False), metadata=carol.md
    )
    # user_svc's outbox -> bus -> graph_svc's consumer: asynchronous, so wait (at most 30 s, for
    # a busy 2-core machine running the Redis bus).
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        seen = await mesh.graph.GetRelationship(
            gpb.GetRelationshipRequest(user_id=carol.user_id), metadata=alice.md
        )
        if seen.relationship.following or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert seen.relationship.following and not seen.relationship.requested
    listed = await mesh.graph.ListFollowers(
        gpb.ListFollowersRequest(user_id=carol.user_id), metadata=alice.md
    )
    assert [c.user.user_id for c in listed.followers] == [alice.user_id]


async def test_a_blocked_viewer_finds_no_profile_and_the_blocker_a_bare_one(mesh: Mesh) -> None:
    alice, bob = await _person(mesh), await _person(mesh)
    await mesh.users.UpdateProfile(
        upb.UpdateProfileRequest(user_id=alice.user_id, bio="hello"), metadata=alice.md
    )
    await mesh.graph.Follow(gpb.FollowRequest(user_id=alice.user_id), metadata=bob.md)
    await mesh.graph.Block(gpb.BlockRequest(user_id=bob.user_id), metadata=alice.md)
    code, reason, _ = await _fails(
        mesh.users.GetUser(upb.GetUserRequest(user_id=alice.user_id), metadata=bob.md)
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")
    bare = await mesh.users.GetUser(upb.GetUserRequest(user_id=bob.user_id), metadata=alice.md)
    assert bare.user.username and bare.user.relationship.blocking
    assert bare.user.following_count == 0 and not bare.user.HasField("created_at")
    own = await mesh.users.GetUser(upb.GetUserRequest(user_id=alice.user_id), metadata=alice.md)
    assert own.user.bio == "hello" and own.user.follower_count == 0  # the block removed Bob


async def test_services_stream_follower_ids_and_ask_the_privacy_rule(mesh: Mesh) -> None:
    owner, private = await _person(mesh), await _person(mesh, private=True)
    followers = [await _person(mesh) for _ in range(5)]
    for follower in followers:
        await mesh.graph.Follow(gpb.FollowRequest(user_id=owner.user_id), metadata=follower.md)
    await mesh.graph.Mute(gpb.MuteRequest(user_id=owner.user_id), metadata=followers[0].md)
    stream = mesh.graph.StreamFollowerIds(
        gpb.StreamFollowerIdsRequest(user_id=owner.user_id, page_size=2, exclude_muted=True),
        metadata=_service(mesh),
    )
    batches = [list(message.follower_ids) async for message in stream]
    assert [len(b) for b in batches] == [2, 2]
    assert [i for b in batches for i in b] == sorted(f.user_id for f in followers[1:])
    # A fan-out asks for the count with the ids: on the first message, the muted one counted.
    counted = mesh.graph.StreamFollowerIds(
        gpb.StreamFollowerIdsRequest(
            user_id=owner.user_id, page_size=2, exclude_muted=True, with_follower_count=True
        ),
        metadata=_service(mesh),
    )
    pages = [(list(m.follower_ids), m.follower_count) async for m in counted]
    assert pages == [(batches[0], 5), (batches[1], 0)]
    alone = mesh.graph.StreamFollowerIds(
        gpb.StreamFollowerIdsRequest(user_id=private.user_id, with_follower_count=True),
        metadata=_service(mesh),
    )
    assert [(list(m.follower_ids), m.follower_count) async for m in alone] == [([], 0)]
    following = mesh.graph.StreamFollowingIds(
        gpb.StreamFollowingIdsRequest(user_id=followers[1].user_id), metadata=_service(mesh)
    )
    assert [list(m.user_ids) async for m in following] == [[owner.user_id]]
    # The same list in one answer (a feed's rebuild), muted accounts left out when asked, and
    # `more` when the page is too short for it.
    others = [f.user_id for f in followers[2:]]
    for other in others:
        await mesh.graph.Follow(gpb.FollowRequest(user_id=other), metadata=followers[1].md)
    await mesh.graph.Mute(gpb.MuteRequest(user_id=others[0]), metadata=followers[1].md)
    whole = await mesh.graph.GetFollowingIds(
        gpb.GetFollowingIdsRequest(user_id=followers[1].user_id, exclude_muted=True),
        metadata=_service(mesh),
    )
    assert (list(whole.user_ids), whole.more) == (sorted([owner.user_id, *others[1:]]), False)
    first = await mesh.graph.GetFollowingIds(
        gpb.GetFollowingIdsRequest(user_id=followers[1].user_id, page_size=2),
        metadata=_service(mesh),
    )
    assert (list(first.user_ids), first.more) == (sorted([owner.user_id, *others])[:2], True)
    assert not whole.blocking_ids and not whole.blocked_by_ids  # only when asked for
    # With the blocks either way (feed_svc's whole ties of a viewer), page_size bounding them.
    viewer = followers[1]
    blocked, *blockers = [await _person(mesh) for _ in range(3)]
    await mesh.graph.Block(gpb.BlockRequest(user_id=blocked.user_id), metadata=viewer.md)
    for blocker in blockers:
        await mesh.graph.Block(gpb.BlockRequest(user_id=viewer.user_id), metadata=blocker.md)
    ties = await mesh.graph.GetFollowingIds(
        gpb.GetFollowingIdsRequest(user_id=viewer.user_id, page_size=3, with_blocks=True),
        metadata=_service(mesh),
    )
    assert list(ties.blocking_ids) == [blocked.user_id] and not ties.more_blocks
    assert list(ties.blocked_by_ids) == sorted(b.user_id for b in blockers)
    short = await mesh.graph.GetFollowingIds(
        gpb.GetFollowingIdsRequest(user_id=viewer.user_id, page_size=2, with_blocks=True),
        metadata=_service(mesh),
    )
    assert short.more_blocks and len(short.blocking_ids) + len(short.blocked_by_ids) == 2
    code, _, _ = await _fails(
        mesh.graph.GetFollowingIds(
            gpb.GetFollowingIdsRequest(user_id=owner.user_id), metadata=followers[1].md
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED

    counts = await mesh.graph.BatchGetFollowCounts(
        gpb.BatchGetFollowCountsRequest(user_ids=[owner.user_id, private.user_id]),
        metadata=_service(mesh),
    )
    assert [(c.follower_count, c.following_count) for c in counts.counts] == [(5, 0), (0, 0)]
    answer = await mesh.graph.BatchCanView(
        gpb.BatchCanViewRequest(
            viewer_id=followers[0].user_id, owner_ids=[owner.user_id, private.user_id, 424242]
        ),
        metadata=_service(mesh),
    )
    assert [(v.owner_id, v.can_view) for v in answer.visibilities] == [
        (owner.user_id, True),
        (private.user_id, False),
    ]
    one = await mesh.graph.CanView(
        gpb.CanViewRequest(owner_id=private.user_id), metadata=private.md
    )
    assert one.visibility.can_view  # the owner sees their own account
    code, reason, _ = await _fails(
        mesh.graph.CanView(gpb.CanViewRequest(owner_id=424242), metadata=_service(mesh))
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")
    profile = await mesh.graph.GetProfileGraph(
        gpb.GetProfileGraphRequest(user_id=owner.user_id, viewer_id=followers[2].user_id),
        metadata=_service(mesh),
    )
    assert profile.counts.follower_count == 5 and profile.relationship.following


async def test_user_svc_serves_profiles_when_graph_svc_is_down(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = UserSettings(
        **_settings(data_dir),
        user_svc_addr="127.0.0.1:0",
        graph_svc_addr=f"127.0.0.1:{free_port()}",  # nobody listens there
        argon2_memory_kib=1024,
        argon2_time_cost=1,
    )
    service = await create_user_service(settings)
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            users = user_service_pb2_grpc.UserServiceStub(channel)
            signed = await users.Register(
                upb.RegisterRequest(
                    username="solo", email="solo@example.com", password="pass word 1"
                )
            )
            md = (("authorization", f"Bearer {signed.access_token}"), *service_md())
            with caplog.at_level(logging.WARNING, logger="shutter.user_svc"):
                found = await users.GetUser(upb.GetUserRequest(username="solo"), metadata=md)
    finally:
        await service.stop(0)
    assert found.user.user_id == signed.user.user_id and found.user.follower_count == 0
    assert any("graph_svc gave no counts" in r.getMessage() for r in caplog.records)
