"""Account deletion is resumable (issue 18): post_svc killed with SIGKILL in the middle of
removing a deleted account's comments is restarted by the supervisor, gets AccountDeleted again
from the bus, skips the steps its deletion ledger records as done and finishes the rest: every
comment, like and post of the account goes, and the counts of others' posts are exact."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest

from tests.e2e.conftest import register
from tests.faults.conftest import FaultMesh, listed_comments
from tests.faults.test_faults import _a_post

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

# Under the default 300 writes a minute per account, and enough that deleting them takes a while.
COMMENTS = 200
FINISH_SECONDS = 120.0


async def _counts(client: httpx.AsyncClient, who: object, post_id: str) -> tuple[int, int] | None:
    try:
        answer = await client.get(f"/api/v1/posts/{post_id}", headers=who.headers)  # type: ignore[attr-defined]
    except httpx.TransportError:
        return None
    if answer.status_code != 200:
        return None
    post = answer.json()
    return int(post.get("likeCount", "0")), int(post.get("commentCount", "0"))


async def test_post_svc_killed_mid_deletion_finishes_the_job_after_restart(
    fault_mesh: FaultMesh,
) -> None:
    async with httpx.AsyncClient(base_url=fault_mesh.edge_url, timeout=15) as client:
        leaving, staying = await register(client, "f_leaving"), await register(client, "f_staying")
        theirs = await _a_post(client, staying)
        hers = await _a_post(client, leaving)
        liked = await client.post(f"/api/v1/posts/{theirs}/like", headers=leaving.headers)
        assert liked.status_code == 200, liked.text
        for i in range(COMMENTS):
            made = await client.post(
                f"/api/v1/posts/{theirs}/comments",
                json={"text": f"comment {i}"},
                headers=leaving.headers,
            )
            assert made.status_code == 200, made.text
        assert await _counts(client, staying, theirs) == (1, COMMENTS)

        restarts = fault_mesh.children["post_svc"].restarts
        deleted = await client.request(
            "DELETE",
            f"/api/v1/users/{leaving.user_id}",
            json={"password": leaving.password},
            headers=leaving.headers,
        )
        assert deleted.status_code == 200, deleted.text
        # Kill post_svc once it has started on the comments (its posts step is done by then).
        deadline = time.monotonic() + FINISH_SECONDS
        while True:
            counts = await _counts(client, staying, theirs)
            if counts is not None and counts[1] < COMMENTS:
                break
            assert time.monotonic() < deadline, "the deletion never started on the comments"
            await asyncio.sleep(0.02)
        fault_mesh.signal("post_svc", signal.SIGKILL)
        left_at_kill = counts[1]
        await fault_mesh.restarted("post_svc", restarts)

        started = time.monotonic()
        while True:
            counts = await _counts(client, staying, theirs)
            if counts == (0, 0):
                break
            assert time.monotonic() - started < FINISH_SECONDS, counts
            await asyncio.sleep(0.2)
        assert await listed_comments(client, staying, theirs) == []
        gone = await client.get(f"/api/v1/posts/{hers}", headers=staying.headers)
        assert gone.status_code == 404
        print(  # noqa: T201 - the figures are what this suite reports
            f"\npost_svc killed mid-deletion with {left_at_kill} of {COMMENTS} comments left; "
            f"finished {time.monotonic() - started:.1f}s after the restart"
        )
        assert 0 < left_at_kill < COMMENTS, "post_svc was not killed in the middle of the job"
