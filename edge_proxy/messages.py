"""The edge's Server-Sent Events route for direct messages: `GET /api/v1/conversations/stream`
over message_svc's server-streaming Subscribe RPC.

Each new message is one event: `id:` the message id, `event: message`, `data:` the Message as
proto3 JSON. A message unsent by its sender is an `event: unsent` with `id:` the unsend's event
id and `data:` `{"conversationId", "messageId"}` (strings, as every 64-bit id): clients remove
it. Heartbeats, Last-Event-ID resume (what happened since, oldest first) and errors work as on
the notification stream (see edge_proxy.notifications).
"""

from __future__ import annotations

import json
from typing import Any

from edge_proxy.notifications import MEDIA_TYPE, SubscribeRoute
from edge_proxy.openapi import ERROR_RESPONSE
from edge_proxy.transcode import to_json
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
    if kind == "unsent":
        unsent = message.unsent
        data = json.dumps(
            {"conversationId": str(unsent.conversation_id), "messageId": str(unsent.message_id)},
            separators=(",", ":"),
        )
        return f"id: {unsent.event_id}\nevent: unsent\ndata: {data}\n\n".encode()
    return b""


class MessageStreamRoute(SubscribeRoute):
    """Handler of the message stream."""

    what = "message stream"

    def subscribe(self, after: int, metadata: list[tuple[str, str]]) -> Any:
        stub = message_service_pb2_grpc.MessageServiceStub(self._channels.channel("message_svc"))
        return stub.Subscribe(
            message_service_pb2.SubscribeRequest(after_message_id=after), metadata=metadata
        )

    def render(self, message: Any) -> bytes:
        return sse_event(message)


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
                    "description": "An endless text/event-stream of message and unsent events "
                    "and heartbeat comments.",
                    "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
                },
                "default": ERROR_RESPONSE,
            },
        }
    }
}
