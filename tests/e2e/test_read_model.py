"""Home feeds served from feed_svc's read model, through the HTTP edge as a client sees them:
the same JSON as post_svc's own answer; likes, saves, comments, deletions, blocks and unfollows
on the very next read; profile changes within the event delay; the same answers after the read
model is lost."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.e2e.conftest import Account, register, upload_photo
from tests.e2e.test_feed import EVENTUAL_SECONDS, _lose_the_cache, _png


async def _create(client: httpx.AsyncClient, who: Account, caption: str) -> str:
    media_id = await upload_photo(client, who, _png())
    created = await client.post(
        "/api/v1/posts",
        json={
            "mediaIds": [media_id],
            "caption": caption,
            "location": {"name": "Oxford", "lat": 51.752, "lng": -1.2577},
        },
        headers=who.headers,
    )
    assert created.status_code == 200, created.text
    return str(created.json()["postId"])


async def _posts(client: httpx.AsyncClient, who: Account, mode: str = "") -> list[dict[str, Any]]:
    params = {"mode": mode or "FEED_MODE_CHRONOLOGICAL", "limit": "50"}
    response = await client.get("/api/v1/feed", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return list(response.json().get("posts", []))


async def _one(client: httpx.AsyncClient, who: Account, post_id: str) -> dict[str, Any]:
    found = [p for p in await _posts(client, who) if p["postId"] == post_id]
    assert len(found) == 1, f"{post_id} is not in the feed once"
    return found[0]


async def _until(client: httpx.AsyncClient, who: Account, check: Any, what: str) -> None:
    deadline = time.monotonic() + EVENTUAL_SECONDS
    while not check(await _posts(client, who)):
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.1)


async def _following(client: httpx.AsyncClient, author: Account, *readers: Account) -> None:
    for reader in readers:
        assert await _posts(client, reader) == []  # reading makes the reader active
        followed = await client.post(
            f"/api/v1/users/{author.user_id}/follow", headers=reader.headers
        )
        assert followed.status_code == 200, followed.text


def _ids(posts: list[dict[str, Any]]) -> list[str]:
    return [p["postId"] for p in posts]


async def test_served_posts_show_each_change_on_the_next_read(client: httpx.AsyncClient) -> None:
    author, reader, other = [await register(client, n) for n in ("ra", "rr", "ro")]
    await _following(client, author, reader, other)
    post = await _create(client, author, "Tea party #wonderland")
    for who in (reader, other):
        await _until(client, who, lambda ps: _ids(ps) == [post], "the post reached the feed")

    # The read model's JSON is post_svc's, field for field.
    served = await _one(client, reader, post)
    direct = await client.get(f"/api/v1/posts/{post}", headers=reader.headers)
    assert direct.status_code == 200, direct.text
    assert served == direct.json()
    assert served["hashtags"] == ["wonderland"] and served["location"]["name"] == "Oxford"
    assert served["media"][0]["variants"]["feed"]
    ranked = await _posts(client, reader, "FEED_MODE_RANKED")
    assert ranked == [served]

    liked = await client.post(f"/api/v1/posts/{post}/like", headers=reader.headers)
    assert liked.status_code == 200, liked.text
    mine = await _one(client, reader, post)  # the very next read
    assert (mine.get("likeCount"), mine.get("hasLiked")) == ("1", True)
    await _until(
        client,
        other,
        lambda ps: ps[0].get("likeCount") == "1" and not ps[0].get("hasLiked"),
        "the other follower sees the like counted, not as theirs",
    )

    saved = await client.post(f"/api/v1/posts/{post}/save", headers=reader.headers)
    assert saved.status_code == 200, saved.text
    assert (await _one(client, reader, post)).get("hasSaved") is True
    commented = await client.post(
        f"/api/v1/posts/{post}/comments", json={"text": "Lovely"}, headers=other.headers
    )
    assert commented.status_code == 200, commented.text
    assert (await _one(client, other, post)).get("commentCount") == "1"
    unsaved = await client.delete(f"/api/v1/posts/{post}/save", headers=reader.headers)
    unliked = await client.delete(f"/api/v1/posts/{post}/like", headers=reader.headers)
    assert unsaved.status_code == unliked.status_code == 200
    mine = await _one(client, reader, post)
    assert (mine["likeCount"], mine["hasLiked"], mine["hasSaved"]) == ("0", False, False)
    assert mine.get("commentCount") == "1"

    renamed = await client.put(
        f"/api/v1/users/{author.user_id}",
        json={"fullName": "Alice Liddell"},
        headers=author.headers,
    )
    assert renamed.status_code == 200, renamed.text
    await _until(
        client,
        reader,
        lambda ps: ps[0]["user"].get("fullName") == "Alice Liddell",
        "the new name on the served post",
    )

    doomed = await _create(client, author, "soon gone")
    await _until(client, reader, lambda ps: _ids(ps) == [doomed, post], "the second post")
    deleted = await client.delete(f"/api/v1/posts/{doomed}", headers=author.headers)
    assert deleted.status_code == 200, deleted.text
    assert _ids(await _posts(client, reader)) == [post]  # the very next read
    assert _ids(await _posts(client, reader, "FEED_MODE_RANKED")) == [post]


async def test_a_block_or_an_unfollow_holds_on_the_next_read(client: httpx.AsyncClient) -> None:
    author, blocked, leaver = [await register(client, n) for n in ("ba", "bb", "bl")]
    await _following(client, author, blocked, leaver)
    post = await _create(client, author, "before the block")
    for who in (blocked, leaver):
        await _until(client, who, lambda ps: _ids(ps) == [post], "the post reached the feed")
    block = await client.post(f"/api/v1/users/{blocked.user_id}/block", headers=author.headers)
    assert block.status_code == 200, block.text
    assert await _posts(client, blocked) == []
    assert await _posts(client, blocked, "FEED_MODE_RANKED") == []
    left = await client.delete(f"/api/v1/users/{author.user_id}/follow", headers=leaver.headers)
    assert left.status_code == 200, left.text
    assert await _posts(client, leaver) == []


async def test_reads_after_the_read_model_is_lost_are_the_same(client: httpx.AsyncClient) -> None:
    author, reader = await register(client, "la"), await register(client, "lr")
    await _following(client, author, reader)
    first = await _create(client, author, "one")
    second = await _create(client, author, "two")
    await _until(client, reader, lambda ps: _ids(ps) == [second, first], "both posts")
    for action in ("like", "save"):
        done = await client.post(f"/api/v1/posts/{first}/{action}", headers=reader.headers)
        assert done.status_code == 200, done.text
    before = await _posts(client, reader)
    assert before[1].get("hasLiked") and before[1].get("hasSaved") and before[1]["likeCount"] == "1"
    await _lose_the_cache()
    assert await _posts(client, reader) == before
    assert await _posts(client, reader) == before  # and again, warm


async def test_a_profile_grid_shows_the_readers_flags_after_the_read_model_is_lost(
    client: httpx.AsyncClient,
) -> None:
    # The reader likes, saves and reports posts of a profile, the read model is lost, and the
    # reader's first read fills every recent flag of theirs at once (since_post_id): each read
    # shows them, and the reported post never.
    author, reader = await register(client, "ga"), await register(client, "gr")
    made = [await _create(client, author, f"grid {n}") for n in range(4)]
    liked, saved, reported, plain = made
    for path in (f"/api/v1/posts/{liked}/like", f"/api/v1/posts/{saved}/save"):
        done = await client.post(path, headers=reader.headers)
        assert done.status_code == 200, done.text
    body = {"targetType": "REPORT_TARGET_TYPE_POST", "targetId": reported}
    report = await client.post(
        "/api/v1/reports", json={**body, "reason": "REPORT_REASON_SPAM"}, headers=reader.headers
    )
    assert report.status_code == 200, report.text
    await _lose_the_cache()
    for _ in range(2):  # filled, then warm
        grid = await client.get(f"/api/v1/users/{author.user_id}/posts", headers=reader.headers)
        assert grid.status_code == 200, grid.text
        shown = {
            p["postId"]: (p.get("hasLiked", False), p.get("hasSaved", False))
            for p in grid.json()["posts"]
        }
        assert shown == {plain: (False, False), saved: (False, True), liked: (True, False)}
