"""The edge's notification stream: Server-Sent Events over a fake NotifyService's Subscribe, served
by a real HTTP server (an SSE response never ends, so it is read as it streams)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
import uvicorn
from grpc import aio

from edge_proxy.app import create_app
from edge_proxy.serve import EdgeServer
from edge_proxy.settings import EdgeSettings
from mesh.clients import Channels
from mesh.errors import DomainError, ResourceExhausted, Unauthenticated
from mesh.launcher import free_port
from mesh.status import details_metadata, grpc_code, rich_status
from shutter.notify.v1 import notify_pb2, notify_service_pb2, notify_service_pb2_grpc
from tests.edge_proxy.conftest import USER_SPEC

TOKEN = "Bearer good"
SEQUENCES = (11, 12, 13)


@dataclass
class FakeNotify(notify_service_pb2_grpc.NotifyServiceServicer):
    """Sends the stored notifications after the requested sequence, then heartbeats; refuses a
    missing token and, when told, every stream."""

    requests: list[tuple[int, str]] = field(default_factory=list)
    refuse: bool = False
    closed: int = 0
    fail_after_opening: bool = False

    async def Subscribe(self, request: Any, context: Any) -> AsyncIterator[Any]:
        metadata = dict(context.invocation_metadata() or ())
        token = str(metadata.get("authorization", ""))
        self.requests.append((request.after_sequence, token))
        error: DomainError | None = None
        if token != TOKEN:
            error = Unauthenticated("this call needs an access token", reason="TOKEN_MISSING")
        elif self.refuse:
            error = ResourceExhausted("too many streams", reason="TOO_MANY_STREAMS")
        if error is not None:
            status = rich_status(error, domain="notify_svc.shutter")
            await context.abort(
                grpc_code(error), status.message, trailing_metadata=details_metadata(status)
            )
        try:
            yield notify_service_pb2.SubscribeResponse(
                opened=notify_service_pb2.StreamOpened(heartbeat_interval_ms=50)
            )
            if self.fail_after_opening:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "notify_svc is stopping")
            for sequence in SEQUENCES:
                if sequence > request.after_sequence:
                    note = notify_pb2.Notification(
                        notification_id=sequence * 100,
                        kind=notify_pb2.NOTIFICATION_KIND_LIKE,
                        actor_count=2,
                        sequence=sequence,
                    )
                    yield notify_service_pb2.SubscribeResponse(notification=note)
            while True:
                await asyncio.sleep(0.05)
                yield notify_service_pb2.SubscribeResponse(heartbeat=notify_service_pb2.Heartbeat())
        finally:
            self.closed += 1

    # The edge transcodes the unary calls like any other; these tests only stream.
    async def ListNotifications(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in this fake")

    async def GetUnreadCount(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in this fake")

    async def MarkNotificationRead(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in this fake")

    async def MarkAllNotificationsRead(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in this fake")


@dataclass
class Edge:
    fake: FakeNotify
    url: str
    web: uvicorn.Server


@pytest.fixture
async def edge() -> AsyncIterator[Edge]:
    fake = FakeNotify()
    server = aio.server()
    notify_service_pb2_grpc.add_NotifyServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    settings = EdgeSettings(edge_rpc_timeout_seconds=5.0)
    channels = Channels(settings, addresses={"notify_svc": f"127.0.0.1:{port}"})
    http_port = free_port()
    app = create_app(settings, channels, services=[USER_SPEC])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=http_port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    web = EdgeServer(config, app=app, own_signals=False)
    task = asyncio.create_task(web.serve())
    while not web.started:
        assert not task.done()
        await asyncio.sleep(0.01)
    yield Edge(fake, f"http://127.0.0.1:{http_port}", web)
    web.should_exit = True
    await task
    await channels.close()
    await server.stop(None)


async def read_events(response: httpx.Response, count: int) -> list[dict[str, str]]:
    """Return the next `count` SSE blocks, each as its fields (comments under ':')."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if current:
                blocks.append(current)
                current = {}
                if len(blocks) == count:
                    return blocks
            continue
        name, _, value = line.partition(":")
        current[name] = (current.get(name, "") + "\n" + value.strip()).strip()
    raise AssertionError(f"the stream ended after {blocks}")


@contextlib.asynccontextmanager
async def stream(edge: Edge, **headers: str) -> AsyncIterator[httpx.Response]:
    async with (
        httpx.AsyncClient(base_url=edge.url, timeout=5) as http,
        http.stream("GET", "/api/v1/notifications/stream", headers=headers) as response,
    ):
        yield response


async def test_notifications_arrive_as_events_then_heartbeats(edge: Edge) -> None:
    async with stream(edge, authorization=TOKEN) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        blocks = await asyncio.wait_for(read_events(response, 6), 5)
    assert blocks[0] == {"retry": "2000", "": "opened"}
    notes = blocks[1:4]
    assert [b["id"] for b in notes] == ["11", "12", "13"]
    assert {b["event"] for b in notes} == {"notification"}
    first = json.loads(notes[0]["data"])
    assert first["notificationId"] == "1100" and first["kind"] == "NOTIFICATION_KIND_LIKE"
    assert first["actorCount"] == "2" and first["sequence"] == "11"
    assert blocks[4] == {"": "heartbeat"} and blocks[5] == {"": "heartbeat"}
    assert edge.fake.requests == [(0, TOKEN)]


async def test_last_event_id_resumes_after_it_without_duplicates(edge: Edge) -> None:
    async with stream(edge, authorization=TOKEN, **{"last-event-id": "12"}) as response:
        blocks = await asyncio.wait_for(read_events(response, 3), 5)
    assert [b.get("id") for b in blocks] == [None, "13", None]
    assert blocks[2] == {"": "heartbeat"}
    assert edge.fake.requests == [(12, TOKEN)]


async def test_the_upstream_stream_is_cancelled_when_the_client_leaves(edge: Edge) -> None:
    async with stream(edge, authorization=TOKEN) as response:
        await asyncio.wait_for(read_events(response, 2), 5)
    for _ in range(100):
        if edge.fake.closed == 1:
            break
        await asyncio.sleep(0.02)
    assert edge.fake.closed == 1


@pytest.mark.parametrize("value", ["abc", "-1", "9223372036854775808"])
async def test_a_bad_last_event_id_is_refused(edge: Edge, value: str) -> None:
    async with stream(edge, authorization=TOKEN, **{"last-event-id": value}) as response:
        body = json.loads(await response.aread())
    assert response.status_code == 400
    assert body["details"][0]["reason"] == "INVALID_LAST_EVENT_ID"
    assert edge.fake.requests == []


async def test_errors_before_the_stream_opens_are_json(edge: Edge) -> None:
    async with stream(edge) as response:
        body = json.loads(await response.aread())
    assert response.status_code == 401 and body["details"][0]["reason"] == "TOKEN_MISSING"
    edge.fake.refuse = True
    async with stream(edge, authorization=TOKEN) as response:
        body = json.loads(await response.aread())
    assert response.status_code == 429 and body["details"][0]["reason"] == "TOO_MANY_STREAMS"


async def test_a_failure_after_opening_ends_the_stream_with_an_error_event(edge: Edge) -> None:
    edge.fake.fail_after_opening = True
    async with stream(edge, authorization=TOKEN) as response:
        assert response.status_code == 200
        text = (await asyncio.wait_for(response.aread(), 5)).decode()
    assert text.startswith("retry: 2000\n: opened\n\n")
    error = text.split("event: error\ndata: ", 1)[1]
    assert json.loads(error)["code"] == grpc.StatusCode.UNAVAILABLE.value[0]


async def test_stopping_the_edge_ends_open_streams_with_a_final_event(edge: Edge) -> None:
    loop = asyncio.get_running_loop()
    async with stream(edge, authorization=TOKEN) as response:
        text, started = "", None
        chunks = response.aiter_text()

        async def read_rest() -> None:
            nonlocal text, started
            async for chunk in chunks:
                text += chunk
                if started is None and "id: 13" in text:  # opened and three notifications
                    started = loop.time()
                    edge.web.should_exit = True

        # The stream ends after the stop (not after the 5 s grace period, nor never).
        await asyncio.wait_for(read_rest(), 5)
        assert started is not None
        took = loop.time() - started
    assert took < 3.0  # the grace period is 5 s
    rest = text.split("id: 13", 1)[1].split("\n\n", 1)[1]
    blocks = [b for b in rest.split("\n\n") if b and b != ": heartbeat"]
    assert len(blocks) == 1
    event, data = blocks[0].split("\n")
    assert event == "event: error"
    body = json.loads(data.removeprefix("data: "))
    assert body["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    assert body["details"][0]["reason"] == "SHUTTING_DOWN"
    for _ in range(100):  # notify_svc's stream was cancelled, freeing its slot
        if edge.fake.closed == 1:
            break
        await asyncio.sleep(0.02)
    assert edge.fake.closed == 1
