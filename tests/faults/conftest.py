"""The fault suite's mesh: `shutter up --engines` as a client meets it (every service and the
edge its own supervised process, PostgreSQL, and a private redis-server a test may kill), plus an
acknowledged-write ledger. Engines runs only: the embedded pass skips the whole folder."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mesh.launcher import free_port
from mesh.services import MESH
from mesh.supervisor import Child, Supervisor, module_child
from tests.conftest import ENGINES
from tests.e2e.conftest import Account, register
from tests.redis_server import PrivateRedis, private_redis

__all__ = ["private_redis"]

READY_SECONDS = 150.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the fault suite outside an engines run (it needs PostgreSQL and redis-server)."""
    if ENGINES:
        return
    skip = pytest.mark.skip(reason="the fault suite runs in the engines pass only")
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(skip)


@dataclass
class FaultMesh:
    """A running mesh of processes, its edge and the Redis it uses."""

    edge_url: str
    supervisor: Supervisor
    redis: PrivateRedis
    children: dict[str, Child] = field(default_factory=dict)

    def pid(self, name: str) -> int:
        process = self.children[name].process
        assert process is not None and process.returncode is None, f"{name} is not running"
        return process.pid

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Send a signal to one process of the mesh (SIGKILL, SIGTERM, SIGSTOP, SIGCONT)."""
        os.kill(self.pid(name), sig)

    async def restarted(self, name: str, since: int) -> None:
        """Wait until the supervisor has restarted a process more than `since` times."""
        deadline = time.monotonic() + READY_SECONDS
        while self.children[name].restarts <= since:
            assert time.monotonic() < deadline, f"{name} was not restarted"
            await asyncio.sleep(0.05)


@pytest.fixture
async def fault_mesh(private_redis: PrivateRedis, tmp_path: Path) -> AsyncIterator[FaultMesh]:
    """Start every service and the edge as processes on this test's PostgreSQL database (set by
    the engines environment) and a private Redis; stop them all after the test."""
    edge_port = free_port()
    env = {
        "SHUTTER_REDIS_URL": private_redis.url,
        "SHUTTER_DATA_DIR": str(tmp_path / "data"),
        "SHUTTER_EDGE_PORT": str(edge_port),
        "SHUTTER_PUBLIC_URL": f"http://127.0.0.1:{edge_port}",
        "SHUTTER_MEDIA_BASE_URL": f"http://127.0.0.1:{edge_port}/media/",
        "SHUTTER_ARGON2_MEMORY_KIB": "1024",
        "SHUTTER_ARGON2_TIME_COST": "1",
        "SHUTTER_TRANSCODE_VIDEO": "false",
        "SHUTTER_LOG_LEVEL": "WARNING",
        "SHUTTER_SHUTDOWN_GRACE_SECONDS": "2",
        **{f"SHUTTER_{spec.name.upper()}_ADDR": f"127.0.0.1:{free_port()}" for spec in MESH},
    }
    children = {
        name: module_child(name, name, env) for name in [s.name for s in MESH] + ["edge_proxy"]
    }
    supervisor = Supervisor(list(children.values()), grace_seconds=5, stop_first=["edge_proxy"])
    await supervisor.start()
    mesh = FaultMesh(f"http://127.0.0.1:{edge_port}", supervisor, private_redis, children)
    try:
        deadline = time.monotonic() + READY_SECONDS
        async with httpx.AsyncClient(base_url=mesh.edge_url, timeout=5) as client:
            last = ""
            while True:
                try:
                    ready = await client.get("/readyz")
                    if ready.status_code == 200:
                        break
                    last = ready.text
                except httpx.TransportError as exc:
                    last = repr(exc)
                assert time.monotonic() < deadline, f"the mesh did not become ready: {last}"
                await asyncio.sleep(0.2)
        yield mesh
    finally:
        await supervisor.stop()


@dataclass
class Ledger:
    """What a client was told: acknowledged writes, every status seen, and when errors were."""

    acked: dict[str, str] = field(default_factory=dict)  # idempotency key -> comment id
    statuses: list[int] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)

    def error_window(self) -> float:
        """Return the seconds between the first and the last failed attempt (0 for none)."""
        return self.failures[-1] - self.failures[0] if self.failures else 0.0


async def comment_load(
    client: httpx.AsyncClient,
    who: Account,
    post_id: str,
    ledger: Ledger,
    *,
    count: int,
    every: float = 0.1,
    retry_for: float = 30.0,
) -> None:
    """Write `count` comments, one every `every` seconds, each retried with its key until
    acknowledged (as a well-behaved client does after a 503 or a lost answer)."""
    for i in range(count):
        key = f"load-{i}"
        deadline = time.monotonic() + retry_for
        while True:
            try:
                answer = await client.post(
                    f"/api/v1/posts/{post_id}/comments",
                    json={"text": f"comment {i}", "idempotencyKey": key},
                    headers=who.headers,
                )
                ledger.statuses.append(answer.status_code)
                if answer.status_code == 200:
                    ledger.acked[key] = answer.json()["commentId"]
                    break
            except httpx.TransportError:
                ledger.statuses.append(0)
            ledger.failures.append(time.monotonic())
            assert time.monotonic() < deadline, f"{key} was never acknowledged"
            await asyncio.sleep(0.05)
        await asyncio.sleep(every)


async def listed_comments(client: httpx.AsyncClient, who: Account, post_id: str) -> list[str]:
    """Return the ids of every comment of a post, all pages."""
    ids: list[str] = []
    token = ""
    while True:
        page = await client.get(
            f"/api/v1/posts/{post_id}/comments",
            params={"pageSize": "100", "pageToken": token},
            headers=who.headers,
        )
        assert page.status_code == 200, page.text
        body = page.json()
        ids += [c["commentId"] for c in body.get("comments", [])]
        token = body.get("nextPageToken", "")
        if not token:
            return ids


async def two_accounts(client: httpx.AsyncClient) -> tuple[Account, Account]:
    return await register(client, "f_author"), await register(client, "f_fan")


def check_ledger(ledger: Ledger, listed: list[str], count: int) -> None:
    """0 acknowledged writes lost, 0 duplicates, every key acknowledged."""
    assert len(ledger.acked) == count
    assert set(ledger.acked.values()) <= set(listed), "an acknowledged comment was lost"
    assert len(listed) == len(set(listed)) == count, "a retried comment was made twice"
