"""message_svc killed with SIGKILL in the middle of sends, then restarted: clients that retry
with their clientMessageId end up with every message exactly once, and each message has exactly
one MessageSent event in the outbox (no message lost, none duplicated)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import func, select

from graph_svc.servicer import create_graph_service
from graph_svc.settings import GraphSettings
from mesh import db
from mesh.config import MeshSettings
from mesh.launcher import free_port
from mesh.server import Service
from message_svc import store
from shutter.message.v1 import message_service_pb2 as mpb
from shutter.message.v1 import message_service_pb2_grpc
from shutter.user.v1 import user_service_pb2 as upb
from shutter.user.v1 import user_service_pb2_grpc
from user_svc.servicer import create_user_service
from user_svc.settings import UserSettings

SENDERS = 8
MESSAGES_PER_SENDER = 25
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
}


class MessageProcess:
    """`python -m message_svc` as its own OS process, which the test kills and restarts."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "message_svc", env=self._env
        )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


@pytest.fixture
async def peers(data_dir: Path) -> AsyncIterator[dict[str, str]]:
    addresses = {
        f"{name}_addr": f"127.0.0.1:{free_port()}"
        for name in ("user_svc", "graph_svc", "media_svc", "post_svc", "message_svc")
    }
    common = {"data_dir": data_dir, **addresses}
    services: list[Service] = [
        await create_user_service(
            UserSettings(**common, argon2_memory_kib=1024, argon2_time_cost=1)  # type: ignore[arg-type]
        ),
        await create_graph_service(GraphSettings(**common)),  # type: ignore[arg-type]
    ]
    yield addresses
    for service in services:
        await service.stop(0)


async def _until_serving(stub: message_service_pb2_grpc.MessageServiceStub, md: object) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            await stub.GetUnreadCount(mpb.GetUnreadCountRequest(), metadata=md, timeout=2)
            return
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in RETRYABLE, exc
            assert time.monotonic() < deadline, "message_svc did not come back"
            await asyncio.sleep(0.2)


async def test_no_message_is_lost_or_duplicated_when_message_svc_dies_mid_send(
    data_dir: Path, peers: dict[str, str]
) -> None:
    env = {
        **os.environ,
        "SHUTTER_DATA_DIR": str(data_dir),
        "SHUTTER_RELAY_POLL_INTERVAL_SECONDS": "0.1",
        **{f"SHUTTER_{key.upper()}": value for key, value in peers.items()},
    }
    process = MessageProcess(env)
    await process.start()
    try:
        async with (
            grpc.aio.insecure_channel(peers["user_svc_addr"]) as user_channel,
            grpc.aio.insecure_channel(peers["message_svc_addr"]) as channel,
        ):
            users = user_service_pb2_grpc.UserServiceStub(user_channel)
            tokens = []
            for name in ("crash_a", "crash_b"):
                signed = await users.Register(
                    upb.RegisterRequest(
                        username=name, email=f"{name}@example.com", password="pass word 1"
                    )
                )
                tokens.append((signed.user.user_id, signed.access_token))
            (_, alice_token), (bob_id, _) = tokens
            md = (("authorization", f"Bearer {alice_token}"),)
            stub = message_service_pb2_grpc.MessageServiceStub(channel)
            await _until_serving(stub, md)
            created = await stub.CreateConversation(
                mpb.CreateConversationRequest(participant_ids=[bob_id]), metadata=md
            )
            cid = created.conversation.conversation_id
            answered: dict[str, int] = {}
            failures = 0
            started = asyncio.Event()

            async def sender(n: int) -> None:
                nonlocal failures
                for i in range(MESSAGES_PER_SENDER):
                    key = f"s{n}-{i}"
                    while True:  # the client's retry loop: same key until it gets an answer
                        try:
                            sent = await stub.SendMessage(
                                mpb.SendMessageRequest(
                                    conversation_id=cid, client_message_id=key, text=key
                                ),
                                metadata=md,
                                timeout=5,
                            )
                        except grpc.aio.AioRpcError as exc:
                            assert exc.code() in RETRYABLE, exc
                            failures += 1
                            await asyncio.sleep(0.05)
                            continue
                        answered[key] = sent.message.message_id
                        started.set()
                        break

            senders = asyncio.gather(*(sender(n) for n in range(SENDERS)))
            await asyncio.wait_for(started.wait(), timeout=30)
            await asyncio.sleep(0.2)  # sends are in flight on every sender
            await process.kill()
            await asyncio.sleep(0.5)
            await process.start()
            await asyncio.wait_for(senders, timeout=120)
            assert failures > 0  # the kill did interrupt sends

            texts: list[str] = []
            ids: list[int] = []
            token = ""
            while True:
                page = await stub.ListMessages(
                    mpb.ListMessagesRequest(conversation_id=cid, page_size=100, page_token=token),
                    metadata=md,
                )
                texts += [m.text for m in page.messages]
                ids += [m.message_id for m in page.messages]
                token = page.next_page_token
                if not token:
                    break
    finally:
        await process.stop()
    expected = {f"s{n}-{i}" for n in range(SENDERS) for i in range(MESSAGES_PER_SENDER)}
    assert sorted(texts) == sorted(expected)  # each exactly once
    assert set(answered.values()) == set(ids)  # every answer is the stored message
    engine = db.create_engine(
        "message_svc", MeshSettings(data_dir=data_dir), env.get("SHUTTER_DATABASE_URL")
    )
    try:
        async with engine.connect() as conn:
            events = await conn.scalar(
                select(func.count())
                .select_from(store.outbox)
                .where(store.outbox.c.event_type == "shutter.events.v1.MessageSent")
            )
    finally:
        await engine.dispose()
    assert events == len(expected)
