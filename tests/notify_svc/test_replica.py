"""notify_svc on a read replica holding other notifications than its primary: lists read the
replica; the unread count, marking read and live streams read the primary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from graph_svc.servicer import create_graph_service
from graph_svc.settings import GraphSettings
from mesh import db
from mesh.ids import IdGenerator
from mesh.launcher import free_port
from mesh.server import Service
from notify_svc import store
from notify_svc.servicer import create_notify_service
from notify_svc.settings import NotifySettings
from shutter.graph.v1 import graph_service_pb2 as gpb
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.notify.v1 import notify_service_pb2 as npb
from shutter.notify.v1 import notify_service_pb2_grpc
from shutter.user.v1 import user_service_pb2_grpc
from tests.notify_svc.test_servicer import Mesh, Person, person
from tests.replica import make_replica, writable
from user_svc.servicer import create_user_service
from user_svc.settings import UserSettings


@pytest.fixture
async def replica_url(data_dir: Path) -> str:
    return await make_replica("notify_svc", data_dir)


@pytest.fixture
async def settings(data_dir: Path, replica_url: str) -> NotifySettings:
    return NotifySettings(
        data_dir=data_dir,
        bus_poll_interval_seconds=0.05,
        relay_poll_interval_seconds=0.05,
        user_svc_addr=f"127.0.0.1:{free_port()}",
        graph_svc_addr=f"127.0.0.1:{free_port()}",
        post_svc_addr=f"127.0.0.1:{free_port()}",  # not started: no post is hydrated here
        notify_svc_addr=f"127.0.0.1:{free_port()}",
        database_replica_url=replica_url,
        subscribe_heartbeat_seconds=5,
    )


@pytest.fixture
async def mesh(settings: NotifySettings) -> AsyncIterator[Mesh]:
    common: dict[str, Any] = {
        key: getattr(settings, key)
        for key in (
            "data_dir",
            "bus_poll_interval_seconds",
            "relay_poll_interval_seconds",
            "user_svc_addr",
            "graph_svc_addr",
            "post_svc_addr",
            "notify_svc_addr",
        )
    }
    services: list[Service] = [
        await create_user_service(
            UserSettings(**common, argon2_memory_kib=1024, argon2_time_cost=1)
        ),
        await create_graph_service(GraphSettings(**common)),
        await create_notify_service(settings),
    ]
    async with (
        grpc.aio.insecure_channel(services[0].address) as user_channel,
        grpc.aio.insecure_channel(services[1].address) as graph_channel,
        grpc.aio.insecure_channel(services[2].address) as notify_channel,
    ):
        yield Mesh(
            notify=notify_service_pb2_grpc.NotifyServiceStub(notify_channel),
            graph=graph_service_pb2_grpc.GraphServiceStub(graph_channel),
            users=user_service_pb2_grpc.UserServiceStub(user_channel),
            service_md=(),
        )
    for service in reversed(services):
        await service.stop(0)


async def _count(settings: NotifySettings, url: str | None, recipient: int) -> int:
    async with writable("notify_svc", settings, url) as engine, engine.connect() as conn:
        query = select(func.count()).where(store.notifications.c.recipient_id == recipient)
        return int((await conn.execute(query)).scalar_one())


async def _unread(mesh: Mesh, who: Person, count: int) -> None:
    """Wait until the recipient has `count` unread notifications (events travel the bus)."""
    deadline = time.monotonic() + 10
    while True:
        answer = await mesh.notify.GetUnreadCount(npb.GetUnreadCountRequest(), metadata=who.md)
        if answer.unread_count == count:
            return
        assert time.monotonic() < deadline, answer
        await asyncio.sleep(0.05)


async def test_lists_read_the_replica_the_rest_the_primary(
    mesh: Mesh, settings: NotifySettings, replica_url: str
) -> None:
    alice, bob, carol, dave = [await person(mesh) for _ in range(4)]
    await mesh.graph.Follow(gpb.FollowRequest(user_id=alice.user_id), metadata=bob.md)
    # Made from the event on the primary (the unread count reads it), not on the replica.
    await _unread(mesh, alice, 1)
    assert await _count(settings, settings.database_url, alice.user_id) == 1
    assert await _count(settings, replica_url, alice.user_id) == 0
    listed = await mesh.notify.ListNotifications(npb.ListNotificationsRequest(), metadata=alice.md)
    assert list(listed.notifications) == []

    # The replica gets a notification of its own: carol followed alice.
    notification_id = IdGenerator().next_id()
    now = datetime.now(UTC)
    async with writable("notify_svc", settings, replica_url) as engine:
        on_replica = store.SqlNotifyStore(engine)
        async with on_replica.transaction() as tx:
            await on_replica.insert_notification(
                tx,
                record=store.NotificationRecord(
                    notification_id=notification_id,
                    recipient_id=alice.user_id,
                    kind="followed",
                    post_id=0,
                    comment_id=0,
                    text="",
                    actor_count=0,
                    sequence=notification_id,
                    seen_through=0,
                    created_at=now,
                    updated_at=now,
                ),
            )
            await on_replica.add_actor(
                tx, notification_id=notification_id, actor_id=carol.user_id, sequence=1
            )
    listed = await mesh.notify.ListNotifications(npb.ListNotificationsRequest(), metadata=alice.md)
    assert [n.notification_id for n in listed.notifications] == [notification_id]
    assert [a.user_id for a in listed.notifications[0].actors] == [carol.user_id]
    await _unread(mesh, alice, 1)

    # A live stream reads the primary: dave's follow arrives though the replica never has it.
    stream = mesh.notify.Subscribe(npb.SubscribeRequest(), metadata=alice.md)
    assert (await stream.read()).WhichOneof("event") == "opened"
    await mesh.graph.Follow(gpb.FollowRequest(user_id=alice.user_id), metadata=dave.md)
    pushed = await asyncio.wait_for(stream.read(), 10)
    assert [a.user_id for a in pushed.notification.actors] == [dave.user_id]
    stream.cancel()
    assert await _count(settings, replica_url, alice.user_id) == 1

    # Marking read writes the primary and answers from it, actors included.
    marked = await mesh.notify.MarkNotificationRead(
        npb.MarkNotificationReadRequest(notification_id=pushed.notification.notification_id),
        metadata=alice.md,
    )
    assert marked.notification.read
    assert [a.user_id for a in marked.notification.actors] == [dave.user_id]
    await _unread(mesh, alice, 1)  # bob's follow is still unread


@pytest.mark.usefixtures("mesh")  # the services migrate the primary
async def test_a_write_in_a_read_transaction_fails(
    settings: NotifySettings, replica_url: str
) -> None:
    async with (
        writable("notify_svc", settings, settings.database_url) as primary,
        writable("notify_svc", settings, replica_url) as replica,
    ):
        for reader in (
            store.SqlNotifyStore(primary, replica=db.read_only(replica)),
            store.SqlNotifyStore(primary),
        ):
            async with reader.transaction() as tx:  # the same write is fine on the primary
                await reader.mark_all_read(tx, recipient_id=1, max_sequence=None)
            with pytest.raises(DBAPIError):
                async with reader.read_transaction() as tx:
                    await reader.mark_all_read(tx, recipient_id=1, max_sequence=None)
