"""Admission control and ordered stops (issue 16, part 5): a service and the edge refuse work
beyond their bound at once (503 / UNAVAILABLE with a reason) instead of queueing it; the
supervisor stops the edge before the services."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from edge_proxy.admission import AdmissionMiddleware, route_class
from edge_proxy.settings import EdgeSettings
from mesh import status
from mesh.config import MeshSettings
from mesh.interceptors import Admission
from mesh.launcher import free_port
from mesh.server import create_server
from mesh.supervisor import Child, Supervisor

_identity = (lambda b: b, lambda b: b)


class _Held:
    """Handlers that wait until released, counting the calls that reached them."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def __call__(self, request: bytes, context: Any) -> bytes:
        self.started += 1
        await self.release.wait()
        return b"done"


async def test_a_service_refuses_reads_beyond_its_bound_at_once_and_serves_writes(
    data_dir: Path,
) -> None:
    settings = MeshSettings(
        data_dir=data_dir,
        user_svc_addr=f"127.0.0.1:{free_port()}",
        rpc_max_in_flight_reads=2,
        rpc_max_in_flight_writes=1,
    )
    held = _Held()
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(held, *_identity)
        for name in ("GetThing", "CreateThing")
    }
    generic = grpc.method_handlers_generic_handler("test.v1.Things", handlers)
    service = await create_server(
        "user_svc",
        settings,
        register=lambda server: server.add_generic_rpc_handlers([generic]),
        service_names=[],
    )
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:

            def call(name: str) -> Any:
                return channel.unary_unary(f"/test.v1.Things/{name}", *_identity)(b"", timeout=5)

            reads = [asyncio.ensure_future(call("GetThing")) for _ in range(2)]
            while held.started < 2:
                await asyncio.sleep(0.01)
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call("GetThing")
            assert time.monotonic() - started < 0.5  # at once, not after a deadline
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            rich = status.status_from_metadata(
                refused.value.code(), "", refused.value.trailing_metadata()
            )
            assert "OVERLOADED" in str(rich.details)
            write = asyncio.ensure_future(call("CreateThing"))  # its own class: admitted
            while held.started < 3:
                await asyncio.sleep(0.01)
            held.release.set()
            assert await asyncio.gather(*reads, write) == [b"done"] * 3
            assert await call("GetThing") == b"done"  # the bound frees as calls finish
    finally:
        await service.stop(0)


def test_methods_are_classed_by_what_they_do() -> None:
    classify = Admission.route_class
    assert classify("/shutter.post.v1.PostService/GetPost") == "reads"
    assert classify("/shutter.post.v1.PostService/BatchGetPosts") == "reads"
    assert classify("/shutter.user.v1.UserService/SearchUsers") == "reads"
    assert classify("/shutter.post.v1.PostService/CreateComment") == "writes"
    assert classify("/shutter.notify.v1.NotifyService/Subscribe") is None
    assert classify("/grpc.health.v1.Health/Check") is None
    assert route_class("GET", "/api/v1/feed") == "reads"
    assert route_class("POST", "/api/v1/posts") == "writes"
    assert route_class("PUT", "/api/v1/uploads/7") == "transfers"
    assert route_class("GET", "/media/ab/cd.jpg") == "transfers"
    assert route_class("GET", "/readyz") is None
    assert route_class("GET", "/api/v1/notifications/stream") is None


async def test_the_edge_sheds_requests_beyond_its_bound_with_retry_after() -> None:
    release = asyncio.Event()
    entered = 0

    async def slow_app(_scope: Any, _receive: Any, send: Any) -> None:
        nonlocal entered
        entered += 1
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    settings = EdgeSettings(edge_max_in_flight_reads=1, edge_max_in_flight_writes=1)
    app = AdmissionMiddleware(slow_app, settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        first = asyncio.ensure_future(client.get("/api/v1/feed"))
        while entered < 1:
            await asyncio.sleep(0.01)
        shed = await client.get("/api/v1/users/1")
        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "1"
        assert shed.json()["details"][0]["reason"] == "OVERLOADED"
        write = asyncio.ensure_future(client.post("/api/v1/posts"))
        while entered < 2:
            await asyncio.sleep(0.01)
        release.set()
        assert (await first).status_code == 200 and (await write).status_code == 200
        assert (await client.get("/api/v1/feed")).status_code == 200


# A child that records when it got SIGTERM and when it exits, taking `linger` seconds to drain.
_CHILD = textwrap.dedent(
    """
    import signal, sys, time
    log, linger = sys.argv[1], float(sys.argv[2])
    def stop(*_):
        with open(log, "a") as out:
            out.write(f"term {time.time()}\\n")
        time.sleep(linger)
        with open(log, "a") as out:
            out.write(f"exit {time.time()}\\n")
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    with open(log, "a") as out:
        out.write("up\\n")
    while True:
        time.sleep(0.05)
    """
)


async def test_the_supervisor_stops_the_edge_before_the_services(tmp_path: Path) -> None:
    logs = {name: tmp_path / f"{name}.log" for name in ("post_svc", "edge_proxy")}
    children = [
        Child(name, [sys.executable, "-c", _CHILD, str(log), "0.5"], env={})
        for name, log in logs.items()
    ]
    supervisor = Supervisor(children, grace_seconds=5, stop_first=["edge_proxy"])
    await supervisor.start()
    while not all(log.exists() and "up" in log.read_text() for log in logs.values()):
        await asyncio.sleep(0.02)
    await supervisor.stop()

    def times(name: str) -> dict[str, float]:
        lines = [line.split() for line in logs[name].read_text().splitlines()[1:]]
        return {kind: float(at) for kind, at in lines}

    edge, service = times("edge_proxy"), times("post_svc")
    assert service["term"] >= edge["exit"]  # the edge had drained before the service was told
    assert all(c.process is not None and c.process.returncode == 0 for c in children)
