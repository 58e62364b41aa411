"""Retrying a create is safe with an idempotency key, through the edge (issue 16, part 6): a
comment whose answer was lost in a 503 is made once however often the client retries."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.conftest import register, upload_photo
from tests.e2e.test_feed import _png, _post

pytestmark = pytest.mark.e2e


async def test_a_retried_comment_with_its_key_is_made_once(client: httpx.AsyncClient) -> None:
    author, fan = await register(client, "rt_author"), await register(client, "rt_fan")
    post_id = await _post(client, author)
    url = f"/api/v1/posts/{post_id}/comments"
    body = {"text": "lovely @nobody_here", "idempotencyKey": "comment-7f3a"}

    first = await client.post(url, json=body, headers=fan.headers)
    assert first.status_code == 200, first.text
    again = await client.post(url, json=body, headers=fan.headers)
    assert again.status_code == 200, again.text
    assert again.json()["commentId"] == first.json()["commentId"]
    # Retries racing each other, as a client with a flaky connection sends them.
    racing = {**body, "idempotencyKey": "comment-race"}
    answers = await asyncio.gather(
        *(client.post(url, json=racing, headers=fan.headers) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    assert len({a.json()["commentId"] for a in answers}) == 1

    listed = await client.get(url, headers=fan.headers)
    assert listed.status_code == 200, listed.text
    ids = [c["commentId"] for c in listed.json()["comments"]]
    assert sorted(ids) == sorted({first.json()["commentId"], answers[0].json()["commentId"]})

    reused = await client.post(url, json={**body, "text": "something else"}, headers=fan.headers)
    assert reused.status_code == 409, reused.text
    assert reused.json()["details"][0]["reason"] == "IDEMPOTENCY_KEY_REUSED"
    # Keys are per author: another account's same key makes its own comment.
    mine = await client.post(url, json=body, headers=author.headers)
    assert mine.status_code == 200 and mine.json()["commentId"] != first.json()["commentId"]
    bad = await client.post(url, json={**body, "idempotencyKey": "has space"}, headers=fan.headers)
    assert bad.status_code == 400, bad.text

    deleted = await client.delete(
        f"/api/v1/comments/{first.json()['commentId']}", headers=fan.headers
    )
    assert deleted.status_code == 200, deleted.text
    gone = await client.post(url, json=body, headers=fan.headers)
    assert gone.status_code == 404 and gone.json()["details"][0]["reason"] == "COMMENT_NOT_FOUND"


async def test_a_retried_story_returns_the_first_one(client: httpx.AsyncClient) -> None:
    """A piece of media makes one story at most: the same call again answers with that story."""
    alice = await register(client, "rt_story")
    media_id = await upload_photo(client, alice, _png())
    body = {"mediaId": media_id, "caption": "sunset"}
    first = await client.post("/api/v1/stories", json=body, headers=alice.headers)
    assert first.status_code == 200, first.text
    again = await client.post("/api/v1/stories", json=body, headers=alice.headers)
    assert again.status_code == 200, again.text
    assert again.json()["storyId"] == first.json()["storyId"]
    other = await client.post(
        "/api/v1/stories", json={**body, "caption": "another"}, headers=alice.headers
    )
    assert other.status_code == 400, other.text
    assert other.json()["details"][0]["reason"] == "MEDIA_ALREADY_POSTED"
    mine = await client.get(f"/api/v1/users/{alice.user_id}/stories", headers=alice.headers)
    assert mine.status_code == 200, mine.text
    assert [s["storyId"] for s in mine.json()["stories"]] == [first.json()["storyId"]]
