"""Findings 1, 7, 8 and 9 of the security review, kept fixed through the edge.

1. Place and hashtag search showed a private account's places and tags (with coordinates and
   counts) to strangers, and a blocker's to the account it blocked.
7. A block left the blocked person's likes on the blocker's posts, and DELETE like on a post
   hidden from the caller answered its like count.
8. The full-resolution original was served at /media next to the variants.
9. /metrics was public on the edge's port.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from tests.e2e.conftest import Account, register
from tests.security.conftest import make_post, reason


async def _search(
    client: httpx.AsyncClient, who: Account, kind: str, q: str
) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/v1/search/{kind}", params={"q": q}, headers=who.headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json().get(kind, []))


async def test_search_shows_only_places_and_tags_the_searcher_may_see(
    client: httpx.AsyncClient,
) -> None:
    mark = "zq" + uuid.uuid4().hex[:8]
    hidden, blocker, stranger, blocked, follower = [
        await register(client, p) for p in ("hidden", "blocker", "stranger", "blocked", "fan")
    ]
    await client.put(
        f"/api/v1/users/{hidden.user_id}", json={"isPrivate": True}, headers=hidden.headers
    )
    requested = await client.post(
        f"/api/v1/users/{hidden.user_id}/follow", headers=follower.headers
    )
    assert requested.status_code == 200, requested.text
    approved = await client.post(
        f"/api/v1/follow-requests/{follower.user_id}/approve", headers=hidden.headers
    )
    assert approved.status_code == 200, approved.text
    assert (
        await client.post(f"/api/v1/users/{blocked.user_id}/block", headers=blocker.headers)
    ).status_code == 200
    # The private account posts at "12 Elm St"; the blocker (public) posts elsewhere.
    await make_post(
        client,
        hidden,
        caption=f"home #{mark}home",
        location={"name": f"{mark} 12 Elm St", "lat": 48.1, "lng": 11.5},
    )
    await make_post(
        client,
        blocker,
        caption=f"out #{mark}out",
        location={"name": f"{mark} Harbour", "lat": 40.1, "lng": -3.5},
    )

    def names(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(str(r.get("name") or r.get("tag")), str(r["postCount"])) for r in rows}

    expectations = {
        # who: (places, tags) found with the prefix
        "stranger": ({(f"{mark} Harbour", "1")}, {(f"{mark}out", "1")}),
        "blocked": (set(), set()),
        "follower": (
            {(f"{mark} Harbour", "1"), (f"{mark} 12 Elm St", "1")},
            {(f"{mark}out", "1"), (f"{mark}home", "1")},
        ),
        "hidden": (
            {(f"{mark} Harbour", "1"), (f"{mark} 12 Elm St", "1")},
            {(f"{mark}out", "1"), (f"{mark}home", "1")},
        ),
    }
    actors = {"stranger": stranger, "blocked": blocked, "follower": follower, "hidden": hidden}
    for name, (places, tags) in expectations.items():
        who = actors[name]
        assert names(await _search(client, who, "places", mark)) == places, name
        assert names(await _search(client, who, "hashtags", mark)) == tags, name
    # The hashtag page counts only what the viewer may see, too.
    page = await client.get(f"/api/v1/hashtags/{mark}home/posts", headers=stranger.headers)
    assert page.status_code == 200 and page.json()["hashtag"].get("postCount", "0") == "0"
    assert page.json().get("posts", []) == []
    # One-letter prefixes list no private place either.
    for letter in ("z", "Z"):
        found = await _search(client, stranger, "places", letter)
        assert all("Elm St" not in row["name"] for row in found)


async def _like_count(client: httpx.AsyncClient, who: Account, post_id: str) -> str:
    answer = await client.get(f"/api/v1/posts/{post_id}", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json().get("likeCount", "0"))


async def test_a_block_takes_the_blocked_persons_likes_away(client: httpx.AsyncClient) -> None:
    author, pest, friend = [await register(client, p) for p in ("author", "pest", "friend")]
    post_id = (await make_post(client, author, caption="sunset"))["postId"]
    for liker in (pest, friend):
        liked = await client.post(f"/api/v1/posts/{post_id}/like", headers=liker.headers)
        assert liked.status_code == 200, liked.text
    assert await _like_count(client, friend, post_id) == "2"
    blocked = await client.post(f"/api/v1/users/{pest.user_id}/block", headers=author.headers)
    assert blocked.status_code == 200, blocked.text
    deadline = time.monotonic() + 20
    while await _like_count(client, friend, post_id) != "1":
        assert time.monotonic() < deadline, "the blocked person's like is still counted"
        await asyncio.sleep(0.1)
    for viewer in (author, friend):
        likers = await client.get(f"/api/v1/posts/{post_id}/likes", headers=viewer.headers)
        assert [u["userId"] for u in likers.json()["users"]] == [friend.user_id]
    # Taking back a like on a post that is 404 for the caller answers 404, without counts.
    unliked = await client.delete(f"/api/v1/posts/{post_id}/like", headers=pest.headers)
    assert unliked.status_code == 404 and reason(unliked) == "POST_NOT_FOUND"
    assert "likeCount" not in unliked.text
    assert await _like_count(client, friend, post_id) == "1"


async def test_the_original_is_never_served(client: httpx.AsyncClient) -> None:
    alice = await register(client, "orig")
    post = await make_post(client, alice)
    media = post["media"][0]
    assert "original" not in str(media)
    thumbnail = media["variants"]["thumbnail"]
    assert (await client.get(thumbnail)).status_code == 200
    folder = thumbnail.rsplit("/", 1)[0]
    for name in ("original.jpg", "original.png", "original.mp4", "original.mov"):
        answer = await client.get(f"{folder}/{name}")
        assert answer.status_code == 404, name


async def test_metrics_are_not_on_the_public_port(client: httpx.AsyncClient) -> None:
    for path in ("/metrics", "/metrics/"):
        answer = await client.get(path)
        assert answer.status_code == 404
        assert "shutter_rpc_requests_total" not in answer.text
