"""Notifications through the HTTP edge, as a client uses them: a follow and likes become
notifications (likes of one post aggregated), the live SSE stream receives them as they happen
and resumes after Last-Event-ID, and read state goes from unread to read."""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
from collections.abc import AsyncGenerator
from typing import Any

import httpx
from PIL import Image

from tests.e2e.conftest import Account, register, upload_photo


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (random.randrange(256), 90, 160)).save(out, format="PNG")
    return out.getvalue()


async def _notifications(
    client: httpx.AsyncClient, who: Account, *, until: Any = None
) -> list[dict[str, Any]]:
    """Return the list, polling until `until(list)` holds (events travel the bus)."""
    deadline = time.monotonic() + 20
    while True:
        response = await client.get("/api/v1/notifications", headers=who.headers)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json().get("notifications", [])
        if until is None or until(found):
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.1)


async def _unread(client: httpx.AsyncClient, who: Account) -> int:
    response = await client.get("/api/v1/notifications/unread-count", headers=who.headers)
    assert response.status_code == 200, response.text
    return int(response.json()["unreadCount"])


async def _events(response: httpx.Response) -> AsyncGenerator[dict[str, str], None]:
    """Yield the SSE notification events of a stream, as their fields."""
    current: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line:
            name, _, value = line.partition(":")
            current[name] = value.strip()
            continue
        if current.get("event") == "notification":
            yield current
        current = {}


async def test_follow_likes_stream_and_read_state(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    carol = await register(client, "carol")

    followed = await client.post(f"/api/v1/users/{alice.user_id}/follow", headers=bob.headers)
    assert followed.status_code == 200, followed.text
    [follow] = await _notifications(client, alice, until=lambda found: len(found) == 1)
    assert follow["kind"] == "NOTIFICATION_KIND_FOLLOWED" and follow["read"] is False
    assert [a["userId"] for a in follow["actors"]] == [bob.user_id]
    assert follow["actors"][0]["username"] == bob.username

    media_id = await upload_photo(client, alice, _png())
    created = await client.post(
        "/api/v1/posts",
        json={"mediaIds": [media_id], "caption": "notify me"},
        headers=alice.headers,
    )
    assert created.status_code == 200, created.text
    post_id = created.json()["postId"]

    async with (
        httpx.AsyncClient(base_url=str(client.base_url), timeout=30) as sse,
        sse.stream("GET", "/api/v1/notifications/stream", headers=alice.headers) as stream,
    ):
        assert stream.status_code == 200, await stream.aread()
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = _events(stream)
        liked = await client.post(f"/api/v1/posts/{post_id}/like", headers=bob.headers)
        assert liked.status_code == 200, liked.text
        first = await asyncio.wait_for(anext(events), 20)
        first_like = json.loads(first["data"])
        assert (
            first_like["kind"] == "NOTIFICATION_KIND_LIKE" and first["id"] == first_like["sequence"]
        )
        assert first_like["postId"] == post_id and first_like["actorCount"] == "1"
        liked = await client.post(f"/api/v1/posts/{post_id}/like", headers=carol.headers)
        assert liked.status_code == 200, liked.text
        second = await asyncio.wait_for(anext(events), 20)
        aggregated = json.loads(second["data"])
        assert aggregated["notificationId"] == first_like["notificationId"]
        assert aggregated["actorCount"] == "2"
        assert [a["userId"] for a in aggregated["actors"]] == [carol.user_id, bob.user_id]
        assert int(second["id"]) > int(first["id"])
        await events.aclose()

    listed = await _notifications(client, alice)
    assert [n["kind"] for n in listed] == ["NOTIFICATION_KIND_LIKE", "NOTIFICATION_KIND_FOLLOWED"]
    like = listed[0]
    assert like["actorCount"] == "2" and like["postThumbnailUrl"].startswith("http")
    assert await _unread(client, alice) == 2

    # A client that reconnects after the first like event gets the aggregated one, once.
    async with (
        httpx.AsyncClient(base_url=str(client.base_url), timeout=30) as sse,
        sse.stream(
            "GET",
            "/api/v1/notifications/stream",
            headers={**alice.headers, "Last-Event-ID": first["id"]},
        ) as stream,
    ):
        events = _events(stream)
        resumed = await asyncio.wait_for(anext(events), 20)
        assert resumed["id"] == second["id"]
        assert json.loads(resumed["data"])["actorCount"] == "2"
        await events.aclose()

    read = await client.put(
        f"/api/v1/notifications/{like['notificationId']}/read", headers=alice.headers
    )
    assert read.status_code == 200, read.text
    assert read.json()["read"] is True and read.json()["notificationId"] == like["notificationId"]
    assert await _unread(client, alice) == 1
    everything = await client.post("/api/v1/notifications/read-all", json={}, headers=alice.headers)
    assert everything.status_code == 200, everything.text
    assert everything.json()["markedCount"] == "1"
    assert await _unread(client, alice) == 0

    missing = await client.put(
        f"/api/v1/notifications/{follow['notificationId']}/read", headers=bob.headers
    )
    assert missing.status_code == 404
    anonymous = await client.get("/api/v1/notifications/stream")
    assert anonymous.status_code == 401
