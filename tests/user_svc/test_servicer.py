"""UserService over real gRPC on a free port: codes, reasons and what each caller may see."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2

from mesh import status
from mesh.launcher import free_port
from mesh.server import Service
from shutter.user.v1 import user_service_pb2 as pb
from shutter.user.v1 import user_service_pb2_grpc
from tests.identity import service_md
from user_svc.servicer import create_user_service
from user_svc.settings import UserSettings


@pytest.fixture
async def stub(
    user_settings: UserSettings, quiet_graph: str
) -> AsyncIterator[user_service_pb2_grpc.UserServiceStub]:
    settings = user_settings.model_copy(update={"graph_svc_addr": quiet_graph})
    service: Service = await create_user_service(settings)
    async with grpc.aio.insecure_channel(service.address) as channel:
        yield user_service_pb2_grpc.UserServiceStub(channel)
    await service.stop(0)


async def test_with_graph_svc_down_blocks_fail_closed_and_only_counts_degrade(
    user_settings: UserSettings,
) -> None:
    """Nothing listens where graph_svc should be: whether a block hides a profile or a search
    result cannot be known, so those calls answer UNAVAILABLE; one's own profile is served, its
    counts marked unavailable."""
    settings = user_settings.model_copy(update={"graph_svc_addr": f"127.0.0.1:{free_port()}"})
    service: Service = await create_user_service(settings)
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = user_service_pb2_grpc.UserServiceStub(channel)
            alice, bob = await _register(stub, "alice"), await _register(stub, "bob")
            unavailable: tuple[grpc.StatusCode, str, list[str]] = (
                grpc.StatusCode.UNAVAILABLE,
                "RELATIONSHIP_UNAVAILABLE",
                [],
            )
            assert (
                await _fails(
                    stub.GetUser(
                        pb.GetUserRequest(user_id=alice.user.user_id),
                        metadata=_bearer(bob.access_token),
                    )
                )
                == unavailable
            )
            assert (
                await _fails(
                    stub.SearchUsers(
                        pb.SearchUsersRequest(query="ali"), metadata=_bearer(bob.access_token)
                    )
                )
                == unavailable
            )
            own = await stub.GetUser(
                pb.GetUserRequest(user_id=alice.user.user_id),
                metadata=_bearer(alice.access_token),
            )
            assert own.user.username == "alice" and own.user.counts_unavailable
    finally:
        await service.stop(0)


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"), *service_md())


async def _fails(call: object) -> tuple[grpc.StatusCode, str, list[str]]:
    """Await a call that must fail; return its code, ErrorInfo reason and violated fields."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
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


async def _register(stub: user_service_pb2_grpc.UserServiceStub, name: str) -> pb.RegisterResponse:
    response: pb.RegisterResponse = await stub.Register(
        pb.RegisterRequest(username=name, email=f"{name}@example.com", password="pass word 1")
    )
    return response


async def test_register_login_get_update_search(
    stub: user_service_pb2_grpc.UserServiceStub,
) -> None:
    alice = await _register(stub, "alice")
    assert alice.user.email == "alice@example.com" and alice.expires_in == 900
    login = await stub.Login(pb.LoginRequest(username="alice@example.com", password="pass word 1"))
    assert login.user.user_id == alice.user.user_id
    bob = await _register(stub, "bob")
    seen_by_bob = await stub.GetUser(
        pb.GetUserRequest(user_id=alice.user.user_id), metadata=_bearer(bob.access_token)
    )
    assert seen_by_bob.user.username == "alice" and seen_by_bob.user.email == ""
    updated = await stub.UpdateProfile(
        pb.UpdateProfileRequest(user_id=alice.user.user_id, bio="hello", is_private=True),
        metadata=_bearer(alice.access_token),
    )
    assert updated.user.bio == "hello" and updated.user.is_private
    found = await stub.SearchUsers(
        pb.SearchUsersRequest(query="ali"), metadata=_bearer(bob.access_token)
    )
    assert [u.username for u in found.users] == ["alice"] and found.next_page_token == ""
    batch = await stub.BatchGetUsers(
        pb.BatchGetUsersRequest(user_ids=[bob.user.user_id, alice.user.user_id]),
        metadata=_bearer(alice.access_token),
    )
    assert [u.username for u in batch.users] == ["bob", "alice"]


async def test_errors_carry_codes_reasons_and_fields(
    stub: user_service_pb2_grpc.UserServiceStub,
) -> None:
    alice = await _register(stub, "alice")
    bob = await _register(stub, "bob")
    assert await _fails(
        stub.Register(
            pb.RegisterRequest(username="Alice", email="x@example.com", password="pass word 1")
        )
    ) == (grpc.StatusCode.ALREADY_EXISTS, "USERNAME_TAKEN", [])
    assert await _fails(
        stub.Register(pb.RegisterRequest(username="carol", email="x@example.com", password="short"))
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", ["password"])
    assert await _fails(stub.Login(pb.LoginRequest(username="alice", password="wrong pass"))) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
        [],
    )
    # Internal now (clients read profiles through FeedService.GetUser): services only.
    assert await _fails(stub.GetUser(pb.GetUserRequest(user_id=alice.user.user_id))) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "INTERNAL_ONLY",
        [],
    )
    assert await _fails(
        stub.GetUser(pb.GetUserRequest(user_id=1), metadata=_bearer(bob.access_token))
    ) == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND", [])
    assert await _fails(
        stub.UpdateProfile(
            pb.UpdateProfileRequest(user_id=alice.user.user_id, bio="mine now"),
            metadata=_bearer(bob.access_token),
        )
    ) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_PROFILE_OWNER", [])
    assert await _fails(
        stub.UpdateProfile(
            pb.UpdateProfileRequest(user_id=bob.user.user_id, bio="b" * 151),
            metadata=_bearer(bob.access_token),
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", ["bio"])
    assert await _fails(
        stub.BatchGetUsers(
            pb.BatchGetUsersRequest(user_ids=list(range(1, 102))),
            metadata=_bearer(bob.access_token),
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", ["user_ids"])


async def test_refresh_and_logout_over_grpc(stub: user_service_pb2_grpc.UserServiceStub) -> None:
    alice = await _register(stub, "alice")
    renewed = await stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=alice.refresh_token))
    code, reason, _ = await _fails(
        stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=alice.refresh_token))
    )
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "REFRESH_TOKEN_REUSED")
    # The reuse ended that session: its access tokens are refused from now on (issue 15).
    code, reason, _ = await _fails(
        stub.GetUser(pb.GetUserRequest(user_id=1), metadata=_bearer(renewed.access_token))
    )
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "SESSION_REVOKED")
    fresh = await stub.Login(pb.LoginRequest(username="alice", password="pass word 1"))
    await stub.Logout(
        pb.LogoutRequest(refresh_token=fresh.refresh_token), metadata=_bearer(fresh.access_token)
    )
    code, reason, _ = await _fails(
        stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=fresh.refresh_token))
    )
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "REFRESH_TOKEN_INVALID")
