"""Stories through the HTTP edge, as a client uses them: a private account posts a story, a
follower sees it unseen, marks it seen, the author lists who saw it, a stranger gets 404, and the
author deletes it."""

from __future__ import annotations

import io
import random
from urllib.parse import urlsplit

import httpx
from PIL import Image

from tests.e2e.conftest import Account, register, upload_photo


def _reason(response: httpx.Response) -> str:
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return str(detail["reason"])
    return ""


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (360, 640), (random.randrange(256), 60, 200)).save(out, format="PNG")
    return out.getvalue()


async def _stories(client: httpx.AsyncClient, viewer: Account, owner: Account) -> httpx.Response:
    return await client.get(f"/api/v1/users/{owner.user_id}/stories", headers=viewer.headers)


async def test_a_story_from_upload_to_deletion(client: httpx.AsyncClient) -> None:
    alice, bob, stranger = (
        await register(client, "alice"),
        await register(client, "bob"),
        await register(client, "stranger"),
    )
    made_private = await client.put(
        f"/api/v1/users/{alice.user_id}", json={"isPrivate": True}, headers=alice.headers
    )
    assert made_private.status_code == 200, made_private.text
    followed = await client.post(f"/api/v1/users/{alice.user_id}/follow", headers=bob.headers)
    assert followed.status_code == 200, followed.text
    approved = await client.post(
        f"/api/v1/follow-requests/{bob.user_id}/approve", headers=alice.headers
    )
    assert approved.status_code == 200, approved.text

    media_id = await upload_photo(client, alice, _png())
    created = await client.post(
        "/api/v1/stories",
        json={"mediaId": media_id, "caption": f"sunrise with @{bob.username}"},
        headers=alice.headers,
    )
    assert created.status_code == 200, created.text
    story = created.json()
    story_id = story["storyId"]
    assert isinstance(story_id, str) and story_id.isdigit()
    assert story["user"]["userId"] == alice.user_id and "profilePicUrl" in story["user"]
    assert story["media"]["mediaId"] == media_id and story["mentions"] == [bob.username]
    assert story["createdAt"] < story["expiresAt"] and story["seen"] is True

    again = await client.post("/api/v1/stories", json={"mediaId": media_id}, headers=alice.headers)
    assert again.status_code == 400 and _reason(again) == "MEDIA_ALREADY_POSTED"

    listed = await _stories(client, bob, alice)
    assert listed.status_code == 200, listed.text
    assert [(s["storyId"], s["seen"]) for s in listed.json()["stories"]] == [(story_id, False)]
    seen = await client.post(f"/api/v1/stories/{story_id}/seen", headers=bob.headers)
    assert seen.status_code == 200 and seen.json()["seen"] is True, seen.text
    listed = await _stories(client, bob, alice)
    assert [s["seen"] for s in listed.json()["stories"]] == [True]

    viewers = await client.get(f"/api/v1/stories/{story_id}/viewers", headers=alice.headers)
    assert viewers.status_code == 200, viewers.text
    assert [v["user"]["userId"] for v in viewers.json()["viewers"]] == [bob.user_id]
    assert viewers.json()["nextPageToken"] == ""
    forbidden = await client.get(f"/api/v1/stories/{story_id}/viewers", headers=bob.headers)
    assert forbidden.status_code == 403 and _reason(forbidden) == "NOT_STORY_AUTHOR"

    hidden = await _stories(client, stranger, alice)
    assert hidden.status_code == 404 and _reason(hidden) == "USER_NOT_FOUND", hidden.text
    unseen = await client.post(f"/api/v1/stories/{story_id}/seen", headers=stranger.headers)
    assert unseen.status_code == 404 and _reason(unseen) == "STORY_NOT_FOUND"

    archive = await client.get("/api/v1/stories/archive", headers=alice.headers)
    assert archive.status_code == 200 and archive.json()["stories"] == [], archive.text

    # A close-friends story reaches only the accounts on alice's list.
    added = await client.post(f"/api/v1/close-friends/{bob.user_id}", headers=alice.headers)
    assert added.status_code == 200, added.text
    friends = await client.get("/api/v1/close-friends", headers=alice.headers)
    assert [u["userId"] for u in friends.json()["users"]] == [bob.user_id], friends.text
    inner = await client.post(
        "/api/v1/stories",
        json={"mediaId": await upload_photo(client, alice, _png()), "closeFriendsOnly": True},
        headers=alice.headers,
    )
    assert inner.status_code == 200 and inner.json()["closeFriendsOnly"] is True, inner.text
    listed = await _stories(client, bob, alice)
    assert [s["storyId"] for s in listed.json()["stories"]] == [story_id, inner.json()["storyId"]]
    removed = await client.delete(f"/api/v1/close-friends/{bob.user_id}", headers=alice.headers)
    assert removed.status_code == 200, removed.text
    listed = await _stories(client, bob, alice)
    assert [s["storyId"] for s in listed.json()["stories"]] == [story_id]

    deleted = await client.delete(f"/api/v1/stories/{story_id}", headers=alice.headers)
    assert deleted.status_code == 200, deleted.text
    assert (await _stories(client, bob, alice)).json()["stories"] == []
    gone = await client.delete(f"/api/v1/stories/{story_id}", headers=alice.headers)
    assert gone.status_code == 404 and _reason(gone) == "STORY_NOT_FOUND"


async def _post_story(client: httpx.AsyncClient, who: Account) -> str:
    media_id = await upload_photo(client, who, _png())
    created = await client.post("/api/v1/stories", json={"mediaId": media_id}, headers=who.headers)
    assert created.status_code == 200, created.text
    return str(created.json()["storyId"])


async def test_the_story_tray_puts_own_and_unseen_rings_first(client: httpx.AsyncClient) -> None:
    viewer, bob, carol, muted, stranger = [
        await register(client, name) for name in ("viewer", "bob", "carol", "muted", "stranger")
    ]
    for followed in (bob, carol, muted):
        response = await client.post(
            f"/api/v1/users/{followed.user_id}/follow", headers=viewer.headers
        )
        assert response.status_code == 200, response.text
    assert (
        await client.post(f"/api/v1/users/{muted.user_id}/mute", headers=viewer.headers)
    ).status_code == 200
    bob_story = await _post_story(client, bob)
    await _post_story(client, carol)  # newer than bob's
    await _post_story(client, muted)
    await _post_story(client, stranger)  # not followed: not in the tray
    await _post_story(client, viewer)

    async def tray() -> list[tuple[str, bool, bool]]:
        response = await client.get("/api/v1/feed/stories", headers=viewer.headers)
        assert response.status_code == 200, response.text
        return [
            (item["user"]["userId"], item["hasUnseen"], item["isSelf"])
            for item in response.json()["items"]
        ]

    assert await tray() == [
        (viewer.user_id, False, True),
        (carol.user_id, True, False),
        (bob.user_id, True, False),
    ]
    seen = await client.post(f"/api/v1/stories/{bob_story}/seen", headers=viewer.headers)
    assert seen.status_code == 200, seen.text
    # Bob's ring is watched: it moves behind every ring with something new.
    assert await tray() == [
        (viewer.user_id, False, True),
        (carol.user_id, True, False),
        (bob.user_id, False, False),
    ]
    paged = await client.get("/api/v1/feed/stories", params={"limit": 1}, headers=viewer.headers)
    assert len(paged.json()["items"]) == 1 and paged.json()["nextPageToken"]
    assert (await client.get("/api/v1/feed/stories")).status_code == 401


async def test_the_readme_story_comes_back_9_16(client: httpx.AsyncClient) -> None:
    """The README's own 720x1280 story keeps its shape through the edge; the same photo in a post
    keeps the feed's 4:5."""
    alice, bob = await register(client, "alice"), await register(client, "bob")
    out = io.BytesIO()
    Image.new("RGB", (720, 1280), "orange").save(out, format="PNG")
    media_id = await upload_photo(client, alice, out.getvalue())
    created = await client.post(
        "/api/v1/stories", json={"mediaId": media_id}, headers=alice.headers
    )
    assert created.status_code == 200, created.text
    listed = await _stories(client, bob, alice)
    assert listed.status_code == 200, listed.text
    variants = listed.json()["stories"][0]["media"]["variants"]
    assert (variants["storyWidth"], variants["storyHeight"]) == (720, 1280)
    for name, content_type in (("storyFull", "image/jpeg"), ("storyWebp", "image/webp")):
        served = await client.get(urlsplit(variants[name]).path)
        assert served.status_code == 200 and served.headers["content-type"] == content_type
        assert Image.open(io.BytesIO(served.content)).size == (720, 1280)  # 9:16, not upscaled
    feed = await client.get(urlsplit(variants["full"]).path)
    assert Image.open(io.BytesIO(feed.content)).size == (720, 900)  # a post keeps 4:5
