"""The `dm` scenario: direct messages sent over gRPC and timed until they arrive on the other
participant's open stream (message_svc's Subscribe, which the edge serves as SSE), at a low and
a high open-loop rate; then inbox reads (ListConversations) as a throughput run.

Pairs of seeded users each get a 1:1; every recipient holds a stream open for the whole run.
A send is timed from just before its SendMessage call until its message comes out of the
recipient's stream. Messages that never arrive within DELIVERY_TIMEOUT_SECONDS of the last send
are counted as lost; they would fail the run. Each rate's row also gives the CPU every mesh
process spent per send (psutil, from the first send until the last delivery: the send, the
outbox relay, the consumers and the streams' reads together).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from typing import Any

from grpc import aio

from bench import cost, loadgen
from bench.histogram import Histogram
from mesh import auth
from mesh.config import MeshSettings
from shutter.message.v1 import message_service_pb2, message_service_pb2_grpc

DELIVERY_TIMEOUT_SECONDS = 10.0
INBOX_PAGE = 20


def message_address(manifest: dict[str, Any]) -> str:
    """Return message_svc's address: the manifest's, else the settings' (older manifests)."""
    found = manifest["grpc"].get("message_svc")
    return str(found) if found else MeshSettings().address_of("message_svc")


def pick_pairs(manifest: dict[str, Any], pairs: int, seed: int) -> list[tuple[int, int]]:
    """Return up to `pairs` seeded-random (sender index, recipient index) pairs, all distinct."""
    rng = random.Random(seed)
    people = rng.sample(range(len(manifest["users"])), min(2 * pairs, len(manifest["users"])))
    return [(people[i], people[i + 1]) for i in range(0, len(people) - 1, 2)]


def _md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def delivery(
    manifest: dict[str, Any],
    pairs: list[tuple[int, int]],
    *,
    rates: list[float],
    duration: float,
) -> list[dict[str, Any]]:
    """Send at each rate for `duration` seconds and time every message until it is delivered on
    its recipient's stream; return one row of figures per rate."""
    users = manifest["users"]
    async with aio.insecure_channel(message_address(manifest)) as channel:
        stub = message_service_pb2_grpc.MessageServiceStub(channel)
        conversations = []
        for sender, recipient in pairs:
            created = await stub.CreateConversation(
                message_service_pb2.CreateConversationRequest(
                    participant_ids=[users[recipient]["user_id"]]
                ),
                metadata=_md(users[sender]["access_token"]),
            )
            conversations.append(created.conversation.conversation_id)
        arrived: dict[str, float] = {}
        streams = []
        # The stream is internal to the mesh (clients reach it as SSE through the edge): the
        # bench opens it as the edge does, with the edge's identity beside the user's token.
        edge = (auth.SERVICE_HEADER, auth.ServiceTokens(MeshSettings()).issue(auth.EDGE_SERVICE))
        for _, recipient in pairs:
            call = stub.Subscribe(
                message_service_pb2.SubscribeRequest(),
                metadata=(*_md(users[recipient]["access_token"]), edge),
            )
            opened = await call.read()
            assert opened is not aio.EOF and opened.WhichOneof("event") == "opened"
            streams.append(call)

        async def listen(call: Any) -> None:
            while True:
                item = await call.read()
                if item is aio.EOF:
                    return
                if item.WhichOneof("event") == "message":
                    arrived.setdefault(item.message.client_message_id, time.perf_counter())

        readers = [asyncio.create_task(listen(call)) for call in streams]
        rows = []
        try:
            for rate in rates:
                rows.append(
                    await _at_rate(stub, manifest, pairs, conversations, arrived, rate, duration)
                )
        finally:
            for call in streams:
                call.cancel()
            for task in readers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, aio.AioRpcError):
                    await task
    return rows


async def _at_rate(
    stub: message_service_pb2_grpc.MessageServiceStub,
    manifest: dict[str, Any],
    pairs: list[tuple[int, int]],
    conversations: list[int],
    arrived: dict[str, float],
    rate: float,
    duration: float,
) -> dict[str, Any]:
    users = manifest["users"]
    run = f"{rate:g}-{random.getrandbits(32):08x}"
    sent_at: dict[str, float] = {}
    errors = 0
    error_codes: dict[str, int] = {}
    total = max(1, int(rate * duration))
    addresses = cost.mesh_addresses(manifest)
    cpu_before = cost.cpu_seconds(addresses)

    async def send(n: int) -> None:
        nonlocal errors
        k = n % len(pairs)
        key = f"bench-{run}-{n}"
        sent_at[key] = time.perf_counter()
        try:
            await stub.SendMessage(
                message_service_pb2.SendMessageRequest(
                    conversation_id=conversations[k], client_message_id=key, text=f"bench {n}"
                ),
                metadata=_md(users[pairs[k][0]]["access_token"]),
                timeout=10,
            )
        except aio.AioRpcError as exc:
            errors += 1
            error_codes[exc.code().name] = error_codes.get(exc.code().name, 0) + 1
            del sent_at[key]

    start = time.perf_counter()
    tasks = []
    for n in range(total):
        # Open loop: the n-th send leaves at n / rate whatever happened to the others.
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(n)))
    await asyncio.gather(*tasks)
    deadline = time.perf_counter() + DELIVERY_TIMEOUT_SECONDS
    while any(k not in arrived for k in sent_at) and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    spent = cost.per_request(
        cpu_before, cost.cpu_seconds(addresses), seconds=1.0, throughput=float(total)
    )
    histogram = Histogram()
    lost = 0
    for key, at in sent_at.items():
        if key in arrived:
            histogram.record(arrived[key] - at)
        else:
            lost += 1
    return {
        "rate_per_second": rate,
        "sends": total,
        "delivered": histogram.total,
        "lost": lost,
        "errors": errors,
        "error_codes": error_codes,
        "p50_ms": histogram.percentile(50),
        "p90_ms": histogram.percentile(90),
        "p99_ms": histogram.percentile(99),
        "max_ms": histogram.max_micros / 1000,
        "message_svc_cpu_ms_per_send": spent["cpu_ms_per_request"].get("message_svc"),
        "cpu_ms_per_send_all": spent["total_cpu_ms_per_request"],
        "cpu_ms_per_send": spent["cpu_ms_per_request"],
    }


def inbox_spec(
    manifest: dict[str, Any], pairs: list[tuple[int, int]], base: loadgen.LoadSpec
) -> loadgen.LoadSpec:
    """Return the load spec of inbox reads (a page of 20) by everyone in the pairs."""
    body = json.dumps({"pageSize": INBOX_PAGE})
    people = [i for pair in pairs for i in pair]
    requests = tuple((body, manifest["users"][i]["access_token"]) for i in people)
    return loadgen.LoadSpec(
        **{
            **base.__dict__,
            "target": message_address(manifest),
            "method": "shutter.message.v1.MessageService/ListConversations",
            "requests": requests,
        }
    )
