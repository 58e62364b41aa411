"""Edge fixtures: a fake UserService on a real gRPC port, and edge apps in front of it.

Profiles are FeedService.GetUser's route now (feed_svc's read model); the same upstream serves a
FeedService whose GetUser is the fake's, so the edge's tests of path variables, additional
bindings and response bodies keep using the profile route through one recorded fake."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.message import Message
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from starlette.applications import Starlette

from edge_proxy.app import create_app
from edge_proxy.settings import EdgeSettings
from mesh import errors
from mesh.clients import Channels
from mesh.services import MESH, ServiceSpec
from mesh.status import details_metadata, grpc_code, rich_status
from shutter.feed.v1 import feed_service_pb2, feed_service_pb2_grpc
from shutter.user.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

USER_SERVICE = "shutter.user.v1.UserService"
FEED_SERVICE = "shutter.feed.v1.FeedService"
_USER_SVC: ServiceSpec = next(spec for spec in MESH if spec.name == "user_svc")
# user_svc's spec, with FeedService beside UserService on its channel (the fake serves both).
USER_SPEC: ServiceSpec = dataclasses.replace(
    _USER_SVC, grpc_services=(*_USER_SVC.grpc_services, FEED_SERVICE)
)
MAX_BODY = 1024


@dataclass
class Call:
    """One request the fake received."""

    method: str
    request: Any
    metadata: dict[str, str]


@dataclass
class FakeUserService(user_service_pb2_grpc.UserServiceServicer):
    """Records every call; answers canned replies, a domain error, a bare status, or slowly."""

    calls: list[Call] = field(default_factory=list)
    error: errors.DomainError | None = None
    bare_status: tuple[grpc.StatusCode, str] | None = None
    delay: float = 0.0

    def reset(self) -> None:
        self.calls.clear()
        self.error = None
        self.bare_status = None
        self.delay = 0.0

    async def _answer(
        self, method: str, request: Message, context: aio.ServicerContext[Any, Any], reply: Any
    ) -> Any:
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        self.calls.append(Call(method, request, metadata))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            status = rich_status(self.error, domain="user_svc.shutter")
            await context.abort(
                grpc_code(self.error), status.message, trailing_metadata=details_metadata(status)
            )
        if self.bare_status is not None:
            await context.abort(*self.bare_status)
        return reply

    async def Register(self, request: Any, context: Any) -> Any:
        user = user_pb2.User(
            user_id=1234567890123456789, username=request.username, full_name=request.full_name
        )
        reply = user_service_pb2.RegisterResponse(
            user=user, access_token="access", refresh_token="refresh", expires_in=900
        )
        return await self._answer("Register", request, context, reply)

    async def Login(self, request: Any, context: Any) -> Any:
        return await self._answer("Login", request, context, user_service_pb2.LoginResponse())

    async def RefreshToken(self, request: Any, context: Any) -> Any:
        reply = user_service_pb2.RefreshTokenResponse(access_token="a2")
        return await self._answer("RefreshToken", request, context, reply)

    async def Logout(self, request: Any, context: Any) -> Any:
        return await self._answer("Logout", request, context, user_service_pb2.LogoutResponse())

    async def GetUser(self, request: Any, context: Any) -> Any:
        user = user_pb2.User(
            user_id=request.user_id or 42, username=request.username or "alice", follower_count=7
        )
        reply = user_service_pb2.GetUserResponse(user=user)
        return await self._answer("GetUser", request, context, reply)

    async def BatchGetUsers(self, request: Any, context: Any) -> Any:
        reply = user_service_pb2.BatchGetUsersResponse()
        return await self._answer("BatchGetUsers", request, context, reply)

    async def UpdateProfile(self, request: Any, context: Any) -> Any:
        user = user_pb2.User(user_id=request.user_id, bio=request.bio)
        reply = user_service_pb2.UpdateProfileResponse(user=user)
        return await self._answer("UpdateProfile", request, context, reply)

    async def DeleteUser(self, request: Any, context: Any) -> Any:
        reply = user_service_pb2.DeleteUserResponse(
            user_id=request.user_id, state=user_service_pb2.ACCOUNT_DELETION_STATE_DELETING
        )
        return await self._answer("DeleteUser", request, context, reply)

    async def ExportAccountData(self, request: Any, context: Any) -> Any:
        reply = user_service_pb2.ExportAccountDataResponse()
        return await self._answer("ExportAccountData", request, context, reply)

    async def SearchUsers(self, request: Any, context: Any) -> Any:
        found = user_pb2.UserSummary(user_id=5, username="alina")
        reply = user_service_pb2.SearchUsersResponse(users=[found], next_page_token="")
        return await self._answer("SearchUsers", request, context, reply)


class FakeFeedService(feed_service_pb2_grpc.FeedServiceServicer):
    """FeedService's GetUser, answered (and recorded) by the fake UserService."""

    def __init__(self, users: FakeUserService) -> None:
        self._users = users

    async def GetUser(self, request: Any, context: Any) -> Any:
        found = await self._users.GetUser(request, context)
        return feed_service_pb2.GetUserResponse(user=found.user)


@dataclass
class Upstream:
    """The fake service, its health servicer and where it listens."""

    fake: FakeUserService
    health: health.aio.HealthServicer
    address: str


@pytest.fixture(scope="session")
async def upstream() -> AsyncIterator[Upstream]:
    fake = FakeUserService()  # type: ignore[abstract]  # only the calls the edge tests make
    health_servicer = health.aio.HealthServicer()
    server = aio.server()
    user_service_pb2_grpc.add_UserServiceServicer_to_server(fake, server)
    feeds = FakeFeedService(fake)  # type: ignore[abstract]  # only GetUser
    feed_service_pb2_grpc.add_FeedServiceServicer_to_server(feeds, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health_servicer.set(USER_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set(FEED_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    yield Upstream(fake, health_servicer, f"127.0.0.1:{port}")
    await server.stop(None)


@pytest.fixture
def fake(upstream: Upstream) -> FakeUserService:
    upstream.fake.reset()
    return upstream.fake


def _settings(**overrides: Any) -> EdgeSettings:
    values: dict[str, Any] = {
        "edge_max_body_bytes": MAX_BODY,
        "edge_rpc_timeout_seconds": 5.0,
        "rate_limit_scale": 10_000,  # the suite's loops are not what limits are for
    }
    return EdgeSettings(**(values | overrides))


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Yield a client of the edge's app with its lifespan running, as a server runs it: what
    the app opens at start (the rate limiter's Redis on the engines) is closed at the end."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://edge.test") as http:
            yield http


def _open(
    settings: EdgeSettings, channels: Channels
) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
    return serving(create_app(settings, channels, services=[USER_SPEC]))


@pytest.fixture(scope="session")
async def client(upstream: Upstream) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of an edge in front of the fake (body limit MAX_BODY bytes)."""
    settings = _settings()
    channels = Channels(settings, addresses={"user_svc": upstream.address})
    async with _open(settings, channels) as http:
        yield http
    await channels.close()


MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Return a factory of clients of edges with other settings, closed after the test.

    `await make_client(address, identity=..., **settings)`: the edge's user_svc is at `address`.
    """
    async with contextlib.AsyncExitStack() as opened:

        async def make(
            address: str, *, identity: Callable[[], str | None] = lambda: None, **overrides: Any
        ) -> httpx.AsyncClient:
            settings = _settings(**overrides)
            channels = Channels(settings, addresses={"user_svc": address}, identity=identity)
            opened.push_async_callback(channels.close)
            return await opened.enter_async_context(_open(settings, channels))

        yield make


@pytest.fixture
def max_body() -> int:
    """The body limit of the `client` edge."""
    return MAX_BODY
