"""Retries happen at one hop: a call refused before any work (overloaded, a peer restarting) is
sent again by the caller's channel, but an UNAVAILABLE that comes after the server waited on its
own peer is not, so one slow peer costs a client one deadline, not one per hop and attempt."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
from grpc import aio

from mesh import status
from mesh.clients import Channels
from mesh.config import MeshSettings
from mesh.errors import PeerUnavailable, Unavailable
from mesh.launcher import free_port
from mesh.server import create_server

METHOD = "/shutter.test.v1.Flaky/Call"


class Flaky:
    """A method that answers with a chosen error, counting how often it was called."""

    def __init__(self) -> None:
        self.calls = 0
        self.raise_error: Callable[[], Exception] = lambda: Unavailable("busy")

    async def call(self, request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        self.calls += 1
        raise self.raise_error()

    def register(self, server: aio.Server) -> None:
        handler = grpc.method_handlers_generic_handler(
            "shutter.test.v1.Flaky", {"Call": grpc.unary_unary_rpc_method_handler(self.call)}
        )
        server.add_generic_rpc_handlers((handler,))


@pytest.fixture
async def flaky(data_dir: Path) -> AsyncIterator[tuple[Flaky, aio.UnaryUnaryMultiCallable]]:
    settings = MeshSettings(
        data_dir=data_dir, user_svc_addr=f"127.0.0.1:{free_port()}", redis_url=None
    )
    servicer = Flaky()
    service = await create_server(
        "user_svc", settings, register=servicer.register, service_names=[]
    )
    channels = Channels(settings)
    try:
        yield servicer, channels.channel("user_svc").unary_unary(METHOD)
    finally:
        await channels.close()
        await service.stop(0)


async def test_an_unavailable_answer_before_any_work_is_retried_by_the_channel(
    flaky: tuple[Flaky, aio.UnaryUnaryMultiCallable],
) -> None:
    servicer, call = flaky
    servicer.raise_error = lambda: Unavailable("too many in flight", reason="OVERLOADED")
    with pytest.raises(aio.AioRpcError) as refused:
        await call(b"", timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls == 4  # the retry policy's maxAttempts


async def test_a_peer_that_did_not_answer_is_not_retried_up_the_chain(
    flaky: tuple[Flaky, aio.UnaryUnaryMultiCallable],
) -> None:
    servicer, call = flaky
    servicer.raise_error = lambda: PeerUnavailable("graph_svc did not answer")
    with pytest.raises(aio.AioRpcError) as refused:
        await call(b"", timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert dict(refused.value.trailing_metadata() or ())[status.RETRY_PUSHBACK_KEY] == "-1"
    assert servicer.calls == 1


async def test_a_peers_unavailable_passed_on_is_not_retried_again(
    flaky: tuple[Flaky, aio.UnaryUnaryMultiCallable],
) -> None:
    # What a service answers when its own call to a peer failed with UNAVAILABLE: the peer's
    # status passed on; this service's channel has retried that peer already.
    servicer, call = flaky
    peer_failure = aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, aio.Metadata(), aio.Metadata(), details="peer down"
    )
    servicer.raise_error = lambda: peer_failure
    with pytest.raises(aio.AioRpcError) as refused:
        await call(b"", timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == "peer down"
    assert servicer.calls == 1
