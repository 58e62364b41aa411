"""NotifyService over real gRPC, beside real user_svc and graph_svc on the embedded bus: follows
become notifications, streams push them live and resume, and errors carry codes and reasons."""

from __future__ import annotations

import asyncio
import logging
import time
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
from notify_svc.servicer import create_notify_service
from notify_svc.settings import NotifySettings
from shutter.graph.v1 import graph_service_pb2 as gpb
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.notify.v1 import notify_pb2, notify_service_pb2_grpc
from shutter.notify.v1 import notify_service_pb2 as npb
from shutter.user.v1 import user_service_pb2 as upb
from shutter.user.v1 import user_service_pb2_grpc
from tests.identity import service_md
from user_svc.servicer import create_user_service
from user_svc.settings import UserSettings

Metadata = tuple[tuple[str, str], ...]


@dataclass
class Mesh:
    notify: notify_service_pb2_grpc.NotifyServiceStub
    graph: graph_service_pb2_grpc.GraphServiceStub
    users: user_service_pb2_grpc.UserServiceStub
    service_md: Metadata


@dataclass
class Person:
    user_id: int
    username: str
    token: str

    @property
    def md(self) -> Metadata:
        return (("authorization", f"Bearer {self.token}"), *service_md())


@pytest.fixture
async def mesh(data_dir: Path) -> AsyncIterator[Mesh]:
    common: dict[str, Any] = {
        "data_dir": data_dir,
        "bus_poll_interval_seconds": 0.05,
        "relay_poll_interval_seconds": 0.05,
        "user_svc_addr": f"127.0.0.1:{free_port()}",
        "graph_svc_addr": f"127.0.0.1:{free_port()}",
        "post_svc_addr": f"127.0.0.1:{free_port()}",  # not started: no post is hydrated here
        "notify_svc_addr": f"127.0.0.1:{free_port()}",
    }
    services: list[Service] = [
        await create_user_service(
            UserSettings(**common, argon2_memory_kib=1024, argon2_time_cost=1)
        ),
        await create_graph_service(GraphSettings(**common)),
    ]
    notify_settings = NotifySettings(
        **common, subscribe_heartbeat_seconds=0.3, max_streams_per_user=2
    )
    services.append(await create_notify_service(notify_settings))
    token = auth.TokenIssuer(notify_settings).service_token("feed_svc")
    async with (
        grpc.aio.insecure_channel(services[0].address) as user_channel,
        grpc.aio.insecure_channel(services[1].address) as graph_channel,
        grpc.aio.insecure_channel(services[2].address) as notify_channel,
    ):
        yield Mesh(
            notify=notify_service_pb2_grpc.NotifyServiceStub(notify_channel),
            graph=graph_service_pb2_grpc.GraphServiceStub(graph_channel),
            users=user_service_pb2_grpc.UserServiceStub(user_channel),
            service_md=(("authorization", f"Bearer {token}"),),
        )
    for service in reversed(services):
        await service.stop(0)


_names = iter(range(10**6))


async def person(mesh: Mesh) -> Person:
    name = f"n{next(_names)}"
    signed = await mesh.users.Register(
        upb.RegisterRequest(username=name, email=f"{name}@example.com", password="pass word 1")
    )
    return Person(signed.user.user_id, name, signed.access_token)


async def fails(call: Any) -> tuple[grpc.StatusCode, str, list[str]]:
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


async def wait_for_notifications(mesh: Mesh, who: Person, count: int) -> list[Any]:
    """Poll the list until it holds `count` notifications (events travel the bus)."""
    deadline = time.monotonic() + 10
    while True:
        page = await mesh.notify.ListNotifications(npb.ListNotificationsRequest(), metadata=who.md)
        if len(page.notifications) >= count:
            return list(page.notifications)
        assert time.monotonic() < deadline, page
        await asyncio.sleep(0.05)


async def test_a_follow_is_listed_hydrated_counted_and_read(mesh: Mesh) -> None:
    alice, bob = await person(mesh), await person(mesh)
    await mesh.graph.Follow(gpb.FollowRequest(user_id=alice.user_id), metadata=bob.md)
    [note] = await wait_for_notifications(mesh, alice, 1)
    assert note.kind == notify_pb2.NOTIFICATION_KIND_FOLLOWED
    assert [(a.user_id, a.username) for a in note.actors] == [(bob.user_id, bob.username)]
    assert note.actor_count == 1 and not note.read and note.sequence > 0
    assert note.created_at.seconds > 0 and note.post_id == 0
    unread = await mesh.notify.GetUnreadCount(npb.GetUnreadCountRequest(), metadata=alice.md)
    assert unread.unread_count == 1
    read = await mesh.notify.MarkNotificationRead(
        npb.MarkNotificationReadRequest(notification_id=note.notification_id), metadata=alice.md
    )
    assert read.notification.read and read.notification.actors[0].user_id == bob.user_id
    unread = await mesh.notify.GetUnreadCount(npb.GetUnreadCountRequest(), metadata=alice.md)
    assert unread.unread_count == 0
    marked = await mesh.notify.MarkAllNotificationsRead(
        npb.MarkAllNotificationsReadRequest(), metadata=alice.md
    )
    assert marked.marked_count == 0


async def test_a_mute_silences_the_next_follow_and_an_unmute_lets_it_through(mesh: Mesh) -> None:
    # notify_svc keeps each recipient's ties after asking once; a mute or unmute must make it
    # ask again for the very next event (the follows after it in the same stream).
    bob, alice, carol, dave = [await person(mesh) for _ in range(4)]
    await mesh.graph.Follow(gpb.FollowRequest(user_id=bob.user_id), metadata=alice.md)
    await wait_for_notifications(mesh, bob, 1)  # Bob's ties are kept now: nobody silenced
    await mesh.graph.Mute(gpb.MuteRequest(user_id=carol.user_id), metadata=bob.md)
    await mesh.graph.Follow(gpb.FollowRequest(user_id=bob.user_id), metadata=carol.md)
    await mesh.graph.Follow(gpb.FollowRequest(user_id=bob.user_id), metadata=dave.md)
    # Dave's follow came after Carol's: once it shows, Carol's was handled (and silenced).
    notes = await wait_for_notifications(mesh, bob, 2)
    assert {a.user_id for n in notes for a in n.actors} == {alice.user_id, dave.user_id}
    await mesh.graph.Unmute(gpb.UnmuteRequest(user_id=carol.user_id), metadata=bob.md)
    await mesh.graph.Unfollow(gpb.UnfollowRequest(user_id=bob.user_id), metadata=carol.md)
    await mesh.graph.Follow(gpb.FollowRequest(user_id=bob.user_id), metadata=carol.md)
    notes = await wait_for_notifications(mesh, bob, 3)
    assert carol.user_id in {a.user_id for n in notes for a in n.actors}


async def test_subscribe_pushes_live_and_resumes_without_duplicates(mesh: Mesh) -> None:
    alice, bob, carol = await person(mesh), await person(mesh), await person(mesh)
    await mesh.graph.Follow(gpb.FollowRequest(user_id=alice.user_id), metadata=bob.md)
    [first] = await wait_for_notifications(mesh, alice, 1)

    stream = mesh.notify.Subscribe(npb.SubscribeRequest(), metadata=alice.md)
    opened = await stream.read()
    assert opened.WhichOneof("event") == "opened" and opened.opened.heartbeat_interval_ms == 300
    await mesh.graph.Follow(gpb.FollowRequest(user_id=alice.user_id), metadata=carol.md)
    pushed = await asyncio.wait_for(stream.read(), 10)
    while pushed.WhichOneof("event") == "heartbeat":  # the bus may take longer than 300 ms
        pushed = await asyncio.wait_for(stream.read(), 10)
    assert pushed.WhichOneof("event") == "notification"
    assert [a.user_id for a in pushed.notification.actors] == [carol.user_id]
    beat = await asyncio.wait_for(stream.read(), 5)
    assert beat.WhichOneof("event") == "heartbeat"
    stream.cancel()

    resumed = mesh.notify.Subscribe(
        npb.SubscribeRequest(after_sequence=first.sequence), metadata=alice.md
    )
    assert (await resumed.read()).WhichOneof("event") == "opened"
    again = await asyncio.wait_for(resumed.read(), 5)
    assert again.notification.notification_id == pushed.notification.notification_id
    assert (await asyncio.wait_for(resumed.read(), 5)).WhichOneof("event") == "heartbeat"
    resumed.cancel()


async def test_calls_need_a_user(mesh: Mesh) -> None:
    code, reason, _ = await fails(
        mesh.notify.GetUnreadCount(npb.GetUnreadCountRequest(), metadata=mesh.service_md)
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "USER_REQUIRED")
    code, reason, _ = await fails(mesh.notify.GetUnreadCount(npb.GetUnreadCountRequest()))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")


async def test_bad_requests_answer_with_codes_and_fields(mesh: Mesh) -> None:
    alice = await person(mesh)
    code, _, fields = await fails(
        mesh.notify.ListNotifications(npb.ListNotificationsRequest(page_size=-1), metadata=alice.md)
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_size"])
    code, reason, _ = await fails(
        mesh.notify.MarkNotificationRead(
            npb.MarkNotificationReadRequest(notification_id=12345), metadata=alice.md
        )
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "NOTIFICATION_NOT_FOUND")
    code, _, fields = await fails(
        mesh.notify.MarkAllNotificationsRead(
            npb.MarkAllNotificationsReadRequest(max_sequence=-1), metadata=alice.md
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["max_sequence"])
    stream = mesh.notify.Subscribe(npb.SubscribeRequest(after_sequence=-1), metadata=alice.md)
    code, _, fields = await fails(stream.read())
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["after_sequence"])


async def test_streams_per_user_are_limited(mesh: Mesh) -> None:
    alice = await person(mesh)
    streams = [mesh.notify.Subscribe(npb.SubscribeRequest(), metadata=alice.md) for _ in range(2)]
    for stream in streams:
        assert (await stream.read()).WhichOneof("event") == "opened"
    extra = mesh.notify.Subscribe(npb.SubscribeRequest(), metadata=alice.md)
    code, reason, _ = await fails(extra.read())
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_STREAMS")
    streams[0].cancel()
    deadline = time.monotonic() + 5
    while True:  # the server notices the cancelled stream and frees its slot
        retry = mesh.notify.Subscribe(npb.SubscribeRequest(), metadata=alice.md)
        try:
            assert (await retry.read()).WhichOneof("event") == "opened"
            break
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    retry.cancel()
    streams[1].cancel()


async def test_stopping_ends_open_streams_at_once_and_a_leaving_client_is_no_error(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = NotifySettings(
        data_dir=data_dir,
        notify_svc_addr=f"127.0.0.1:{free_port()}",
        subscribe_heartbeat_seconds=60,  # nothing would end these streams but the stop
    )
    service = await create_notify_service(settings)
    # As the edge opens it for a client: the user's token beside the edge's identity.
    md = (("authorization", f"Bearer {auth.TokenIssuer(settings).user_token(42)}"), *service_md())
    async with grpc.aio.insecure_channel(service.address) as channel:
        notify = notify_service_pb2_grpc.NotifyServiceStub(channel)
        # A client that opens its stream and closes it: one DEBUG access line, no error.
        caplog.set_level(logging.DEBUG, logger="shutter")
        leaving = notify.Subscribe(npb.SubscribeRequest(), metadata=md)
        assert (await leaving.read()).WhichOneof("event") == "opened"
        leaving.cancel()
        deadline = time.monotonic() + 5
        while not any("CANCELLED" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, caplog.text
            await asyncio.sleep(0.02)
        # A client that stays: the stop ends its stream in order, well before the grace.
        staying = notify.Subscribe(npb.SubscribeRequest(), metadata=md)
        assert (await staying.read()).WhichOneof("event") == "opened"
        started = time.monotonic()
        await service.stop(grace=5)
        assert time.monotonic() - started < 4.0  # the grace is 5 s
        assert await staying.read() is grpc.aio.EOF
        assert (await staying.code()) == grpc.StatusCode.OK
    cancelled = [r for r in caplog.records if "CANCELLED" in r.getMessage()]
    assert [r.levelno for r in cancelled] == [logging.DEBUG]
    shutter_warnings = [
        r for r in caplog.records if r.name.startswith("shutter") and r.levelno >= logging.WARNING
    ]
    assert not shutter_warnings, caplog.text
