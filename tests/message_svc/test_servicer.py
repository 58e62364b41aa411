"""MessageService over real gRPC, beside real user_svc and graph_svc: conversations and messages
round-trip as protos, the stream pushes and resumes, errors carry codes and reasons, and writes
fail closed with UNAVAILABLE when graph_svc is gone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from graph_svc.servicer import create_graph_service
from graph_svc.settings import GraphSettings
from mesh import auth, status
from mesh.launcher import free_port
from mesh.server import Service
from message_svc.servicer import create_message_service
from message_svc.settings import MessageSettings
from shutter.graph.v1 import graph_service_pb2 as gpb
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.message.v1 import message_service_pb2 as mpb
from shutter.message.v1 import message_service_pb2_grpc
from shutter.user.v1 import user_service_pb2 as upb
from shutter.user.v1 import user_service_pb2_grpc
from tests.identity import service_md
from user_svc.servicer import create_user_service
from user_svc.settings import UserSettings

Metadata = tuple[tuple[str, str], ...]


@dataclass
class Mesh:
    messages: message_service_pb2_grpc.MessageServiceStub
    graph: graph_service_pb2_grpc.GraphServiceStub
    users: user_service_pb2_grpc.UserServiceStub
    graph_service: Service
    service_md: Metadata


@dataclass
class Person:
    user_id: int
    token: str

    @property
    def md(self) -> Metadata:
        return (("authorization", f"Bearer {self.token}"),)


@pytest.fixture
async def mesh(data_dir: Path) -> AsyncIterator[Mesh]:
    common: dict[str, Any] = {
        "data_dir": data_dir,
        "relay_poll_interval_seconds": 0.05,
        "user_svc_addr": f"127.0.0.1:{free_port()}",
        "graph_svc_addr": f"127.0.0.1:{free_port()}",
        "media_svc_addr": f"127.0.0.1:{free_port()}",  # not started: no media sent here
        "post_svc_addr": f"127.0.0.1:{free_port()}",  # not started: no post shared here
        "message_svc_addr": f"127.0.0.1:{free_port()}",
    }
    users = await create_user_service(
        UserSettings(**common, argon2_memory_kib=1024, argon2_time_cost=1)
    )
    graph = await create_graph_service(GraphSettings(**common))
    settings = MessageSettings(**common, subscribe_heartbeat_seconds=0.3, peer_deadline_seconds=1)
    messages = await create_message_service(settings)
    token = auth.TokenIssuer(settings).service_token("feed_svc")
    async with (
        grpc.aio.insecure_channel(users.address) as user_channel,
        grpc.aio.insecure_channel(graph.address) as graph_channel,
        grpc.aio.insecure_channel(messages.address) as message_channel,
    ):
        yield Mesh(
            messages=message_service_pb2_grpc.MessageServiceStub(message_channel),
            graph=graph_service_pb2_grpc.GraphServiceStub(graph_channel),
            users=user_service_pb2_grpc.UserServiceStub(user_channel),
            graph_service=graph,
            service_md=(("authorization", f"Bearer {token}"),),
        )
    for service in (messages, graph, users):
        await service.stop(0)


_names = iter(range(10**6))


async def person(mesh: Mesh) -> Person:
    name = f"m{next(_names)}"
    signed = await mesh.users.Register(
        upb.RegisterRequest(username=name, email=f"{name}@example.com", password="pass word 1")
    )
    return Person(signed.user.user_id, signed.access_token)


async def fails(call: Any) -> tuple[grpc.StatusCode, str, list[str]]:
    """Await a call that must fail; return its code, ErrorInfo reason and violated fields."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
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


async def test_a_conversation_and_its_messages_round_trip(mesh: Mesh) -> None:
    alice, bob = await person(mesh), await person(mesh)
    await mesh.graph.Follow(gpb.FollowRequest(user_id=alice.user_id), metadata=bob.md)
    created = await mesh.messages.CreateConversation(
        mpb.CreateConversationRequest(participant_ids=[bob.user_id]), metadata=alice.md
    )
    conversation = created.conversation
    assert not conversation.is_group and conversation.created_at.seconds > 0
    assert {p.user.user_id for p in conversation.participants} == {alice.user_id, bob.user_id}
    sent = await mesh.messages.SendMessage(
        mpb.SendMessageRequest(
            conversation_id=conversation.conversation_id, client_message_id="a1", text="hi"
        ),
        metadata=alice.md,
    )
    assert sent.message.sender_id == alice.user_id and sent.message.client_message_id == "a1"
    inbox = await mesh.messages.ListConversations(mpb.ListConversationsRequest(), metadata=bob.md)
    [row] = inbox.conversations
    assert row.last_message.text == "hi" and row.unread_count == 1 and not row.is_request
    badge = await mesh.messages.GetUnreadCount(mpb.GetUnreadCountRequest(), metadata=bob.md)
    assert badge.unread_count == 1
    read = await mesh.messages.MarkConversationRead(
        mpb.MarkConversationReadRequest(
            conversation_id=conversation.conversation_id, message_id=sent.message.message_id
        ),
        metadata=bob.md,
    )
    assert read.conversation.unread_count == 0


async def test_the_stream_pushes_new_messages_and_resumes(mesh: Mesh) -> None:
    alice, bob = await person(mesh), await person(mesh)
    created = await mesh.messages.CreateConversation(
        mpb.CreateConversationRequest(participant_ids=[bob.user_id]), metadata=alice.md
    )
    cid = created.conversation.conversation_id
    # The stream is internal: the edge opens it for clients, with its identity beside the token.
    call = mesh.messages.Subscribe(mpb.SubscribeRequest(), metadata=(*bob.md, *service_md()))
    opened = await call.read()
    assert opened.WhichOneof("event") == "opened" and opened.opened.heartbeat_interval_ms == 300
    sent = await mesh.messages.SendMessage(
        mpb.SendMessageRequest(conversation_id=cid, client_message_id="s1", text="live"),
        metadata=alice.md,
    )
    pushed = await asyncio.wait_for(call.read(), timeout=2)
    while pushed.WhichOneof("event") == "heartbeat":  # a slow send lets a heartbeat go first
        pushed = await asyncio.wait_for(call.read(), timeout=2)
    assert pushed.message.message_id == sent.message.message_id and pushed.message.text == "live"
    call.cancel()
    later = await mesh.messages.SendMessage(
        mpb.SendMessageRequest(conversation_id=cid, client_message_id="s2", text="later"),
        metadata=alice.md,
    )
    resumed = mesh.messages.Subscribe(
        mpb.SubscribeRequest(after_message_id=sent.message.message_id),
        metadata=(*bob.md, *service_md()),
    )
    assert (await resumed.read()).WhichOneof("event") == "opened"
    again = await asyncio.wait_for(resumed.read(), timeout=2)
    assert again.message.message_id == later.message.message_id
    assert (await asyncio.wait_for(resumed.read(), timeout=2)).WhichOneof("event") == "heartbeat"
    resumed.cancel()


async def test_errors_carry_codes_reasons_and_fields(mesh: Mesh) -> None:
    alice, bob, eve = await person(mesh), await person(mesh), await person(mesh)
    created = await mesh.messages.CreateConversation(
        mpb.CreateConversationRequest(participant_ids=[bob.user_id]), metadata=alice.md
    )
    cid = created.conversation.conversation_id
    assert await fails(
        mesh.messages.GetConversation(
            mpb.GetConversationRequest(conversation_id=cid), metadata=eve.md
        )
    ) == (grpc.StatusCode.NOT_FOUND, "CONVERSATION_NOT_FOUND", [])
    assert await fails(
        mesh.messages.SendMessage(
            mpb.SendMessageRequest(conversation_id=cid, text="no key"), metadata=alice.md
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", ["client_message_id"])
    assert await fails(
        mesh.messages.CreateConversation(
            mpb.CreateConversationRequest(participant_ids=[10**15]), metadata=alice.md
        )
    ) == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND", [])
    assert await fails(
        mesh.messages.ListConversations(mpb.ListConversationsRequest(), metadata=mesh.service_md)
    ) == (grpc.StatusCode.PERMISSION_DENIED, "USER_REQUIRED", [])
    assert await fails(
        mesh.messages.ListMessages(
            mpb.ListMessagesRequest(conversation_id=cid, page_size=-1), metadata=alice.md
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", ["page_size"])


async def test_sends_fail_closed_when_graph_svc_is_down(mesh: Mesh) -> None:
    alice, bob = await person(mesh), await person(mesh)
    created = await mesh.messages.CreateConversation(
        mpb.CreateConversationRequest(participant_ids=[bob.user_id]), metadata=alice.md
    )
    cid = created.conversation.conversation_id
    await mesh.graph_service.stop(0)
    started = time.monotonic()
    code, reason, _ = await fails(
        mesh.messages.SendMessage(
            mpb.SendMessageRequest(conversation_id=cid, client_message_id="x", text="hi"),
            metadata=alice.md,
        )
    )
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "PEER_UNAVAILABLE")
    assert time.monotonic() - started < 5  # bounded by the peer deadline, not hanging
    page = await mesh.messages.ListMessages(
        mpb.ListMessagesRequest(conversation_id=cid), metadata=alice.md
    )
    assert list(page.messages) == []
