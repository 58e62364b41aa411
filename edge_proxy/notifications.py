"""The edge's Server-Sent Events route: `GET /api/v1/notifications/stream` over notify_svc's
server-streaming Subscribe RPC.

Each notification is one event: `id:` its sequence, `event: notification`, `data:` the
Notification as proto3 JSON. When a direct message arrives (DMs make no notifications: they have
a badge of their own), an `event: messages-badge` without an id carries
`{"unreadConversations": n}`, the count GET /api/v1/conversations/unread-count gives. A
`: heartbeat` comment goes out whenever notify_svc sends a
heartbeat (every SHUTTER_SUBSCRIBE_HEARTBEAT_SECONDS of silence). A client that reconnects sends
the last id it received as `Last-Event-ID` and gets what changed since, each notification once
in its latest state, and first the messages-badge of now (those it missed are not replayed).
Errors before the stream opens are ordinary JSON error responses (401, 429
TOO_MANY_STREAMS, ...); a failure after it opened ends the stream with an `event: error` whose
data is the error body, and the client reconnects. When the edge stops, every open stream ends
at once with such an event (UNAVAILABLE, reason SHUTTING_DOWN); when notify_svc stops, its
streams end and the edge closes them in order (no event: the client simply reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from grpc import aio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from edge_proxy.openapi import ERROR_RESPONSE
from edge_proxy.settings import EdgeSettings
from edge_proxy.transcode import (
    EdgeError,
    error_json,
    rpc_error_response,
    rpc_error_status,
    rpc_metadata,
    to_json,
)
from mesh.clients import Channels
from shutter.notify.v1 import notify_service_pb2, notify_service_pb2_grpc

MEDIA_TYPE = "text/event-stream"
# What EventSource clients wait before reconnecting after the stream ends, in milliseconds.
RECONNECT_MS = 2000
_MAX_ID = 2**63 - 1


def last_event_id(request: Request) -> int:
    """Return the sequence to resume after: the Last-Event-ID header, 0 without one."""
    raw = request.headers.get("last-event-id", "").strip()
    if not raw:
        return 0
    if not raw.isdigit() or int(raw) > _MAX_ID:
        raise EdgeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "Last-Event-ID must be the id of an event this stream sent",
            reason="INVALID_LAST_EVENT_ID",
            violations=[("Last-Event-ID", "must be a non-negative 64-bit integer")],
        )
    return int(raw)


def sse_event(message: notify_service_pb2.SubscribeResponse) -> bytes:
    """Return the SSE text of one stream message (empty for messages clients do not see)."""
    kind = message.WhichOneof("event")
    if kind == "heartbeat":
        return b": heartbeat\n\n"
    if kind == "notification":
        data = json.dumps(to_json(message.notification), separators=(",", ":"))
        sequence = message.notification.sequence
        return f"id: {sequence}\nevent: notification\ndata: {data}\n\n".encode()
    if kind == "messages_badge":
        # No id, so Last-Event-ID stays the last notification's; a resume sends the badge of now.
        unread = message.messages_badge.unread_conversations
        data = json.dumps({"unreadConversations": unread}, separators=(",", ":"))
        return f"event: messages-badge\ndata: {data}\n\n".encode()
    return b""


class SubscribeRoute:
    """An SSE route over a service's server-streaming Subscribe RPC: the call is opened for the
    caller (their token beside the edge's identity, as the RPC is internal to the mesh), its
    `opened` message awaited, then relayed until it ends, the client leaves or the edge stops.
    Subclasses say which RPC (`subscribe`) and how a message reads as SSE (`render`)."""

    # Named in the error when the service does not open the stream.
    what = "stream"

    def __init__(
        self,
        settings: EdgeSettings,
        channels: Channels,
        *,
        identity: Callable[[], str] = lambda: "",
    ) -> None:
        self._settings = settings
        self._channels = channels
        self._identity = identity
        # Set when the edge stops: open streams end with a final event, new ones are refused.
        self._closing = asyncio.Event()

    def close(self) -> None:
        """End every open stream now (a final SHUTTING_DOWN event) and refuse new ones."""
        self._closing.set()

    def subscribe(self, after: int, metadata: list[tuple[str, str]]) -> Any:
        """Start the Subscribe call resuming after `after` (the Last-Event-ID)."""
        raise NotImplementedError

    def render(self, message: Any) -> bytes:
        """Return the SSE text of one stream message (empty for what clients do not see)."""
        raise NotImplementedError

    async def stream(self, request: Request) -> Response:
        """Open a Subscribe call for the caller and relay it as Server-Sent Events."""
        if self._closing.is_set():
            raise shutting_down()
        after = last_event_id(request)
        # No deadline: the stream lasts as long as the client stays; heartbeats keep it alive.
        call = self.subscribe(
            after,
            rpc_metadata(
                request,
                max_authorization_bytes=self._settings.edge_max_authorization_bytes,
                service_identity=self._identity(),
            ),
        )
        try:
            first = await call.read()
        except aio.AioRpcError as exc:
            return rpc_error_response(exc)
        if first is aio.EOF or first.WhichOneof("event") != "opened":
            call.cancel()
            raise EdgeError(
                grpc.StatusCode.UNAVAILABLE,
                f"the {self.what} could not be opened",
                reason="STREAM_NOT_OPENED",
            )
        return StreamingResponse(
            relay(call, self.render, self._closing),
            media_type=MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


class NotificationStreamRoute(SubscribeRoute):
    """Handler of the notification stream."""

    what = "notification stream"

    def subscribe(self, after: int, metadata: list[tuple[str, str]]) -> Any:
        stub = notify_service_pb2_grpc.NotifyServiceStub(self._channels.channel("notify_svc"))
        return stub.Subscribe(
            notify_service_pb2.SubscribeRequest(after_sequence=after), metadata=metadata
        )

    def render(self, message: Any) -> bytes:
        return sse_event(message)


def shutting_down() -> EdgeError:
    """Return the error of a stream the edge ends (or refuses) because it is stopping."""
    return EdgeError(
        grpc.StatusCode.UNAVAILABLE,
        "the server is shutting down; reconnect in a moment",
        reason="SHUTTING_DOWN",
    )


def _error_event(body: dict[str, Any]) -> bytes:
    return f"event: error\ndata: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


async def relay(
    call: Any, render: Callable[[Any], bytes], closing: asyncio.Event
) -> AsyncIterator[bytes]:
    """Yield the SSE text (`render` of each message) of a Subscribe call until it ends, the
    client leaves or the edge stops (`closing`: a final SHUTTING_DOWN event)."""
    closed = asyncio.ensure_future(closing.wait())
    try:
        # Sent at once, so the client sees the stream open before the first notification.
        yield f"retry: {RECONNECT_MS}\n: opened\n\n".encode()
        while True:
            reading = asyncio.ensure_future(call.read())
            await asyncio.wait((reading, closed), return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, aio.AioRpcError):
                    await reading
                yield _error_event(error_json(shutting_down().status()))
                return
            try:
                message = reading.result()
            except aio.AioRpcError as exc:
                yield _error_event(error_json(rpc_error_status(exc)))
                return
            if message is aio.EOF:
                return
            text = render(message)
            if text:
                yield text
    finally:
        closed.cancel()
        call.cancel()  # the client left (or the stream ended): the service frees its slot


# The OpenAPI description of the stream (the annotated routes describe themselves).
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/notifications/stream": {
        "get": {
            "operationId": "Edge_StreamNotifications",
            "summary": "New notifications as Server-Sent Events; send Last-Event-ID to resume.",
            "tags": ["NotifyService"],
            "parameters": [{"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}}],
            "responses": {
                "200": {
                    "description": "An endless text/event-stream of notification and "
                    "messages-badge events and heartbeat comments.",
                    "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
                },
                "default": ERROR_RESPONSE,
            },
        }
    }
}
