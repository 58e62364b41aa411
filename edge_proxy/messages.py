"""The edge's Server-Sent Events route for direct messages: `GET /api/v1/conversations/stream`
over message_svc's server-streaming Subscribe RPC.

Each new message is one event: `id:` the message id, `event: message`, `data:` the Message as
proto3 JSON. Heartbeats, Last-Event-ID resume (what was sent since, oldest first) and errors work
as on the notification stream (see edge_proxy.notifications).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from edge_proxy.notifications import MEDIA_TYPE, last_event_id, relay, shutting_down
from edge_proxy.openapi import ERROR_RESPONSE
from edge_proxy.settings import EdgeSettings
from edge_proxy.transcode import EdgeError, rpc_error_response, rpc_metadata, to_json
from mesh.clients import Channels
from shutter.message.v1 import message_service_pb2, message_service_pb2_grpc

PATH = "/api/v1/conversations/stream"


def sse_event(message: message_service_pb2.SubscribeResponse) -> bytes:
    """Return the SSE text of one stream message (empty for messages clients do not see)."""
    kind = message.WhichOneof("event")
    if kind == "heartbeat":
        return b": heartbeat\n\n"
    if kind == "message":
        data = json.dumps(to_json(message.message), separators=(",", ":"))
        return f"id: {message.message.message_id}\nevent: message\ndata: {data}\n\n".encode()
    return b""


class MessageStreamRoute:
    """Handler of the message stream."""

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

    async def stream(self, request: Request) -> Response:
        """Open a Subscribe call for the caller and relay it as Server-Sent Events."""
        if self._closing.is_set():
            raise shutting_down()
        after = last_event_id(request)
        stub = message_service_pb2_grpc.MessageServiceStub(self._channels.channel("message_svc"))
        # No deadline: the stream lasts as long as the client stays; heartbeats keep it alive.
        call = stub.Subscribe(
            message_service_pb2.SubscribeRequest(after_message_id=after),
            metadata=rpc_metadata(
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
                "the message stream could not be opened",
                reason="STREAM_NOT_OPENED",
            )
        return StreamingResponse(
            relay(call, sse_event, self._closing),
            media_type=MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


# The OpenAPI description of the stream (the annotated routes describe themselves).
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    PATH: {
        "get": {
            "operationId": "Edge_StreamMessages",
            "summary": "New direct messages as Server-Sent Events; send Last-Event-ID to resume.",
            "tags": ["MessageService"],
            "parameters": [{"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}}],
            "responses": {
                "200": {
                    "description": "An endless text/event-stream of message events and "
                    "heartbeat comments.",
                    "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
                },
                "default": ERROR_RESPONSE,
            },
        }
    }
}
