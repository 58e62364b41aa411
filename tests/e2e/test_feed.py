"""The home feed through the HTTP edge, as a client uses it: follow two accounts, see their posts in
order, unfollow, block, delete, lose the whole cache, and get the same feed back; explore."""

from __future__ import annotations

import asyncio
import io
import random
import time

import httpx
from PIL import Image

from mesh.config import MeshSettings
from mesh.redis import create_redis
from tests.conftest import ENGINES, REDIS_MESH_URL
from tests.e2e.conftest import Account, register, upload_photo

# How long an event may take to reach feeds on a busy machine.
EVENTUAL_SECONDS = 30.0


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 150), (random.randrange(256), 60, 200)).save(out, format="PNG")
    return out.getvalue()


async def _post(client: httpx.AsyncClient, who: Account) -> str:
    media_id = await upload_photo(client, who, _png())
    created = await client.post("/api/v1/posts", json={"mediaIds": [media_id]}, headers=who.headers)
    assert created.status_code == 200, created.text
    return str(created.json()["postId"])


async def _feed(client: httpx.AsyncClient, who: Account, **params: str) -> list[str]:
    query = {"mode": "FEED_MODE_CHRONOLOGICAL", **params}
    response = await client.get("/api/v1/feed", params=query, headers=who.headers)
    assert response.status_code == 200, response.text
    return [p["postId"] for p in response.json().get("posts", [])]


async def _until(client: httpx.AsyncClient, who: Account, expected: list[str]) -> None:
    deadline = time.monotonic() + EVENTUAL_SECONDS
    while (found := await _feed(client, who)) != expected:
        assert time.monotonic() < deadline, f"feed {found} never became {expected}"
        await asyncio.sleep(0.1)


async def _lose_the_cache() -> None:
    """Empty the mesh's Redis of feeds: FLUSHALL on the embedded one; on a real server (which
    also holds the mesh's bus streams) delete every feed and recent-posts key."""
    redis = create_redis(MeshSettings(redis_url=REDIS_MESH_URL if ENGINES else None))
    try:
        if not ENGINES:
            await redis.flushall()
            return
        for pattern in ("feed:*", "recent:*", "rm:*"):
            async for key in redis.scan_iter(match=pattern, count=1000):
                await redis.unlink(key)
    finally:
        await redis.aclose()


async def test_a_home_feed_follows_the_graph_and_survives_cache_loss(
    client: httpx.AsyncClient,
) -> None:
    reader, bob, carol, dave = [await register(client, n) for n in ("a", "b", "c", "d")]
    assert await _feed(client, reader) == []  # reading makes the reader active
    for followee in (bob, carol, dave):
        followed = await client.post(
            f"/api/v1/users/{followee.user_id}/follow", headers=reader.headers
        )
        assert followed.status_code == 200, followed.text
    bobs = await _post(client, bob)
    carols = await _post(client, carol)
    await _until(client, reader, [carols, bobs])
    page = await client.get("/api/v1/feed", params={"limit": "1"}, headers=reader.headers)
    body = page.json()
    assert len(body["posts"]) == 1 and body["nextPageToken"]
    assert body["posts"][0]["user"]["userId"] in (bob.user_id, carol.user_id)

    await client.delete(f"/api/v1/users/{bob.user_id}/follow", headers=reader.headers)
    await _until(client, reader, [carols])
    blocked = await client.post(f"/api/v1/users/{carol.user_id}/block", headers=reader.headers)
    assert blocked.status_code == 200, blocked.text
    await _until(client, reader, [])

    kept, doomed = await _post(client, dave), await _post(client, dave)
    await _until(client, reader, [doomed, kept])
    deleted = await client.delete(f"/api/v1/posts/{doomed}", headers=dave.headers)
    assert deleted.status_code == 200, deleted.text
    await _until(client, reader, [kept])

    await _lose_the_cache()
    assert await _feed(client, reader) == [kept]
    ranked = await client.get("/api/v1/feed", headers=reader.headers)
    assert [p["postId"] for p in ranked.json()["posts"]] == [kept]


async def test_explore_and_errors(client: httpx.AsyncClient) -> None:
    viewer, stranger = await register(client, "e"), await register(client, "s")
    post = await _post(client, stranger)
    deadline = time.monotonic() + EVENTUAL_SECONDS
    while True:
        response = await client.get(
            "/api/v1/explore", params={"pageSize": "50"}, headers=viewer.headers
        )
        assert response.status_code == 200, response.text
        if post in [p["postId"] for p in response.json().get("posts", [])]:
            break
        assert time.monotonic() < deadline, "the post never reached explore"
        await asyncio.sleep(0.1)
    refused = await client.get("/api/v1/feed", params={"pageSize": "-1"}, headers=viewer.headers)
    assert refused.status_code == 400 and refused.json()["code"] == 3
    anonymous = await client.get("/api/v1/feed")
    assert anonymous.status_code == 401
