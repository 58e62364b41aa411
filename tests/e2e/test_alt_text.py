"""Alt text through the HTTP edge: the author describes each photo of a post (and a reel's video),
and every read path hands the description back on the media it belongs to (the post, the grid,
the home feed served from feed_svc's read model, a post shared in a message), within its limits."""

from __future__ import annotations

import asyncio
import io
import random
import time
from typing import Any

import httpx
from PIL import Image

from tests.e2e.conftest import Account, register, upload_photo

ALT_TEXT_MAX = 1000


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (random.randrange(256), 90, 200)).save(out, format="PNG")
    return out.getvalue()


def _alts(post: dict[str, Any]) -> list[str]:
    return [m.get("altText", "") for m in post["media"]]


async def _get(client: httpx.AsyncClient, who: Account, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_alt_text_is_kept_per_photo_and_shown_on_every_read_path(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    followed = await client.post(f"/api/v1/users/{alice.user_id}/follow", headers=bob.headers)
    assert followed.status_code == 200, followed.text
    media_ids = [await upload_photo(client, alice, _png()) for _ in range(3)]
    described = "A red kite over the dunes at dusk, wings spread"
    created = await client.post(
        "/api/v1/posts",
        json={
            "mediaIds": media_ids,
            # Only the first two are described; NFC and trimming apply as for captions.
            "altTexts": [f"  {described}  ", "Cafe\u0301 tables on the pier"],
        },
        headers=alice.headers,
    )
    assert created.status_code == 200, created.text
    post = created.json()
    expected = [described, "Café tables on the pier", ""]
    assert _alts(post) == expected

    post_id = post["postId"]
    assert _alts(await _get(client, bob, f"/api/v1/posts/{post_id}")) == expected
    grid = await _get(client, bob, f"/api/v1/users/{alice.user_id}/posts")
    assert _alts(next(p for p in grid["posts"] if p["postId"] == post_id)) == expected

    # The home feed comes from feed_svc's read model, which keeps its own copy of the post.
    deadline = time.monotonic() + 30
    while True:
        feed = await _get(client, bob, "/api/v1/feed", mode="FEED_MODE_CHRONOLOGICAL")
        found = [p for p in feed.get("posts", []) if p["postId"] == post_id]
        if found:
            assert _alts(found[0]) == expected
            break
        assert time.monotonic() < deadline, feed
        await asyncio.sleep(0.2)

    # A post shared in a message carries its alt text to the reader.
    chat = await client.post(
        "/api/v1/conversations", json={"participantIds": [bob.user_id]}, headers=alice.headers
    )
    assert chat.status_code == 200, chat.text
    conversation_id = chat.json()["conversationId"]
    shared = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"clientMessageId": f"share-{post_id}", "sharedPostId": post_id},
        headers=alice.headers,
    )
    assert shared.status_code == 200, shared.text
    messages = await _get(client, bob, f"/api/v1/conversations/{conversation_id}/messages")
    assert _alts(messages["messages"][0]["sharedPost"]["post"]) == expected


async def test_alt_text_limits_are_refused_with_the_field_named(client: httpx.AsyncClient) -> None:
    carol = await register(client, "carol")
    media_id = await upload_photo(client, carol, _png())
    longest = "d" * ALT_TEXT_MAX
    for alt_texts, field, words in [
        (["d" * (ALT_TEXT_MAX + 1)], "alt_texts[0]", f"at most {ALT_TEXT_MAX} characters"),
        (["two\nlines"], "alt_texts[0]", "control characters"),
        (["hidden \u202eevil"], "alt_texts[0]", "text-direction"),
        (["one", "too many"], "alt_texts", "2 alt texts for 1 pieces of media"),
    ]:
        response = await client.post(
            "/api/v1/posts",
            json={"mediaIds": [media_id], "altTexts": alt_texts},
            headers=carol.headers,
        )
        assert response.status_code == 400, response.text
        violations = [d for d in response.json()["details"] if "fieldViolations" in d]
        violation = violations[0]["fieldViolations"][0]
        assert violation["field"] == field and words in violation["description"], violation
    # Nothing was half-written: the media is still free, and the longest text allowed is kept.
    kept = await client.post(
        "/api/v1/posts",
        json={"mediaIds": [media_id], "altTexts": [longest]},
        headers=carol.headers,
    )
    assert kept.status_code == 200, kept.text
    assert _alts(kept.json()) == [longest]
