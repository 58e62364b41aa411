"""user_svc on a read replica holding other rows than its primary: which RPC reads where."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import auth, db
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from shutter.user.v1 import user_service_pb2 as pb
from shutter.user.v1 import user_service_pb2_grpc
from tests.identity import service_md
from tests.replica import make_replica, writable
from user_svc import store
from user_svc.servicer import create_user_service
from user_svc.settings import UserSettings


@dataclass
class Setup:
    stub: user_service_pb2_grpc.UserServiceStub
    settings: UserSettings
    replica_url: str


@pytest.fixture
async def setup(data_dir: Path, quiet_graph: str) -> AsyncIterator[Setup]:
    replica_url = await make_replica("user_svc", data_dir)
    settings = UserSettings(
        data_dir=data_dir,
        user_svc_addr="127.0.0.1:0",
        graph_svc_addr=quiet_graph,
        database_replica_url=replica_url,
        argon2_memory_kib=1024,
        argon2_time_cost=1,
        peer_deadline_seconds=10,  # a loaded CI machine once stalled past the 1 s default
    )
    auth.ensure_keys(settings)
    service = await create_user_service(settings)
    async with grpc.aio.insecure_channel(service.address) as channel:
        yield Setup(user_service_pb2_grpc.UserServiceStub(channel), settings, replica_url)
    await service.stop(0)


def _store(engine: AsyncEngine, replica: AsyncEngine | None = None) -> store.SqlUserStore:
    return store.SqlUserStore(
        engine, outbox=Outbox(store.outbox, producer="user_svc", ids=IdGenerator()), replica=replica
    )


async def _usernames(settings: UserSettings, url: str | None) -> list[str]:
    async with writable("user_svc", settings, url) as engine:
        async with engine.connect() as conn:
            return sorted((await conn.execute(select(store.users.c.username))).scalars())


def _md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"), *service_md())


async def _register(stub: user_service_pb2_grpc.UserServiceStub, name: str) -> pb.RegisterResponse:
    answer: pb.RegisterResponse = await stub.Register(
        pb.RegisterRequest(username=name, email=f"{name}@example.com", password="pass word 1")
    )
    return answer


async def test_reads_of_others_come_from_the_replica_and_the_rest_from_the_primary(
    setup: Setup,
) -> None:
    stub, settings = setup.stub, setup.settings
    alice = await _register(stub, "alice")
    bob = await _register(stub, "bob")
    # Writes land on the primary only.
    assert await _usernames(settings, settings.database_url) == ["alice", "bob"]
    assert await _usernames(settings, setup.replica_url) == []
    # The replica gets alice with another bio, and carol, whom the primary does not have.
    async with writable("user_svc", settings, setup.replica_url) as engine:
        primary_view = _store(engine)
        async with primary_view.transaction() as tx:
            now = datetime.now(UTC)
            record = store.UserRecord(
                user_id=alice.user.user_id,
                username="alice",
                email="alice@example.com",
                password_hash="x",
                full_name="",
                bio="from the replica",
                website="",
                profile_media_id=None,
                profile_pic_key="",
                is_private=False,
                is_verified=False,
                created_at=now,
                updated_at=now,
            )
            await primary_view.insert_user(tx, user=record)
            carol = replace(record, user_id=alice.user.user_id - 1, username="carol")
            await primary_view.insert_user(tx, user=replace(carol, email="carol@example.com"))

    # Someone else's profile, by id or by name: the replica.
    seen = await stub.GetUser(
        pb.GetUserRequest(user_id=alice.user.user_id), metadata=_md(bob.access_token)
    )
    assert seen.user.bio == "from the replica"
    seen = await stub.GetUser(pb.GetUserRequest(username="alice"), metadata=_md(bob.access_token))
    assert seen.user.bio == "from the replica"
    # One's own profile, by id or by name: the primary.
    own = await stub.GetUser(
        pb.GetUserRequest(user_id=alice.user.user_id), metadata=_md(alice.access_token)
    )
    assert own.user.bio == "" and own.user.email == "alice@example.com"
    own = await stub.GetUser(pb.GetUserRequest(username="alice"), metadata=_md(alice.access_token))
    assert own.user.bio == ""
    # An account the replica does not have yet is looked up again on the primary.
    seen = await stub.GetUser(
        pb.GetUserRequest(user_id=bob.user.user_id), metadata=_md(alice.access_token)
    )
    assert seen.user.username == "bob"
    seen = await stub.GetUser(pb.GetUserRequest(username="bob"), metadata=_md(alice.access_token))
    assert seen.user.user_id == bob.user.user_id

    # Batch hydration: the replica, and the primary for what the replica lacks.
    batch = await stub.BatchGetUsers(
        pb.BatchGetUsersRequest(user_ids=[bob.user.user_id, alice.user.user_id, carol.user_id]),
        metadata=_md(bob.access_token),
    )
    assert [(u.username, u.user_id) for u in batch.users] == [
        ("bob", bob.user.user_id),
        ("alice", alice.user.user_id),
        ("carol", carol.user_id),
    ]
    # Search: the replica alone (carol is found, bob is not there yet).
    found = await stub.SearchUsers(
        pb.SearchUsersRequest(query="carol"), metadata=_md(bob.access_token)
    )
    assert [u.username for u in found.users] == ["carol"]
    found = await stub.SearchUsers(
        pb.SearchUsersRequest(query="bob"), metadata=_md(bob.access_token)
    )
    assert list(found.users) == []

    # Credentials and profile changes: the primary.
    login = await stub.Login(pb.LoginRequest(username="alice", password="pass word 1"))
    assert login.user.user_id == alice.user.user_id
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stub.Login(pb.LoginRequest(username="carol", password="pass word 1"))
    assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED
    updated = await stub.UpdateProfile(
        pb.UpdateProfileRequest(user_id=alice.user.user_id, bio="on the primary"),
        metadata=_md(alice.access_token),
    )
    assert updated.user.bio == "on the primary"
    own = await stub.GetUser(
        pb.GetUserRequest(user_id=alice.user.user_id), metadata=_md(alice.access_token)
    )
    assert own.user.bio == "on the primary"
    seen = await stub.GetUser(
        pb.GetUserRequest(user_id=alice.user.user_id), metadata=_md(bob.access_token)
    )
    assert seen.user.bio == "from the replica"


async def test_a_write_in_a_read_transaction_fails(setup: Setup) -> None:
    settings = setup.settings
    async with (
        writable("user_svc", settings, settings.database_url) as primary,
        writable("user_svc", settings, setup.replica_url) as replica_writer,
    ):
        replica = db.read_only(replica_writer)
        for reader in (_store(primary, replica), _store(primary)):  # the replica, or none
            async with reader.transaction() as tx:  # the same write is fine on the primary
                await reader.update_user(tx, user_id=1, changes={"bio": "by mistake"})
            with pytest.raises(DBAPIError):
                async with reader.read_transaction() as tx:
                    await reader.update_user(tx, user_id=1, changes={"bio": "by mistake"})
