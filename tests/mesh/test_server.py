"""The server bootstrap: error mapping, auth, request ids, deadlines, health and graceful stop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import grpc
import pytest
import sqlalchemy.exc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh import auth, context, status
from mesh.clients import Channels
from mesh.config import MeshSettings
from mesh.errors import InvalidArgument
from mesh.server import Service, create_server
from shutter.user.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc
from tests.identity import service_md

SERVICE = "shutter.user.v1.UserService"


class FakeUsers(user_service_pb2_grpc.UserServiceServicer):
    """Answers that show what the interceptors did."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.seen: dict[str, object] = {}

    async def Register(self, request, context):
        raise InvalidArgument.field("username", "is required")

    async def Login(self, request, context):
        raise RuntimeError("password=hunter2 leaked from a driver")

    async def UpdateProfile(self, request, context_):
        self.seen["request_id"] = context.request_id.get()
        self.seen["remaining"] = context.remaining_seconds()
        user_id = auth.require_user()
        return user_service_pb2.UpdateProfileResponse(user=user_pb2.User(user_id=user_id))

    async def SearchUsers(self, request, context):
        await self.release.wait()
        return user_service_pb2.SearchUsersResponse()

    async def BatchGetUsers(self, request, context):
        # What SQLAlchemy raises when PostgreSQL refuses a connection (e.g. too many clients).
        raise sqlalchemy.exc.OperationalError(
            "SELECT 1", {}, Exception("FATAL: sorry, too many clients already password=x")
        )


@pytest.fixture
async def served(
    mesh_settings: MeshSettings,
) -> AsyncIterator[tuple[Service, FakeUsers, MeshSettings]]:
    settings = mesh_settings.model_copy(update={"user_svc_addr": "127.0.0.1:0"})
    fake = FakeUsers()  # type: ignore[abstract]  # only the methods under test
    service = await create_server(
        "user_svc",
        settings,
        register=lambda server: user_service_pb2_grpc.add_UserServiceServicer_to_server(
            fake, server
        ),
        service_names=[SERVICE],
    )
    yield service, fake, settings
    fake.release.set()
    await service.stop(0)


async def test_domain_error_becomes_status_with_error_info_and_field_violation(served) -> None:
    service, _, _ = served
    async with grpc.aio.insecure_channel(service.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await user_service_pb2_grpc.UserServiceStub(channel).Register(
                user_service_pb2.RegisterRequest()
            )
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    rich = status.status_from_metadata(
        error.code(), error.details() or "", error.trailing_metadata()
    )
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert rich.details[0].Unpack(info) and info.reason == "INVALID_ARGUMENT"
    assert info.domain == "user_svc.shutter"
    assert rich.details[1].Unpack(bad) and bad.field_violations[0].field == "username"


async def test_unexpected_failure_is_internal_and_leaks_nothing(served) -> None:
    service, _, _ = served
    async with grpc.aio.insecure_channel(service.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await user_service_pb2_grpc.UserServiceStub(channel).Login(
                user_service_pb2.LoginRequest()
            )
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "hunter2" not in (caught.value.details() or "")


async def test_an_unreachable_store_is_unavailable_not_internal(served) -> None:
    service, _, _ = served
    async with grpc.aio.insecure_channel(service.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await user_service_pb2_grpc.UserServiceStub(channel).BatchGetUsers(
                user_service_pb2.BatchGetUsersRequest(),
                wait_for_ready=True,
                metadata=service_md("post_svc"),  # an internal method: services call it
            )
    error = caught.value
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "password" not in (error.details() or "")
    rich = status.status_from_metadata(
        error.code(), error.details() or "", error.trailing_metadata()
    )
    info = error_details_pb2.ErrorInfo()
    assert rich.details[0].Unpack(info) and info.reason == "STORE_UNAVAILABLE"


async def test_bad_or_missing_token_is_unauthenticated(served) -> None:
    service, _, _ = served
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        for metadata in [
            (),
            (("authorization", "Bearer nonsense"),),
            (("authorization", "Basic x"),),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.UpdateProfile(
                    user_service_pb2.UpdateProfileRequest(user_id=1), metadata=metadata
                )
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_client_forwards_identity_request_id_and_a_deadline(served) -> None:
    service, fake, settings = served
    token = auth.TokenIssuer(settings).user_token(7)
    channels = Channels(settings, addresses={"user_svc": service.address})
    stub = user_service_pb2_grpc.UserServiceStub(channels.channel("user_svc"))
    # As if inside an inbound call by user 7 with request id "abc" and 2 s left:
    context.principal.set(auth.TokenVerifier(settings).verify(token))
    context.request_id.set("abc")
    context.deadline.set(time.monotonic() + 2)
    try:
        reply = await stub.UpdateProfile(user_service_pb2.UpdateProfileRequest(user_id=7))
    finally:
        context.principal.set(None)
        context.request_id.set("")
        context.deadline.set(None)
        await channels.close()
    assert reply.user.user_id == 7
    assert fake.seen["request_id"] == "abc"
    remaining = fake.seen["remaining"]
    # The callee got what our caller had left (2 s), not the 5 s default; grpc rounds a little.
    assert isinstance(remaining, float) and 0 < remaining <= 2.1


async def test_health_serving_then_not_serving_while_draining(served) -> None:
    service, fake, _ = served
    async with grpc.aio.insecure_channel(service.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        slow = asyncio.ensure_future(
            user_service_pb2_grpc.UserServiceStub(channel).SearchUsers(
                user_service_pb2.SearchUsersRequest()
            )
        )
        await asyncio.sleep(0.1)
        stopping = asyncio.ensure_future(service.stop(grace=5))
        await asyncio.sleep(0.1)
        assert not slow.done()  # in flight: drained, not cut off
        fake.release.set()
        await slow  # the in-flight call completes successfully
        await stopping
    assert (
        await service.health.Check(health_pb2.HealthCheckRequest(service=SERVICE), None)
    ).status == (health_pb2.HealthCheckResponse.NOT_SERVING)


async def test_access_lines_are_debug_and_server_failures_warnings(
    served, caplog: pytest.LogCaptureFixture
) -> None:
    service, _, settings = served
    caplog.set_level(logging.DEBUG, logger="shutter.rpc")
    token = auth.TokenIssuer(settings).user_token(7)
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        await stub.UpdateProfile(
            user_service_pb2.UpdateProfileRequest(),
            metadata=(("authorization", f"Bearer {token}"),),
        )
        for call, request in (
            (stub.Register, user_service_pb2.RegisterRequest()),
            (stub.Login, user_service_pb2.LoginRequest()),
        ):
            with pytest.raises(grpc.aio.AioRpcError):
                await call(request)

    def access_lines() -> dict[str, tuple[int, str]]:
        return {
            r.getMessage().split()[1].rsplit("/", 1)[1]: (r.levelno, r.getMessage().split()[2])
            for r in caplog.records
            if r.name == "shutter.rpc" and r.getMessage().startswith("rpc ")
        }

    # The line is written as the call ends on the server, a moment after the client has its answer.
    deadline = time.monotonic() + 5
    while len(access_lines()) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    lines = access_lines()
    # Answered and refused calls: a line each only at DEBUG; the server's own failure: WARNING.
    assert lines == {
        "UpdateProfile": (logging.DEBUG, "OK"),
        "Register": (logging.DEBUG, "INVALID_ARGUMENT"),
        "Login": (logging.WARNING, "INTERNAL"),
    }
    # Each line names who called: the signed-in user, or nobody.
    callers = {
        r.getMessage().split()[1].rsplit("/", 1)[1]: getattr(r, "caller", None)
        for r in caplog.records
        if r.name == "shutter.rpc" and r.getMessage().startswith("rpc ")
    }
    assert callers == {"UpdateProfile": "7", "Register": "", "Login": ""}
