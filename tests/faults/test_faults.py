"""Faults under load, on the engines (issue 16, part 7): each scenario asserts 0 acknowledged
writes lost, 0 duplicates and a recovery bound, and prints its figures (`pytest -s`)."""

from __future__ import annotations

import asyncio
import io
import signal
import time

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import upload_photo
from tests.faults.conftest import (
    FaultMesh,
    Ledger,
    check_ledger,
    comment_load,
    listed_comments,
    two_accounts,
)

# Seven processes start per scenario: on a shared two-core machine that alone can take a minute.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

WRITES = 40
# A restarted service is back within a few seconds on a quiet machine; the bound leaves room for
# a loaded one (the figures measured are in the README).
RECOVERY_BOUND_SECONDS = 20.0


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


async def _a_post(client: httpx.AsyncClient, author: object) -> str:
    media_id = await upload_photo(client, author, _png())  # type: ignore[arg-type]
    created = await client.post(
        "/api/v1/posts",
        json={"mediaIds": [media_id]},
        headers=author.headers,  # type: ignore[attr-defined]
    )
    assert created.status_code == 200, created.text
    return str(created.json()["postId"])


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
async def test_post_svc_dying_under_comment_load_loses_and_duplicates_nothing(
    fault_mesh: FaultMesh, sig: signal.Signals
) -> None:
    async with httpx.AsyncClient(base_url=fault_mesh.edge_url, timeout=15) as client:
        author, fan = await two_accounts(client)
        post_id = await _a_post(client, author)
        ledger = Ledger()
        load = asyncio.create_task(comment_load(client, fan, post_id, ledger, count=WRITES))
        while len(ledger.acked) < 10:
            await asyncio.sleep(0.05)
        restarts = fault_mesh.children["post_svc"].restarts
        fault_mesh.signal("post_svc", sig)
        await fault_mesh.restarted("post_svc", restarts)
        await load
        check_ledger(ledger, await listed_comments(client, fan, post_id), WRITES)
        # Only retryable answers while post_svc was away: 503 (never 499 or 500).
        assert set(ledger.statuses) <= {200, 503, 504}, ledger.statuses
        window = ledger.error_window()
        print(  # noqa: T201 - the figures are what this suite reports
            f"\n{sig.name} post_svc: error window {window:.2f}s, {len(ledger.failures)} failed"
        )
        assert window < RECOVERY_BOUND_SECONDS


async def test_a_paused_peer_fails_its_callers_fast_and_recovers(fault_mesh: FaultMesh) -> None:
    async with httpx.AsyncClient(base_url=fault_mesh.edge_url, timeout=15) as client:
        viewer, seen = await two_accounts(client)
        _, other = await two_accounts(client)
        # A profile the viewer has looked at is served from feed_svc's read model: its
        # relationship is cached (and dropped by graph_svc before any change answers).
        known = f"/api/v1/users/{seen.user_id}"
        assert (await client.get(known, headers=viewer.headers)).status_code == 200
        profile = f"/api/v1/users/{other.user_id}"
        fault_mesh.signal("graph_svc", signal.SIGSTOP)
        try:
            assert (await client.get(known, headers=viewer.headers)).status_code == 200
            # A profile never looked at needs graph_svc's answer.
            started = time.monotonic()
            paused = await client.get(profile, headers=viewer.headers)
            took = time.monotonic() - started
            # Whether a block hides the profile cannot be known: refused, fast, retryable.
            assert paused.status_code == 503, paused.text
            assert paused.headers["retry-after"] == "1"
            # Before the edge's own read deadline (5 s) would have answered 504: user_svc's
            # call to the paused peer gave up first (its deadline, not a hang).
            assert took < 5.0
        finally:
            fault_mesh.signal("graph_svc", signal.SIGCONT)
        resumed = time.monotonic()
        while (await client.get(profile, headers=viewer.headers)).status_code != 200:
            assert time.monotonic() - resumed < RECOVERY_BOUND_SECONDS
            await asyncio.sleep(0.1)
        print(  # noqa: T201 - the figures are what this suite reports
            f"\nSIGSTOP graph_svc: profile refused in {took:.2f}s; served again "
            f"{time.monotonic() - resumed:.2f}s after SIGCONT"
        )


async def test_redis_restarted_empty_with_a_backlog_loses_no_notification(
    fault_mesh: FaultMesh,
) -> None:
    """notify_svc is behind (paused) when Redis restarts empty without persistence: every
    acknowledged comment still becomes a notification for the post's author."""
    async with httpx.AsyncClient(base_url=fault_mesh.edge_url, timeout=15) as client:
        author, fan = await two_accounts(client)
        post_id = await _a_post(client, author)
        fault_mesh.signal("notify_svc", signal.SIGSTOP)
        try:
            ledger = Ledger()
            await comment_load(client, fan, post_id, ledger, count=10, every=0.02)
            await asyncio.sleep(1.5)  # the relays measure what the groups finished
            fault_mesh.redis.restart_empty()
        finally:
            fault_mesh.signal("notify_svc", signal.SIGCONT)
        restarted = time.monotonic()
        wanted = set(ledger.acked.values())
        while True:
            page = await client.get(
                "/api/v1/notifications", params={"pageSize": "100"}, headers=author.headers
            )
            if page.status_code == 200:
                found = {n.get("commentId") for n in page.json().get("notifications", [])}
                if wanted <= found:
                    break
            assert time.monotonic() - restarted < 30, "comment notifications were lost"
            await asyncio.sleep(0.2)
        print(  # noqa: T201 - the figures are what this suite reports
            f"\nRedis restarted empty: every notification in {time.monotonic() - restarted:.2f}s"
        )
        check_ledger(ledger, await listed_comments(client, fan, post_id), 10)
