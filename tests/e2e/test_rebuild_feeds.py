"""Feed projections rebuilt from their owners' source of truth (issue 16): feed_svc's tables and
every cached feed and post view are wiped (as a lost database or an outbox past its retention
would leave them), `shutter bus rebuild-feeds` rebuilds them from post_svc's posts and
graph_svc's follows, and every feed reads as it did before, through the edge. Runs on the
engines in the engines pass (PostgreSQL, Redis)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from feed_svc import store as feed_store
from feed_svc.settings import FeedSettings
from mesh import db
from mesh.cli import app
from mesh.launcher import RunningMesh
from mesh.redis import create_redis
from tests.e2e.conftest import Account, register
from tests.e2e.test_feed import EVENTUAL_SECONDS, _post

pytestmark = pytest.mark.e2e


async def _page(client: httpx.AsyncClient, who: Account) -> list[tuple[str, str, str]]:
    """The viewer's chronological feed: each post with its like and comment counts."""
    answer = await client.get(
        "/api/v1/feed", params={"mode": "FEED_MODE_CHRONOLOGICAL"}, headers=who.headers
    )
    assert answer.status_code == 200, answer.text
    return [
        (p["postId"], str(p.get("likeCount", "0")), str(p.get("commentCount", "0")))
        for p in answer.json().get("posts", [])
    ]


async def _wipe_feed_state() -> None:
    """Delete feed_svc's projection and processed events, and every feed and post view key."""
    settings = FeedSettings()
    engine = db.create_engine("feed_svc", settings, settings.database_url)
    try:
        projection = feed_store.SqlFeedStore(engine)
        async with projection.transaction() as tx:
            await projection.clear_projection(tx)
            await tx.execute(feed_store.processed_events.delete())
    finally:
        await engine.dispose()
    redis = create_redis(settings)
    try:
        for pattern in ("feed:*", "recent:*", "rm:*"):
            async for key in redis.scan_iter(match=pattern):
                await redis.unlink(key)
    finally:
        await redis.aclose()


async def test_feeds_rebuilt_from_post_svc_and_graph_svc_read_as_before(
    own_mesh: tuple[RunningMesh, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    mesh, _ = own_mesh
    monkeypatch.setenv("SHUTTER_FEED_SVC_ADDR", mesh.addresses["feed_svc"])
    async with httpx.AsyncClient(base_url=str(mesh.edge_url), timeout=30) as client:
        public, private, fan, other = [
            await register(client, p) for p in ("rb_pub", "rb_priv", "rb_fan", "rb_other")
        ]
        made = await client.put(
            f"/api/v1/users/{private.user_id}", json={"isPrivate": True}, headers=private.headers
        )
        assert made.status_code == 200, made.text
        for who, whom in ((fan, public), (fan, private), (other, public)):
            followed = await client.post(
                f"/api/v1/users/{whom.user_id}/follow", headers=who.headers
            )
            assert followed.status_code == 200, followed.text
        approved = await client.post(
            f"/api/v1/follow-requests/{fan.user_id}/approve", headers=private.headers
        )
        assert approved.status_code == 200, approved.text
        posts = [await _post(client, public) for _ in range(3)]
        posts += [await _post(client, private) for _ in range(2)]
        gone = posts.pop(1)
        assert (await client.delete(f"/api/v1/posts/{gone}", headers=public.headers)).is_success
        for post_id in posts[:2]:
            liked = await client.post(f"/api/v1/posts/{post_id}/like", headers=fan.headers)
            assert liked.status_code == 200, liked.text
        commented = await client.post(
            f"/api/v1/posts/{posts[0]}/comments", json={"text": "hi"}, headers=other.headers
        )
        assert commented.status_code == 200, commented.text

        viewers = (public, private, fan, other)
        expected_ids = {
            public.user_id: sorted(posts[:2], key=int, reverse=True),
            private.user_id: sorted(posts[2:], key=int, reverse=True),
            fan.user_id: sorted(posts, key=int, reverse=True),
            other.user_id: sorted(posts[:2], key=int, reverse=True),
        }
        before: dict[str, list[tuple[str, str, str]]] = {}
        deadline = time.monotonic() + EVENTUAL_SECONDS

        def settled(who: Account, page: list[tuple[str, str, str]]) -> bool:
            ids_match = [p[0] for p in page] == expected_ids[who.user_id]
            return ids_match and (who is not fan or page[-1][1:] == ("1", "1"))

        for who in viewers:
            page = await _page(client, who)
            while not settled(who, page):
                assert time.monotonic() < deadline, (who.username, page)
                await asyncio.sleep(0.1)
                page = await _page(client, who)
            before[who.user_id] = page

        await _wipe_feed_state()
        assert await _page(client, fan) != before[fan.user_id]  # lost, as the wipe meant

        rebuilt = await asyncio.to_thread(CliRunner().invoke, app, ["bus", "rebuild-feeds"])
        assert rebuilt.exit_code == 0, rebuilt.output
        assert "projection rebuilt with" in rebuilt.output
        for who in viewers:
            assert await _page(client, who) == before[who.user_id], who.username
