"""Outgoing channels: a restarted peer is reached again within about a second, and work no
client waits on (event handlers) rides out a restart within its deadline (issue 16, part 3)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh import context
from mesh.clients import Channels
from mesh.config import MeshSettings
from mesh.launcher import free_port
from mesh.server import Service, create_server

DOWN_SECONDS = 3.0
RECONNECT_BOUND_SECONDS = 2.0


async def _serve(settings: MeshSettings) -> Service:
    return await create_server("user_svc", settings, register=lambda server: None, service_names=[])


async def _check(stub: health_pb2_grpc.HealthStub, timeout: float) -> None:
    await stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout)


@pytest.fixture
def settings(data_dir: Path) -> MeshSettings:
    # Channels are what is tested: no Redis behind the server (on the engines pass the restart
    # would also restart the process-wide follower of revoked sessions, which is not the point).
    return MeshSettings(data_dir=data_dir, user_svc_addr=f"127.0.0.1:{free_port()}", redis_url=None)


async def test_a_call_succeeds_within_two_seconds_of_the_peer_restarting(
    settings: MeshSettings,
) -> None:
    service = await _serve(settings)
    channels = Channels(settings)
    stub = health_pb2_grpc.HealthStub(channels.channel("user_svc"))
    try:
        await _check(stub, 1)
        await service.stop(0)
        # Down for a while, called all along: gRPC's default backoff would have grown past 2 s.
        down_until = time.monotonic() + DOWN_SECONDS
        while time.monotonic() < down_until:
            with pytest.raises(grpc.aio.AioRpcError):
                await _check(stub, 0.2)
            await asyncio.sleep(0.1)
        service = await _serve(settings)
        restarted = time.monotonic()
        while True:
            try:
                await _check(stub, 0.2)
                break
            except grpc.aio.AioRpcError:
                assert time.monotonic() - restarted < RECONNECT_BOUND_SECONDS
                await asyncio.sleep(0.02)
    finally:
        await channels.close()
        await service.stop(0)


async def test_a_background_call_waits_for_the_peer_within_its_deadline(
    settings: MeshSettings,
) -> None:
    service = await _serve(settings)
    channels = Channels(settings)
    stub = health_pb2_grpc.HealthStub(channels.channel("user_svc"))
    try:
        await _check(stub, 1)
        await service.stop(0)

        async def restart_soon() -> Service:
            await asyncio.sleep(0.5)
            return await _serve(settings)

        restarting = asyncio.create_task(restart_soon())
        token = context.background.set(True)
        try:
            await _check(stub, 5)  # as an event handler would call: it waits, then succeeds
        finally:
            context.background.reset(token)
        service = await restarting
        await service.stop(0)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await _check(stub, 5)  # a client's call does not wait: it fails at once
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await channels.close()
        await service.stop(0)
