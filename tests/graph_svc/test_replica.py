"""graph_svc on a read replica holding other edges than its primary: which RPC reads where."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from graph_svc import store
from graph_svc.servicer import create_graph_service
from graph_svc.settings import GraphSettings
from mesh import auth, db
from mesh.ids import IdGenerator
from mesh.launcher import free_port
from mesh.outbox import Outbox
from mesh.server import Service
from shutter.graph.v1 import graph_service_pb2 as gpb
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.user.v1 import user_service_pb2 as upb
from shutter.user.v1 import user_service_pb2_grpc
from tests.replica import make_replica, writable
from user_svc.servicer import create_user_service
from user_svc.settings import UserSettings


@dataclass
class Setup:
    graph: graph_service_pb2_grpc.GraphServiceStub
    users: user_service_pb2_grpc.UserServiceStub
    settings: GraphSettings
    replica_url: str


@pytest.fixture
async def setup(data_dir: Path) -> AsyncIterator[Setup]:
    replica_url = await make_replica("graph_svc", data_dir)
    common: dict[str, Any] = {
        "data_dir": data_dir,
        "user_svc_addr": f"127.0.0.1:{free_port()}",
        "graph_svc_addr": f"127.0.0.1:{free_port()}",
    }
    user_settings = UserSettings(
        **common, argon2_memory_kib=1024, argon2_time_cost=1, peer_deadline_seconds=10
    )
    settings = GraphSettings(**common, database_replica_url=replica_url, user_cache_ttl_seconds=0)
    services: list[Service] = [await create_user_service(user_settings)]
    services.append(await create_graph_service(settings))
    async with (
        grpc.aio.insecure_channel(services[0].address) as user_channel,
        grpc.aio.insecure_channel(services[1].address) as graph_channel,
    ):
        yield Setup(
            graph_service_pb2_grpc.GraphServiceStub(graph_channel),
            user_service_pb2_grpc.UserServiceStub(user_channel),
            settings,
            replica_url,
        )
    for service in reversed(services):
        await service.stop(0)


@dataclass
class Person:
    user_id: int
    md: tuple[tuple[str, str], ...]


async def _person(setup: Setup, name: str, *, private: bool = False) -> Person:
    signed = await setup.users.Register(
        upb.RegisterRequest(username=name, email=f"{name}@example.com", password="pass word 1")
    )
    person = Person(signed.user.user_id, (("authorization", f"Bearer {signed.access_token}"),))
    if private:
        await setup.users.UpdateProfile(
            upb.UpdateProfileRequest(user_id=person.user_id, is_private=True), metadata=person.md
        )
    return person


def _store(engine: Any, replica: Any = None) -> store.SqlGraphStore:
    outbox = Outbox(store.outbox, producer="graph_svc", ids=IdGenerator())
    return store.SqlGraphStore(engine, outbox=outbox, replica=replica)


async def _follows(settings: GraphSettings, url: str | None) -> list[tuple[int, int]]:
    async with writable("graph_svc", settings, url) as engine, engine.connect() as conn:
        query = select(store.follows.c.follower_id, store.follows.c.followee_id)
        return sorted((r.follower_id, r.followee_id) for r in await conn.execute(query))


async def test_lists_and_counts_come_from_the_replica_and_the_privacy_rule_from_the_primary(
    setup: Setup,
) -> None:
    alice, bob, carol, dave = [await _person(setup, n) for n in ("alice", "bob", "carol", "dave")]
    erin = await _person(setup, "erin", private=True)
    await setup.graph.Follow(gpb.FollowRequest(user_id=alice.user_id), metadata=bob.md)
    # The write landed on the primary only.
    assert await _follows(setup.settings, setup.settings.database_url) == [
        (bob.user_id, alice.user_id)
    ]
    assert await _follows(setup.settings, setup.replica_url) == []
    # The replica says carol and dave follow alice, bob follows erin, and carol asked erin.
    ids, now = IdGenerator(), datetime.now(UTC)
    async with writable("graph_svc", setup.settings, setup.replica_url) as engine:
        on_replica = _store(engine)
        async with on_replica.transaction() as tx:
            for follower, followee in ((carol, alice), (dave, alice), (bob, erin)):
                await on_replica.insert_follow(
                    tx,
                    follower_id=follower.user_id,
                    followee_id=followee.user_id,
                    follow_id=ids.next_id(),
                    created_at=now,
                )
            await on_replica.insert_request(
                tx,
                requester_id=carol.user_id,
                target_id=erin.user_id,
                request_id=ids.next_id(),
                created_at=now,
            )

    followers = await setup.graph.ListFollowers(
        gpb.ListFollowersRequest(user_id=alice.user_id), metadata=alice.md
    )
    assert sorted(c.user.user_id for c in followers.followers) == sorted(
        [carol.user_id, dave.user_id]
    )
    following = await setup.graph.ListFollowing(
        gpb.ListFollowingRequest(user_id=bob.user_id), metadata=bob.md
    )
    assert [c.user.user_id for c in following.following] == [erin.user_id]
    requests = await setup.graph.ListFollowRequests(
        gpb.ListFollowRequestsRequest(), metadata=erin.md
    )
    assert [r.user.user_id for r in requests.follow_requests] == [carol.user_id]
    service = (
        ("authorization", f"Bearer {auth.TokenIssuer(setup.settings).service_token('feed_svc')}"),
    )
    counts = await setup.graph.BatchGetFollowCounts(
        gpb.BatchGetFollowCountsRequest(user_ids=[alice.user_id]), metadata=service
    )
    assert counts.counts[0].follower_count == 2

    # The privacy rule and one's own relationships: the primary.
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await setup.graph.ListFollowers(
            gpb.ListFollowersRequest(user_id=erin.user_id), metadata=bob.md
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    relationship = await setup.graph.GetRelationship(
        gpb.GetRelationshipRequest(user_id=alice.user_id), metadata=bob.md
    )
    assert relationship.relationship.following
    seen = await setup.graph.CanView(
        gpb.CanViewRequest(viewer_id=bob.user_id, owner_id=erin.user_id), metadata=service
    )
    assert not seen.visibility.can_view
    # user_svc's GetUser is internal (feed_svc serves profiles): asked as a service, for bob.
    profile = await setup.users.GetUser(
        upb.GetUserRequest(user_id=alice.user_id, viewer_id=bob.user_id), metadata=service
    )
    assert profile.user.follower_count == 1 and profile.user.relationship.following


async def test_a_write_in_a_read_transaction_fails(setup: Setup) -> None:
    settings = setup.settings
    async with (
        writable("graph_svc", settings, settings.database_url) as primary,
        writable("graph_svc", settings, setup.replica_url) as replica,
    ):
        for reader in (_store(primary, db.read_only(replica)), _store(primary)):
            async with reader.transaction() as tx:  # the same write is fine on the primary
                await reader.delete_follow(tx, follower_id=1, followee_id=2)
            with pytest.raises(DBAPIError):
                async with reader.read_transaction() as tx:
                    await reader.delete_follow(tx, follower_id=1, followee_id=2)
